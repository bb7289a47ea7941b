"""The OpenVINO backend and runtime, for real: mobile-tiny exported to ONNX and converted to an IR
(.xml + .bin) through the CLI, checked against the source, opened by the one opener for `mc eval`
and `mc bench`; the .bin travels with the artifact (hash, sidecar, copies). NNCF int8, with and
without accuracy control, is slow-marked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import Mc, assert_one_line_error

pytest.importorskip("openvino", reason="the openvino extra is part of the test extra: pip install -e '.[test]'")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fp32_ir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("openvino") / "tiny.xml"
    result = Mc()("compile", "mobile-tiny", "--backend", "openvino", "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    return out


def test_fp32_ir_matches_the_source_and_its_weights_are_part_of_the_artifact(fp32_ir):
    from mc.hashing import sha256_file, sha256_files

    weights = fp32_ir.with_suffix(".bin")
    assert weights.is_file() and sorted(p.name for p in fp32_ir.parent.iterdir()) == ["tiny.bin", "tiny.xml", "tiny.xml.json"]
    record = json.loads(Path(str(fp32_ir) + ".json").read_text())
    assert record["kind"] == "openvino-ir" and record["pass"]["config"]["device"] == "cpu"
    assert record["sha256"] == sha256_files([fp32_ir, weights]) != sha256_file(fp32_ir)
    assert record["size_bytes"] == fp32_ir.stat().st_size + weights.stat().st_size
    parity = record["metrics"]["parity"]
    assert parity["gate"] == "max_abs_diff" and parity["passed"] and parity["max_abs_diff"] < 1e-3
    assert record["metrics"]["settings"]["inference_precision_hint"] == "f32"


def test_the_opener_runs_it_with_the_targets_threads(fp32_ir):
    from mc.runtimes import open_model
    from mc.targets import load_target

    opened = open_model(fp32_ir, load_target("x86-cpu"), threads=1)
    assert opened.runtime == "openvino" and opened.notes == [] and opened.sample_shape == (1, 40)
    assert opened.predictor.compiled.get_property("INFERENCE_NUM_THREADS") == 1
    x = np.random.default_rng(2).standard_normal((5, 1, 40)).astype(np.float32)
    logits, confidence = opened.predictor.predict(x)
    assert logits.shape == (5, 10) and confidence.shape == (5,)
    assert opened.size_bytes == fp32_ir.stat().st_size + fp32_ir.with_suffix(".bin").stat().st_size


def test_its_op_counts_come_from_the_ir_at_batch_1(fp32_ir):
    """The IR's own ops (MatMul, convolutions, attention, elementwise) at one sample: the model's
    FLOPs as torch counts them, plus a few percent of elementwise work torch's counter leaves out."""
    from mc.models.source import load_torch_model
    from mc.models.stats import flop_counts
    from mc.runtimes import open_model

    costs, notes = open_model(fp32_ir, threads=1).costs()
    total, _ = flop_counts(load_torch_model("mobile-tiny").module, (1, 40))
    counted = sum(cost.flops for cost in costs)
    assert notes == [] and {cost.precision for cost in costs} == {"fp32"}
    assert total <= counted <= 1.15 * total
    assert sum(cost.flops for cost in costs if cost.op_type in ("MatMul", "Convolution", "GroupConvolution", "ScaledDotProductAttention")) >= 0.95 * total


@pytest.mark.slow  # a bench worker process imports torch and OpenVINO: ~30 s on a loaded 2-core machine
def test_eval_and_bench_open_it_like_any_variant(mc, fp32_ir, tmp_path):
    result = mc("eval", fp32_ir, "--reference", "mobile-tiny")
    assert result.exit_code == 0, result.stderr
    assert "top-1 agreement 100.00%" in result.stdout
    bench_json = tmp_path / "bench.json"
    result = mc("bench", fp32_ir, "--target", "x86-cpu", "--scenario", "latency", "--duration", "1", "--json", bench_json)
    assert result.exit_code == 0, result.stdout + result.stderr
    (variant,) = json.loads(bench_json.read_text())["variants"]
    assert variant["status"] == "ok" and variant["runtime"] == "openvino" and variant["accuracy"]["accuracy"] > 0.9


def test_an_ir_without_its_weights_is_one_line(mc, fp32_ir, tmp_path):
    alone = tmp_path / "alone.xml"
    alone.write_bytes(fp32_ir.read_bytes())
    Path(str(alone) + ".json").write_text(Path(str(fp32_ir) + ".json").read_text())
    assert_one_line_error(mc("eval", alone), 2, "has no weights beside it (alone.bin)")


def test_a_missing_extra_is_one_line_naming_it(tmp_path):
    code = ("import sys; sys.modules['openvino'] = None; from mc_cli.main import main; "
            f"sys.argv = ['mc', 'compile', 'mobile-tiny', '--backend', 'openvino', '-o', {str(tmp_path / 'm.xml')!r}]; main()")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "cli"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "OpenVINO" in lines[0] and "pip install 'mc[openvino]'" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_the_registry_maps_target_runtimes_to_backends():
    from mc.compilation import backends_for_runtime, get_backend
    from mc.runtimes.availability import runtime_status
    from mc.targets import load_target

    assert [b.name for b in backends_for_runtime("openvino")] == ["openvino"]
    assert [b.name for b in backends_for_runtime("executorch")] == ["executorch"]
    assert get_backend("openvino").takes == "onnx" and get_backend("openvino").devices == ("cpu",)
    pi5, x86 = load_target("pi5"), load_target("x86-cpu")
    assert pi5.runtimes[:2] == ["executorch", "onnxruntime"] and x86.runtimes[:3] == ["onnxruntime", "openvino", "executorch"]
    status = {row["runtime"]: row for row in runtime_status(x86)}
    assert status["openvino"]["measurable"] and status["onnxruntime"]["measurable"]
    with pytest.raises(ValueError, match="unknown backend 'tpu'; known: .*openvino"):
        get_backend("tpu")


@pytest.mark.slow
def test_nncf_int8_and_accuracy_control_within_budget(mc, tmp_path):
    plain = tmp_path / "int8.xml"
    result = mc("compile", "mobile-tiny", "--backend", "openvino", "--precision", "int8", "--min-agreement", "0.9", "-o", plain)
    assert result.exit_code == 0, result.stdout + result.stderr
    settings = json.loads(Path(str(plain) + ".json").read_text())["metrics"]["settings"]
    assert settings["quantization"]["method"] == "nncf.quantize (defaults)"
    from mc.runtimes.costs import ir_costs

    by_precision: dict[str, float] = {}
    for cost in ir_costs(plain, (1, 40))[0]:
        by_precision[cost.precision] = by_precision.get(cost.precision, 0.0) + cost.flops
    assert by_precision["int8"] > 0.7 * sum(by_precision.values())  # NNCF's linears and convolutions run int8

    controlled = tmp_path / "int8-ac.xml"
    result = mc("compile", "mobile-tiny", "--backend", "openvino", "--precision", "int8", "--max-accuracy-drop", "0.5", "-o", controlled)
    assert result.exit_code == 0, result.stdout + result.stderr
    record = json.loads(Path(str(controlled) + ".json").read_text())
    settings = record["metrics"]["settings"]
    control = settings["accuracy_control"]
    # the budget is held on a validation split, never the test set; the test set's figure is reported as measured
    assert settings["quantization"]["validation"] == "MNIST-1D validation split (seed 0)"
    assert control["accuracy_drop_points"] <= 0.5 and control["auroc_drop"] <= control["max_auroc_drop"]
    assert record["metrics"]["parity"]["accuracy"]["compiled"]["accuracy"] > 0.9
    assert "accuracy control: drop" in result.stdout
