"""The fraction of peak (mc.bench.peak): its arithmetic, the per-host cache, and the report column."""

from __future__ import annotations

import json

import pytest

from mc.bench.peak import PEAK_SCHEMA, HostPeak, best_rate, cache_path, fraction_of_peak, host_peak

PEAK = HostPeak(threads=2, fp32_gflops=100.0, int8_gops=400.0, int8_kernel="onnxruntime MatMulInteger (u8s8)")


def test_fp32_ops_are_priced_at_the_fp32_peak():
    # 1 G ops in 100 ms: 10 GOP/s; at 100 GFLOP/s they would take 10 ms, so 10% of peak
    found = fraction_of_peak({"fp32": 1e9}, 100.0, PEAK)
    assert found["gops"] == pytest.approx(10.0)
    assert found["fraction"] == pytest.approx(0.1)
    assert found["peak_precision"] == "fp32" and found["peak_gops"] == 100.0


def test_int8_ops_are_priced_at_the_int8_peak_and_mixed_models_op_by_op():
    int8 = fraction_of_peak({"int8": 1e9}, 10.0, PEAK)  # ideal 2.5 ms of 10 ms
    assert int8["fraction"] == pytest.approx(0.25) and int8["peak_precision"] == "int8" and int8["peak_gops"] == 400.0
    mixed = fraction_of_peak({"int8": 2e9, "fp32": 1e9}, 100.0, PEAK)  # 5 ms + 10 ms of 100 ms
    assert mixed["fraction"] == pytest.approx(0.15) and mixed["gops"] == pytest.approx(30.0)
    assert mixed["peak_precision"] == "int8"  # most of the ops are int8


def test_without_an_int8_kernel_int8_ops_count_at_the_fp32_peak_and_fp16_always_does():
    no_int8 = HostPeak(threads=1, fp32_gflops=50.0, int8_gops=None, int8_kernel=None)
    assert fraction_of_peak({"int8": 1e9}, 100.0, no_int8)["fraction"] == pytest.approx(0.2)
    assert fraction_of_peak({"fp16": 1e9}, 100.0, PEAK)["fraction"] == pytest.approx(0.1)
    with pytest.raises(ValueError):
        fraction_of_peak({"fp32": 1e9}, 0.0, PEAK)


def test_best_rate_is_ops_over_the_fastest_call():
    import time

    rate = best_rate(lambda: time.sleep(0.002), 1e6, budget_s=0.02)
    assert 1e6 / 0.02 < rate <= 1e6 / 0.002  # the best call took at least the 2 ms sleep


def test_the_peak_is_cached_per_host_and_threads(monkeypatch, tmp_path):
    monkeypatch.setenv("MC_HOME", str(tmp_path))
    path = cache_path(3)
    assert path != cache_path(4) and str(tmp_path) in str(path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**PEAK.as_dict(), "threads": 3, "fp32_gflops": 12.5}))
    cached = host_peak(3)  # read back, not measured (a measurement would not give exactly 12.5)
    assert cached.fp32_gflops == 12.5 and cached.int8_kernel == PEAK.int8_kernel and PEAK.as_dict()["schema"] == PEAK_SCHEMA


def test_a_variant_is_priced_at_the_peak_of_the_threads_it_ran_on(monkeypatch, tmp_path):
    """A model that runs on fewer threads than the bench's (mc optimize's thread check) is priced at
    that count's peak; the measurement's peak stays the bench's."""
    from mc.bench.runner import _fractions_of_peak

    monkeypatch.setenv("MC_HOME", str(tmp_path))
    for threads, gflops in ((1, 50.0), (2, 100.0)):  # cached peaks, read back rather than measured
        cache_path(threads).parent.mkdir(parents=True, exist_ok=True)
        cache_path(threads).write_text(json.dumps({**PEAK.as_dict(), "threads": threads, "fp32_gflops": gflops}))
    entries = [{"status": "ok", "workload": "pipeline", "costs": {"flops_by_precision": {"fp32": 1e9}},
                "measured": {"threads": count, "model_latency_ms": {"p50": 100.0}}} for count in (1, 2)]
    measurement = _fractions_of_peak(entries, threads=2, remeasure=False)
    assert measurement is not None and measurement["threads"] == 2 and measurement["fp32_gflops"] == 100.0
    one, two = (entry["measured"]["peak"] for entry in entries)
    assert one["threads"] == 1 and one["fraction"] == pytest.approx(0.2)  # 10 GOP/s of 50
    assert two["threads"] == 2 and two["fraction"] == pytest.approx(0.1)  # 10 GOP/s of 100


@pytest.mark.slow  # ~5-10 s on a loaded 2-core VM; the default run measures it once in test_bench_cli
def test_a_real_measurement_gives_both_peaks(monkeypatch, tmp_path):
    monkeypatch.setenv("MC_HOME", str(tmp_path))
    peak = host_peak(1)  # in a fresh process under a 1-thread limit, then cached
    assert peak.threads == 1 and peak.fp32_gflops > 0.5
    assert peak.int8_gops is None or peak.int8_gops > 0.5
    assert cache_path(1).is_file() and host_peak(1) == peak and peak.measured
    cache_path(1).write_text(json.dumps({**peak.as_dict(), "fp32_gflops": 0.25}))  # a peak measured on a busy machine
    assert host_peak(1).fp32_gflops == 0.25
    again = host_peak(1, remeasure=True)  # `mc bench --remeasure-peak`
    assert again.fp32_gflops > 0.5 and host_peak(1) == again and again.measured >= peak.measured


def test_the_report_shows_gops_and_the_fraction_of_peak():
    from mc.report.build import _measured_figures
    from mc.report.content import peak_text
    from mc.report.format import format_figure

    entry = {"size_bytes": 1000, "measured": {"model_latency_ms": {"p50": 1.0, "count": 10},
                                               "peak": {**fraction_of_peak({"fp32": 2e6}, 1.0, PEAK)}}}
    figures = _measured_figures(entry, "measured", 2)
    assert figures["gops"].value == pytest.approx(2.0) and figures["gops"].unit == "GOP/s"
    assert figures["peak_fraction"].value == pytest.approx(2.0) and format_figure(figures["peak_fraction"]) == "2.0 %"
    tiny = fraction_of_peak({"fp32": 2e4}, 1.0, PEAK)
    figures = _measured_figures({**entry, "measured": {**entry["measured"], "peak": tiny}}, "measured", 2)
    assert format_figure(figures["peak_fraction"]) == "0.0 %" and peak_text(figures["peak_fraction"]) == "0.020 %"
