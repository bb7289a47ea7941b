"""`mc export` end to end: the ONNX file, its checks, its parity and its lineage."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from mc.data.evaluation import evaluation_data
from mc.hashing import sha256_file
from mc.models.source import SHIPPED_CHECKPOINTS, untrained_zoo_model
from mc.passes.export import ExportConfig, export_torch
from mc.progress import SilentProgress

FIXTURES = Path(__file__).parent / "fixtures"


def test_export_shipped_model_checks_parity_and_records_lineage(mc, tmp_path):
    output = tmp_path / "out" / "mobile-small.onnx"
    result = mc("export", "mobile-small", "-o", output, "--json", tmp_path / "result.json")
    assert result.exit_code == 0, result.stderr
    assert "max |torch - onnx|" in result.stdout and "passed" in result.stdout
    model = onnx.load(str(output))
    onnx.checker.check_model(model)
    assert max(opset.version for opset in model.opset_import if opset.domain in ("", "ai.onnx")) >= 17

    sidecar = json.loads(Path(str(output) + ".json").read_text())
    assert sidecar == json.loads((tmp_path / "result.json").read_text())
    assert sidecar["sha256"] == sha256_file(output)
    assert sidecar["parent"]["sha256"] == sha256_file(SHIPPED_CHECKPOINTS / "mobile-small.pt")
    assert sidecar["pass"]["name"] == "export" and sidecar["pass"]["config"]["opset"] == 18
    assert sidecar["versions"]["torch"] and sidecar["versions"]["onnxruntime"]
    parity = sidecar["metrics"]["parity"]
    assert parity["passed"] and parity["samples"] == 1000
    assert max(parity["max_abs_diff"].values()) <= 1e-4
    accuracy = sidecar["metrics"]["accuracy"]
    assert accuracy["onnx"]["accuracy"] >= 0.97 and accuracy["onnx"]["top1_agreement"] >= 0.999

    # The batch axis is dynamic: batch sizes the export never saw run and match torch.
    session = ort.InferenceSession(str(output))
    assert session.get_inputs()[0].shape[0] == "batch"
    checkpoint_model = torch.load(SHIPPED_CHECKPOINTS / "mobile-small.pt", weights_only=True)
    assert checkpoint_model["model"] == "mobile-small"
    for batch in (1, 3, 17):
        x = np.random.default_rng(batch).standard_normal((batch, 1, 40)).astype(np.float32)
        logits, confidence = session.run(None, {"input": x})
        assert logits.shape == (batch, 10) and confidence.shape == (batch,)
    assert [p.name for p in output.parent.iterdir()] == sorted([output.name, output.name + ".json"]) or set(
        p.name for p in output.parent.iterdir()
    ) == {output.name, output.name + ".json"}


@pytest.mark.parametrize("name", ["mobile-base", "cpu-mlp", "gru-small"])
def test_every_architecture_exports_with_parity(tmp_path, name):
    torch.manual_seed(0)
    model = untrained_zoo_model(name)
    outcome = export_torch(ExportConfig(), model, tmp_path / f"{name}.onnx", evaluation_data(model.sample_shape), SilentProgress())
    assert outcome.metrics["parity"]["passed"]
    assert (tmp_path / f"{name}.onnx").exists()


def test_factory_model_with_its_own_input_shape(mc, tmp_path):
    output = tmp_path / "user.onnx"
    result = mc("export", f"{FIXTURES / 'user_models.py'}:make_two_headed", "--input-shape", "1,3,16", "-o", output)
    assert result.exit_code == 0, result.stderr
    assert "random" in result.stdout  # no labelled data for this shape: parity on seeded random inputs
    session = ort.InferenceSession(str(output))
    logits, _ = session.run(None, {"input": np.zeros((5, 3, 16), np.float32)})
    assert logits.shape == (5, 4)


def test_parity_failure_exits_1_and_writes_nothing(mc, tmp_path):
    output = tmp_path / "strict.onnx"
    result = mc("export", "mobile-small", "-o", output, "--tolerance", "1e-12")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "parity check failed" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no file, no sidecar, no temp left


def test_eval_scores_torch_and_onnx_alike(mc, tmp_path):
    output = tmp_path / "tiny.onnx"
    assert mc("export", "mobile-tiny", "-o", output).exit_code == 0
    torch_result = mc("eval", "mobile-tiny", "--json", tmp_path / "torch.json")
    onnx_result = mc("eval", output, "--reference", "mobile-tiny", "--json", tmp_path / "onnx.json")
    assert torch_result.exit_code == 0 and onnx_result.exit_code == 0, onnx_result.stderr
    torch_metrics = json.loads((tmp_path / "torch.json").read_text())["metrics"]
    onnx_metrics = json.loads((tmp_path / "onnx.json").read_text())["metrics"]
    assert torch_metrics["accuracy"] >= 0.94
    assert onnx_metrics["accuracy"] == pytest.approx(torch_metrics["accuracy"], abs=0.002)
    assert onnx_metrics["top1_agreement"] >= 0.998
    assert onnx_metrics["confidence_auroc"] == pytest.approx(torch_metrics["confidence_auroc"], abs=0.01)


def test_exported_graph_is_tidy_for_downstream_tools(tmp_path):
    """No value_info shadowing initializers (ORT's quantize_dynamic chokes on them), no stack traces."""
    from onnxruntime.quantization import quantize_dynamic

    torch.manual_seed(0)
    model = untrained_zoo_model("mobile-small")
    path = tmp_path / "small.onnx"
    export_torch(ExportConfig(), model, path, evaluation_data(model.sample_shape), SilentProgress())
    graph = onnx.load(str(path)).graph
    assert not {value.name for value in graph.value_info} & {init.name for init in graph.initializer}
    assert not any(prop.key.endswith("stack_trace") for node in graph.node for prop in node.metadata_props)
    assert any(prop.key.endswith("name_scopes") for node in graph.node for prop in node.metadata_props)
    quantize_dynamic(str(path), str(tmp_path / "dynamic.onnx"))  # raw export, ORT defaults: must not raise
