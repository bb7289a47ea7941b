"""`mc run` end to end on a small recipe (real passes, real bench workers), the cache across runs,
Ctrl-C, and `mc report compare` exit codes on injected regressions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Mc, assert_one_line_error

RECIPE = """\
name: e2e
model: mobile-tiny
target: x86-cpu
reference: fp32
variants:
  fp32: [export]
  dyn:
    - export
    - quantize: {{mode: dynamic}}
  static-bad-calibration:
    - export
    - quantize: {{mode: static}}
  tensorrt:
    - compile: {{backend: tensorrt, precision: fp16}}
bench: {{duration: 1.5, warmup: 4, timing_seconds: 5}}
gates: {{max_accuracy_drop: {drop}, max_size_mb: 5, min_agreement: 0.9}}
calibration: {calibration}
"""


def _write_recipe(directory: Path, drop: float = 2.0) -> Path:
    import numpy as np

    calibration = directory / "wrong-shape.npy"
    np.save(calibration, np.zeros((64, 3, 7), np.float32))  # static quantization of a (1, 40) model must fail on it
    path = directory / "e2e.yaml"
    path.write_text(RECIPE.format(drop=drop, calibration=calibration))
    return path


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    recipe = _write_recipe(directory)
    result = Mc()("run", recipe, "--out", directory / "reports")
    return directory, recipe, result


def test_run_builds_benches_and_reports_every_variant(first_run):
    directory, _, result = first_run
    assert result.exit_code == 0, result.stdout + result.stderr
    latest = directory / "reports" / "e2e" / "latest"
    assert latest.is_symlink() and (latest / "report.json").exists()
    report = json.loads((latest / "report.json").read_text())
    assert report["schema"] == "mc.report/1" and report["reference"] == "fp32"
    variants = {variant["name"]: variant for variant in report["variants"]}
    assert variants["fp32"]["status"] == variants["dyn"]["status"] == "ok"
    # a failed variant is reported with its reason and the others still run
    assert variants["static-bad-calibration"]["status"] == "failed"
    assert "quantize" in variants["static-bad-calibration"]["error"] and "shape" in variants["static-bad-calibration"]["error"]
    # no TensorRT on a CPU host: unavailable, not failed
    assert variants["tensorrt"]["status"] == "unavailable"
    assert "unavailable on this host" in variants["tensorrt"]["error"] and "tensorrt" in variants["tensorrt"]["error"].lower()
    for name in ("fp32", "dyn"):
        figures = variants[name]["figures"]
        for key in ("size_mb", "accuracy", "agreement", "confidence_auroc", "model_p50_ms", "latency_ratio", "peak_rss_mb"):
            assert figures[key]["unit"] and figures[key]["method"] in ("measured", "counted", "derived"), key
            assert figures[key]["value"] is not None, key
        assert (latest / variants[name]["artifact"]).exists()
        assert variants[name]["realtime"]["requests"] >= 20 and len(variants[name]["realtime"]["latency_curve_ms"]) == 101
        assert {gate["name"] for gate in variants[name]["gates"]} == {"max_accuracy_drop", "max_size_mb", "min_agreement"}
    fp32 = variants["fp32"]["figures"]
    assert fp32["accuracy_drop"]["value"] == 0 and fp32["latency_ratio"]["value"] == 1
    assert fp32["accuracy"]["value"] > 90  # the shipped mobile-tiny, exported faithfully
    dyn = variants["dyn"]["figures"]
    assert dyn["size_ratio"]["value"] < 1  # int8 weights
    assert report["recommendation"]["variant"] in ("fp32", "dyn")
    assert "pass every gate" in report["recommendation"]["reason"]
    markdown = (latest / "report.md").read_text()
    assert "| Implementation | Model size |" in markdown and "static-bad-calibration" in markdown
    assert report["recommendation"]["variant"] in markdown
    assert (latest / "report.html").read_text().count("<svg") >= 3
    assert "recommendation: ship" in result.stdout


def test_run_in_a_pipe_prints_plain_progress_lines(first_run):
    """No terminal (a pipe, a CI log): what runs, n of m and the elapsed time, one line each."""
    import re

    _, _, result = first_run
    assert re.search(r"^\[\d+m\d\ds\] building variants: 1 of 4 · fp32$", result.stderr, re.M), result.stderr
    assert re.search(r"^\[\d+m\d\ds\] benching: \d of \d · dyn\.onnx$", result.stderr, re.M), result.stderr
    assert re.search(r"^\[\d+m\d\ds\] timing side by side: 1 of 1 done$", result.stderr, re.M), result.stderr


def test_second_run_reuses_cached_steps_and_a_changed_config_misses(first_run, tmp_path):
    directory, recipe, _ = first_run
    child = directory / "child.yaml"
    child.write_text("extends: e2e.yaml\nvariants:\n  tensorrt: null\n  static-bad-calibration: null\n"
                     "  dyn:\n    - export\n    - quantize: {mode: dynamic, per_channel: true}\n"
                     "bench: {scenario: latency, queries: 64, warmup: 4, duration: 1, timing_seconds: 3}\n")  # only the cache is under test
    result = Mc()("run", child, "--out", directory / "reports-2")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads((directory / "reports-2" / "e2e" / "latest" / "report.json").read_text())
    steps = {variant["name"]: variant["steps"] for variant in report["variants"]}
    assert steps["fp32"][0]["cached"] is True  # the same export as in the first run
    assert steps["dyn"][0]["cached"] is True
    assert steps["dyn"][1]["cached"] is False  # per_channel changed: a new key, never the old artifact
    first = json.loads((directory / "reports" / "e2e" / "latest" / "report.json").read_text())
    old_dyn = next(v for v in first["variants"] if v["name"] == "dyn")
    assert old_dyn["steps"][1]["cache_key"] != steps["dyn"][1]["cache_key"]
    assert old_dyn["steps"][0]["cache_key"] == steps["dyn"][0]["cache_key"]
    assert "or 3 s" in json.dumps(report)  # the recipe's timing_seconds bounds its side-by-side rounds


def _report(first_run) -> tuple[Path, dict]:
    directory = first_run[0]
    path = directory / "reports" / "e2e" / "latest" / "report.json"
    return path, json.loads(path.read_text())


def _variant(report: dict, name: str) -> dict:
    return next(variant for variant in report["variants"] if variant["name"] == name)


def test_compare_passes_on_the_same_report(first_run, mc, tmp_path):
    path, _ = _report(first_run)
    summary = tmp_path / "summary.md"
    result = mc("report", "compare", path, path.parent, "--markdown", summary)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "mc report compare: PASS" in result.stdout and summary.read_text() == result.stdout


def test_compare_fails_on_an_injected_accuracy_or_size_regression(first_run, mc, tmp_path, monkeypatch):
    path, report = _report(first_run)
    worse = json.loads(json.dumps(report))
    _variant(worse, "dyn")["figures"]["accuracy"]["value"] -= 1.0
    _variant(worse, "fp32")["figures"]["size_mb"]["value"] *= 1.5
    new = tmp_path / "new.json"
    new.write_text(json.dumps(worse))
    step_summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    result = mc("report", "compare", path, new)
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "| dyn | accuracy |" in result.stdout and "| fp32 | size |" in result.stdout
    assert "regression" in result.stderr and "FAIL" in step_summary.read_text()
    # only gating on size: the accuracy loss is still shown, as a warning
    result = mc("report", "compare", path, new, "--fail-on", "size")
    assert result.exit_code == 1 and "worse (not gated)" in result.stdout
    result = mc("report", "compare", path, new, "--fail-on", "latency,gates")
    assert result.exit_code == 0, result.stdout


def test_compare_gates_latency_only_as_a_same_run_ratio(first_run, mc, tmp_path):
    path, report = _report(first_run)
    slower = json.loads(json.dumps(report))
    for variant in slower["variants"]:  # a slower machine: every absolute time doubles, ratios unchanged
        for key in ("model_p50_ms", "model_p90_ms", "realtime_p50_ms"):
            if variant["figures"].get(key, {}).get("value"):
                variant["figures"][key]["value"] *= 2
    new = tmp_path / "slower-machine.json"
    new.write_text(json.dumps(slower))
    assert mc("report", "compare", path, new).exit_code == 0
    _variant(slower, "dyn")["figures"]["latency_ratio"]["value"] *= 1.6  # dyn lost ground against fp32 in its own run
    new.write_text(json.dumps(slower))
    result = mc("report", "compare", path, new)
    assert result.exit_code == 1 and "| dyn | latency |" in result.stdout
    assert mc("report", "compare", path, new, "--latency-tolerance", "0.7").exit_code == 0


def test_compare_flags_a_variant_that_disappeared_or_broke(first_run, mc, tmp_path):
    path, report = _report(first_run)
    broken = json.loads(json.dumps(report))
    broken["variants"] = [v for v in broken["variants"] if v["name"] != "dyn"]
    new = tmp_path / "missing.json"
    new.write_text(json.dumps(broken))
    result = mc("report", "compare", path, new)
    assert result.exit_code == 1 and "| dyn | status | ok | missing |" in result.stdout


def test_compare_bad_input_exits_2(first_run, mc, tmp_path):
    path, _ = _report(first_run)
    assert_one_line_error(mc("report", "compare", path, tmp_path / "nope.json"), 2, "report not found")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert_one_line_error(mc("report", "compare", path, garbage), 2, "not a readable JSON report")
    garbage.write_text(json.dumps({"schema": "mc.bench/1"}))
    assert_one_line_error(mc("report", "compare", path, garbage), 2, "is not mc.report/1")
    assert_one_line_error(mc("report", "compare", path, path, "--fail-on", "speed"), 2, "unknown check")


def test_report_show_and_render_work_from_the_json_alone(first_run, mc, tmp_path):
    path, _ = _report(first_run)
    result = mc("report", "show", path.parent)
    assert result.exit_code == 0 and "recommendation" in result.stdout
    result = mc("report", "render", path, "-o", tmp_path)
    assert result.exit_code == 0
    assert (tmp_path / "report.md").read_text() == (path.parent / "report.md").read_text()


def test_ctrl_c_leaves_no_half_written_run_or_cache_entry(tmp_path):
    recipe = _write_recipe(tmp_path)
    home = tmp_path / "home"
    env = {**os.environ, "MC_HOME": str(home)}
    out = tmp_path / "reports"
    process = subprocess.Popen([sys.executable, "-m", "mc_cli.main", "run", str(recipe), "--out", str(out), "--only", "fp32"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    def started() -> bool:
        return (out / "e2e").exists() and any((out / "e2e").glob(".*.partial"))

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not started():
        time.sleep(0.2)
    assert started(), "the run never began"
    time.sleep(2.0)  # into the export step
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr.decode()
    assert "interrupted" in stderr.decode() and "Traceback" not in stderr.decode()
    assert not [p for p in (out / "e2e").iterdir()], list((out / "e2e").iterdir())
    cache = home / "cache" / "artifacts"
    leftovers = [p for p in cache.rglob("*") if p.name.endswith(".tmp")] if cache.exists() else []
    assert not leftovers


def test_compare_across_cpus_gates_only_what_the_cpu_cannot_change(first_run, mc, tmp_path):
    path, report = _report(first_run)
    base = json.loads(json.dumps(report))
    _variant(base, "dyn")["steps"][1]["chosen_by_timing"] = True  # as if a measured search had chosen it
    new = json.loads(json.dumps(base))
    new["measurement"]["cpu"]["model"] = "Some Other CPU"
    _variant(new, "dyn")["figures"]["latency_ratio"]["value"] *= 2  # int8 kernels differ by ISA
    _variant(new, "dyn")["figures"]["size_mb"]["value"] *= 1.5  # the search kept more in fp32 there
    _variant(new, "fp32")["figures"]["accuracy"]["value"] -= 1.0  # deterministic: still a regression
    base_path, new_path = tmp_path / "base.json", tmp_path / "new.json"
    base_path.write_text(json.dumps(base))
    new_path.write_text(json.dumps(new))
    result = mc("report", "compare", base_path, new_path)
    assert result.exit_code == 1 and "different CPUs" in result.stdout
    assert "| fp32 | accuracy |" in result.stdout and "❌ regression" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("| dyn | latency |"))
    assert "worse (not gated)" in line and "different CPU" in line
    line = next(line for line in result.stdout.splitlines() if line.startswith("| dyn | size |"))
    assert "worse (not gated)" in line and "measured search" in line
    _variant(new, "fp32")["figures"]["accuracy"]["value"] += 1.0
    new_path.write_text(json.dumps(new))
    assert mc("report", "compare", base_path, new_path).exit_code == 0


def test_a_measured_search_may_choose_differently_on_the_same_cpu_without_failing_ci(first_run, mc, tmp_path):
    path, report = _report(first_run)
    base = json.loads(json.dumps(report))
    _variant(base, "dyn")["steps"][1]["chosen_by_timing"] = True
    new = json.loads(json.dumps(base))
    _variant(new, "dyn")["figures"]["size_mb"]["value"] *= 1.4  # timing noise made it keep more in fp32
    base_path, new_path = tmp_path / "base.json", tmp_path / "new.json"
    base_path.write_text(json.dumps(base))
    new_path.write_text(json.dumps(new))
    result = mc("report", "compare", base_path, new_path)
    assert result.exit_code == 0, result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("| dyn | size |"))
    assert "worse (not gated)" in line and "measured search" in line
    _variant(new, "dyn")["figures"]["latency_ratio"]["value"] *= 2  # same CPU: its speed still gates
    new_path.write_text(json.dumps(new))
    assert mc("report", "compare", base_path, new_path).exit_code == 1
