"""`mc quantize`: each mode end to end through the CLI, what was quantized, and bad input."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from conftest import assert_one_line_error
from mc.hashing import sha256_file


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    from mc.data.evaluation import evaluation_data
    from mc.models.source import load_torch_model
    from mc.passes.export import ExportConfig, export_torch
    from mc.progress import SilentProgress

    path = tmp_path_factory.mktemp("quantize") / "tiny.onnx"
    model = load_torch_model("mobile-tiny")
    export_torch(ExportConfig(), model, path, evaluation_data(model.sample_shape), SilentProgress())
    return path


def sidecar(path: Path) -> dict:
    return json.loads(Path(str(path) + ".json").read_text())


def test_static_records_what_was_quantized_and_what_it_cost(mc, tiny_onnx, tmp_path):
    output = tmp_path / "static.onnx"
    result = mc("quantize", tiny_onnx, "--mode", "static", "--target", "pi5", "--method", "percentile", "-o", output)
    assert result.exit_code == 0, result.stderr
    assert "what was quantized" in result.stdout and "Conv" in result.stdout
    record = sidecar(output)
    assert record["parent"]["sha256"] == sha256_file(tiny_onnx) and record["pass"]["name"] == "quantize"
    step = record["metrics"]["plan_config"]["steps"][0]
    assert step["kind"] == "static" and step["calibration_method"] == "percentile"
    assert step["activation_type"] == "int8" and step["reduce_range"] is False  # pi5: S8S8, dot-product, no reduce_range
    metrics = record["metrics"]
    assert metrics["precision"]["summary"]["Conv"].get("int8", 0) >= 1
    assert all(row["precision"] == "int8" for row in metrics["precision"]["nodes"] if row["op_type"] == "Conv")
    assert metrics["precision"]["weight_share_low_precision"] >= 0.7  # weight bytes: the file of a 26k-param
    assert metrics["size"]["ratio"] < 1.0  # model is mostly graph structure, which QDQ nodes add to
    fp32, quantized = metrics["accuracy"]["fp32"], metrics["accuracy"]["quantized"]
    assert fp32["accuracy"] - quantized["accuracy"] <= 0.02 and quantized["top1_agreement"] >= 0.97
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(str(output)).graph.node)
    session = ort.InferenceSession(str(output))
    logits, confidence = session.run(None, {"input": np.zeros((3, 1, 40), np.float32)})
    assert logits.shape == (3, 10) and confidence.shape == (3,)


def test_dynamic_never_uses_conv_integer_by_default(mc, tiny_onnx, tmp_path):
    output = tmp_path / "dynamic.onnx"
    result = mc("quantize", tiny_onnx, "--mode", "dynamic", "-o", output, "--nodes")
    assert result.exit_code == 0, result.stderr
    nodes = sidecar(output)["metrics"]["precision"]["nodes"]
    assert {row["kernel"] for row in nodes if row["precision"] == "int8"} == {"MatMulInteger"}
    assert all(row["precision"] == "fp32" for row in nodes if row["op_type"] == "Conv")
    assert "ConvInteger" not in {node.op_type for node in onnx.load(str(output)).graph.node}


def test_fp16_keeps_sensitive_ops_in_fp32(mc, tiny_onnx, tmp_path):
    output = tmp_path / "half.onnx"
    result = mc("quantize", tiny_onnx, "--mode", "fp16", "-o", output)
    assert result.exit_code == 0, result.stderr
    model = onnx.load(str(output))
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # I/O stay float32
    metrics = sidecar(output)["metrics"]
    assert metrics["accuracy"]["quantized"]["top1_agreement"] >= 0.99
    assert metrics["precision"]["weight_share_low_precision"] >= 0.95
    assert metrics["size"]["ratio"] < 0.9  # graph structure and casts weigh more than the halved weights on a 26k-param model
    kept = {row["op_type"] for row in metrics["precision"]["nodes"] if row["precision"] == "fp32"}
    assert "MatMul" not in kept


def test_auto_measures_candidates_and_keeps_the_fastest_within_budget(mc, tiny_onnx, tmp_path):
    output = tmp_path / "auto.onnx"
    result = mc("quantize", tiny_onnx, "--mode", "auto", "--threads", "1", "-o", output, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.stderr
    assert "auto search" in result.stdout and ("kept" in result.stdout)
    search = sidecar(output)["metrics"]["search"]
    rows = search["candidates"]
    assert rows[0]["label"].startswith("fp32") and len(rows) >= 6
    timed = [row for row in rows if row["ratio_to_fp32"] is not None]
    assert all(row["accuracy"] is not None and row["size_bytes"] > 0 for row in timed)
    assert {row["stage"] for row in rows} >= {"reference", "op types"}
    if search["verdict"].startswith("kept fp32"):
        assert sidecar(output)["sha256"] == sha256_file(tiny_onnx)
    else:
        confirmed = [row for row in timed if row["confirmed"]]
        assert confirmed and all(row["within_budget"] and row["plan"] for row in confirmed)
        chosen = next(row for row in confirmed if row["reason"] == "kept")  # decided on the longer, final timing
        fastest = min(row["ratio_to_fp32"] for row in confirmed)
        assert chosen["ratio_to_fp32"] <= 0.97 and chosen["ratio_to_fp32"] <= fastest * 1.03  # within the tie margin
        assert sidecar(output)["metrics"]["plan_config"] == chosen["plan"]
        assert sidecar(output)["sha256"] != sha256_file(tiny_onnx)


def test_sensitivity_ranks_nodes_by_the_error_they_add(tiny_onnx, tmp_path):
    from mc.data.calibration import make_calibration_set
    from mc.quantization.apply import apply_plan, preprocess
    from mc.quantization.scheme import DynamicStep, QuantizePlan
    from mc.quantization.sensitivity import rank_sensitive_nodes

    calibration, _ = make_calibration_set(128, seed=1)
    quantized, float_pre = tmp_path / "q.onnx", tmp_path / "pre.onnx"
    apply_plan(QuantizePlan(steps=(DynamicStep(),)), tiny_onnx, quantized, None, "input")
    preprocess(tiny_onnx, float_pre)
    ranked = rank_sensitive_nodes(float_pre, quantized, calibration[:64], threads=1)
    assert len(ranked) >= 10
    assert [row["lost_db"] for row in ranked] == sorted((row["lost_db"] for row in ranked), reverse=True)
    assert all(row["lost_db"] >= 0 and row["sqnr_out_db"] < 200 for row in ranked)


def test_torch_dynamic_checkpoint_reloads_as_the_same_quantized_model(mc, tmp_path):
    from mc.models.source import load_torch_model

    output = tmp_path / "tiny.dynamic.pt"
    result = mc("quantize", "mobile-tiny", "--mode", "dynamic", "--backend", "torch", "-o", output)
    assert result.exit_code == 0, result.stderr
    record = sidecar(output)
    assert record["metrics"]["quantized_modules"]["Linear"] >= 10
    assert record["metrics"]["size"]["ratio"] < 0.7
    reloaded = load_torch_model(str(output))
    assert reloaded.origin["quantization"]["kind"] == "torch-dynamic"
    x = torch.from_numpy(np.load(Path(__file__).parent.parent / "calibration_data" / "mnist1d-train-512.npz")["x"][:64])
    with torch.no_grad():
        logits, _ = reloaded.module(x)
    agreement = record["metrics"]["accuracy"]["quantized"]["top1_agreement"]
    assert agreement >= 0.98 and logits.shape == (64, 10)
    evaluated = mc("eval", output)
    assert evaluated.exit_code == 0 and "accuracy" in evaluated.stdout


@pytest.fixture
def bad_data(tmp_path):
    np.savez(tmp_path / "wrong_shape.npz", x=np.zeros((64, 40), np.float32))
    np.savez(tmp_path / "ints.npz", x=np.zeros((64, 1, 40), np.int16))
    np.savez(tmp_path / "ten.npz", x=np.random.default_rng(0).standard_normal((10, 1, 40)).astype(np.float32))
    (tmp_path / "corrupt.onnx").write_bytes(b"definitely not onnx")
    return tmp_path


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--calibration", "{d}/wrong_shape.npz"], "add the channel axis"),
        (["--calibration", "{d}/ints.npz"], "floating-point"),
        (["--calibration", "{d}/ten.npz"], "too few"),
        (["--op-types", "LSTM"], "nothing in"),
        (["--target", "pi-5"], "did you mean 'pi5'"),
        (["--method", "kmeans"], "--method"),
        (["--backend", "torch", "--mode", "static"], "supports --mode dynamic only"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(mc, tiny_onnx, bad_data, extra, message):
    out_dir = bad_data / "out"
    args = ["quantize", tiny_onnx, "--mode", "static", "-o", out_dir / "q.onnx"] + [part.format(d=bad_data) for part in extra]
    assert_one_line_error(mc(*args), 2, message)
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_corrupt_onnx_and_few_calibration_samples_warning(mc, tiny_onnx, bad_data):
    assert_one_line_error(mc("quantize", bad_data / "corrupt.onnx", "-o", bad_data / "q.onnx"), 2, "not a valid ONNX model")
    np.savez(bad_data / "fifty.npz", x=np.random.default_rng(1).standard_normal((50, 1, 40)).astype(np.float32))
    result = mc("quantize", tiny_onnx, "--mode", "static", "--calibration", bad_data / "fifty.npz", "-o", bad_data / "q.onnx")
    assert result.exit_code == 0 and "warning: only 50 calibration samples" in result.stderr


def test_the_output_tail_stops_at_the_last_layers():
    """From each output back through producers, up to (not including) an op carrying a weight of at
    least LAYER_WEIGHT_ELEMENTS: the confidence's sigmoid, reduction and 1x1 scale, not the task head."""
    from mc.quantization.output_tail import output_tail

    graph = {  # op: (producers of its non-constant inputs, its largest constant's elements)
        "conv": ([], 640), "head": (["conv"], 640), "log_softmax": (["head"], 0), "max": (["log_softmax"], 1),
        "scale": (["max"], 1), "sigmoid": (["scale"], 0), "squeeze": (["sigmoid"], 1),
    }
    tail = output_tail(["head", "squeeze", None], lambda op: graph[op][0], lambda op: graph[op][1])
    assert sorted(tail) == ["log_softmax", "max", "scale", "sigmoid", "squeeze"]


def test_quantized_models_keep_their_output_tail_in_float(mc, tiny_onnx, tmp_path):
    from mc.quantization.apply import output_tail_nodes

    tail = output_tail_nodes(tiny_onnx)
    ops = {node.name: node.op_type for node in onnx.load(str(tiny_onnx)).graph.node}
    assert {ops[name] for name in tail if name in ops} >= {"Sigmoid", "LogSoftmax", "ReduceMax", "Gemm"}
    assert sum(ops[name] == "Gemm" for name in tail if name in ops) == 1  # the 1x1 scale; the task head is a layer
    quantized = tmp_path / "tiny-int8.onnx"
    result = mc("quantize", tiny_onnx, "--mode", "static", "-o", quantized)
    assert result.exit_code == 0, result.stderr
    graph = onnx.load(str(quantized)).graph
    assert not any(node.op_type == "QuantizeLinear" and node.input[0] in ("confidence", "sigmoid") for node in graph.node)
    assert any(node.op_type == "QuantizeLinear" for node in graph.node)  # the layers themselves are int8
