"""`mc bench` end to end: real worker processes, the mc.bench/2 result, labels, failures, bad input."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import PROGRESS_LINE, assert_one_line_error
from mc.targets import load_target

CRASHER = '''
import os, signal
import torch
from torch import nn


class Crasher(nn.Module):
    """Builds and passes the batch-2 check, then dies like a segfaulting kernel at batch 1."""

    def forward(self, x):
        if x.shape[0] == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return torch.zeros(x.shape[0], 10), torch.full((x.shape[0],), 0.5)


def make():
    return Crasher()
'''


def test_realtime_bench_on_pi5_measures_here_and_estimates_there(mc, tmp_path):
    out = tmp_path / "out.json"
    result = mc("bench", "mobile-small", "--target", "pi5", "--scenario", "realtime", "--duration", "2",
                "--reference", "mobile-small", "--json", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["schema"] == "mc.bench/2"
    assert {"created", "target", "measurement", "scenario", "settings", "reference", "variants", "summary"} <= set(data)
    pi5 = load_target("pi5")
    measurement = data["measurement"]
    assert measurement["label"].startswith("measured on ") and measurement["estimate_label"] == "estimated for pi5"
    assert measurement["threads"] == pi5.host_threads()
    assert measurement["thread_environment"]["OMP_NUM_THREADS"] == str(pi5.host_threads())
    if pi5.host_threads() < pi5.threads:
        assert "capped at" in measurement["thread_note"] and "capped at" in result.stdout
    assert measurement["versions"]["onnxruntime"] and measurement["host"]["cpu_count"]
    assert data["scenario"]["rate_hz"] == 20 and data["settings"]["max_latency_ms"] == 100

    (variant,) = data["variants"]
    assert variant["status"] == "ok" and variant["runtime"] == "torch" and variant["workload"] == "pipeline"
    assert "notes" not in variant and data["reference"]["workload"] == "pipeline"
    measured, estimated = variant["measured"], variant["estimated"]
    assert measured["label"] == measurement["label"] and estimated["label"] == "estimated for pi5"
    scenario = measured["scenario"]
    assert scenario["scheduled"] == 40 and scenario["completed"] + scenario["dropped"] == 40
    latency = scenario["latency_ms"]
    assert latency["count"] == scenario["completed"] and latency["p50"] > 0
    assert latency["p99"] is None and latency["p95"] is None  # 40 requests: too few for a tail
    assert set(scenario["misses"]) == {"over_target_ms", "over_target", "over_limit_ms", "over_limit"}
    assert set(scenario["stage_ms"]) == {"perception", "awareness", "confidence", "introspection", "integration"}
    assert estimated["model_latency_ms"] > 0 and 0 < estimated["efficiency"] < 1
    assert estimated["latency_ms"] >= estimated["model_latency_ms"]
    # like with like: the scenario's latency (queueing included) is estimated by simulating the same 40 arrivals
    pipeline = estimated["pipeline"]
    assert pipeline["requests"] == 40 and "simulated" in pipeline["method"] and "fixed arrivals at 20 Hz" in pipeline["method"]
    # (>= up to rounding: a latency is a finish time minus an arrival time, each a float of seconds)
    assert estimated["latency_ms"] == pipeline["latency_ms"]["p50"] >= pipeline["service_ms"] - 1e-9
    assert pipeline["service_ms"] > estimated["model_latency_ms"]
    assert "the realtime scenario p50" in result.stdout
    assert variant["peak_rss_mb"] > 50 and variant["worker"]["peak_rss_source"] == "VmHWM of the worker"
    accuracy = variant["accuracy"]
    assert accuracy["accuracy"] >= 0.97 and accuracy["top1_agreement"] == 1.0  # the reference is the model itself
    assert 0.9 <= accuracy["confidence_auroc"] <= 1.0 and accuracy["expected_calibration_error"] < 0.05
    quality = variant["pipeline_quality"]
    assert quality["frames"] == scenario["completed"] and 0 < quality["overall"] <= 1
    assert data["reference"]["model"] == "mobile-small"
    assert "measured on" in result.stdout and "estimated for pi5" in result.stdout and "not a measurement" in result.stdout


def test_latency_bench_on_the_host_is_measured_without_estimate(mc, tmp_path):
    out = tmp_path / "latency.json"
    began = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    result = mc("bench", "mobile-tiny", "--target", "x86-cpu", "--scenario", "latency", "--duration", "0.2",
                "--queries", "64", "--remeasure-peak", "--json", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    (variant,) = data["variants"]
    if load_target("x86-cpu").is_host():
        assert data["measurement"]["label"] == "measured" and variant["estimated"] is None
    scenario = variant["measured"]["scenario"]
    assert scenario["requests"] >= 64 and scenario["reached_min_queries"]
    assert scenario["latency_ms"]["p90"] is not None and scenario["latency_ms"]["p99"] is None
    assert variant["accuracy"]["accuracy"] >= 0.94 and "top1_agreement" not in variant["accuracy"]
    # the fraction of this host's measured GEMM peak (mc.bench.peak): ops over the p50, against the peak
    peak, host_peak = variant["measured"]["peak"], data["measurement"]["host_peak"]
    assert variant["costs"]["flops"] > 0 and peak["ops"] == variant["costs"]["flops"]
    assert host_peak["threads"] == data["measurement"]["threads"] and host_peak["fp32_gflops"] > 0
    assert peak["gops"] > 0 and 0 < peak["fraction"] <= 1 and peak["peak_precision"] == "fp32"
    assert abs(peak["gops"] - peak["ops"] / peak["latency_ms"] / 1e6) < 1e-9 * peak["gops"] + 1e-12
    assert "of peak" in result.stdout
    assert dt.datetime.fromisoformat(host_peak["measured"]) >= began  # measured by this bench, not read from the cache


def test_failing_variants_are_reported_and_the_others_still_run(mc, tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07 not a protobuf" * 8)
    crasher = tmp_path / "crasher.py"
    crasher.write_text(CRASHER)
    out = tmp_path / "mixed.json"
    result = mc("bench", corrupt, f"{crasher}:make", "mobile-tiny", "--target", "pi5", "--scenario", "throughput",
                "--duration", "0.5", "--json", out)
    assert result.exit_code == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
    assert lines == ["error: 2 of 3 variants failed (" + f"{corrupt}, {crasher}:make); the others were benched"]
    assert "Traceback" not in result.stdout + result.stderr
    data = json.loads(out.read_text())
    bad, crashed, good = data["variants"]
    assert bad["status"] == "failed" and bad["failure_kind"] == "input" and "not a valid ONNX model" in bad["error"]
    assert bad["workload"] == crashed["workload"] == good["workload"] == "pipeline"
    assert crashed["status"] == "failed" and crashed["failure_kind"] == "crash" and "SIGKILL" in crashed["error"]
    assert good["status"] == "ok" and good["measured"]["scenario"]["samples_per_s"] > 0
    assert data["summary"] == {"variants": 3, "succeeded": 1, "failed": 2}
    assert "failed" in result.stdout and "mobile-tiny" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["mobile-small", "--target", "pi6"], "unknown target 'pi6'"),
        (["mobile-small", "--target", "pi5", "--rate", "0"], "--rate"),
        (["mobile-small", "--target", "pi5", "--rate", "5000"], "--rate"),
        (["mobile-small", "--target", "pi5", "--duration", "0"], "--duration"),
        (["mobile-small", "--target", "pi5", "--duration", "1e6"], "--duration"),
        (["mobile-small", "--target", "pi5", "--scenario", "offline"], "--scenario"),
        (["mobile-small", "--target", "pi5", "--arrivals", "bursty"], "--arrivals"),
        (["{tmp}/missing.onnx", "--target", "pi5"], "ONNX file not found"),
        (["mobile-small", "{tmp}/missing.onnx", "--target", "pi5"], "ONNX file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(mc, tmp_path, args, expected):
    result = mc("bench", *[arg.format(tmp=tmp_path) for arg in args], "--json", tmp_path / "out.json")
    assert_one_line_error(result, 2, expected)
    assert not (tmp_path / "out.json").exists()


def test_an_artifact_that_does_not_load_alone_is_bad_input(mc, tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"garbage")
    result = mc("bench", corrupt, "--target", "pi5", "--duration", "1")
    assert_one_line_error(result, 2, "not a valid ONNX model")
