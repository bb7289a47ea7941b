"""`mc prune` and `mc distill` end to end: layers shrink, checkpoints reload without the pruner,
effects recorded, and bad input refused."""

import json
from pathlib import Path

import pytest
import torch

from conftest import assert_one_line_error
from mc.models.source import load_torch_model


def sidecar(path: Path) -> dict:
    return json.loads(Path(str(path) + ".json").read_text())


def test_structured_pruning_shrinks_layers_and_reloads_without_the_pruner(mc, tmp_path):
    output = tmp_path / "small.pruned.pt"
    result = mc("prune", "mobile-small", "--amount", "0.5", "--finetune-epochs", "1", "-o", output)
    assert result.exit_code == 0, result.stderr
    metrics = sidecar(output)["metrics"]
    assert metrics["ratios"]["parameters"] < 0.35 and metrics["ratios"]["macs"] < 0.4
    assert metrics["after"]["test"]["accuracy"] > 0.5 and "confidence_auroc" in metrics["after"]["test"]
    shrunk = metrics["layers_shrunk"]
    assert shrunk["attention.query.weight"][1][0] < shrunk["attention.query.weight"][0][0]
    assert shrunk["memory.query.weight"][1][0] < 64  # the workspace/memory stream shrinks too
    assert "task_head.weight" in shrunk and shrunk["task_head.weight"][1][0] == 10  # 10 classes kept

    reloaded = load_torch_model(str(output))  # plain torch.load(weights_only) + resize: no torch_pruning
    assert sum(p.numel() for p in reloaded.module.parameters()) == metrics["after"]["parameters"]
    logits, confidence = reloaded.module(torch.zeros(3, 1, 40))
    assert logits.shape == (3, 10) and confidence.shape == (3,)
    exported = mc("export", output, "-o", tmp_path / "pruned.onnx")
    assert exported.exit_code == 0, exported.stderr


def test_unstructured_pruning_reports_sparsity_not_speed(mc, tmp_path):
    output = tmp_path / "sparse.pt"
    result = mc("prune", "mobile-tiny", "--unstructured", "--amount", "0.6", "--finetune-epochs", "1", "-o", output)
    assert result.exit_code == 0, result.stderr
    metrics = sidecar(output)["metrics"]
    assert 0.55 <= metrics["sparsity"]["pruned_weights"] <= 0.65
    assert metrics["ratios"]["parameters"] == 1.0  # zeros change no shape
    assert "no speed-up" in result.stdout
    state = torch.load(output, weights_only=True)["state_dict"]
    assert not any(key.endswith("_mask") or key.endswith("_orig") for key in state)  # made permanent


def test_distill_with_a_width_multiplier_records_teacher_and_student(mc, tmp_path):
    output = tmp_path / "student.pt"
    result = mc("distill", "mobile-small", "--width-mult", "0.5", "--epochs", "2", "-o", output)
    assert result.exit_code == 0, result.stderr
    record = sidecar(output)
    metrics = record["metrics"]
    assert metrics["student"]["parameters"] < metrics["teacher"]["parameters"] / 3
    assert "top1_agreement" in metrics["student"]["test"] and record["pass"]["name"] == "distill"
    assert record["model"]["config"]["width"] == 32
    assert load_torch_model(str(output)).origin["model"] == "mobile-small"


@pytest.mark.parametrize(
    "args, message",
    [
        (["prune", "mobile-tiny", "--amount", "1.5"], "--amount"),
        (["prune", "mobile-tiny", "--amount", "0"], "--amount"),
        (["prune", "mobile-tiny"], "exactly one of --amount or --target-speedup"),
        (["prune", "mobile-tiny", "--unstructured", "--target-speedup", "2"], "needs --structured"),
        (["prune", "mobile-tiny", "--amount", "0.5", "--importance", "random"], "--importance"),
        (["distill", "mobile-small", "--student", "mobile-tiny", "--width-mult", "0.5"], "exactly one of --student"),
        (["distill", "mobile-small", "--student", "mobile-tni"], "did you mean 'mobile-tiny'"),
    ],
)
def test_bad_input(mc, tmp_path, args, message):
    assert_one_line_error(mc(*args, "-o", tmp_path / "x.pt"), 2, message)
    assert not (tmp_path / "x.pt").exists()


def test_untraceable_layer_is_named(mc, tmp_path):
    assert mc("train", "gru-small", "--epochs", "1", "-o", tmp_path / "gru.pt").exit_code == 0
    line = assert_one_line_error(mc("prune", tmp_path / "gru.pt", "--amount", "0.5", "-o", tmp_path / "x.pt"), 2, "cannot trace")
    assert "encoder (GRU)" in line


def test_student_with_incompatible_outputs(mc, tmp_path):
    factory = tmp_path / "other.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n"
        "class Five(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.l = nn.Linear(40, 5)\n"
        "    def forward(self, x):\n        z = self.l(x.flatten(1)); return z, torch.sigmoid(z[:, 0])\n"
        "def make():\n    return Five()\n"
    )
    result = mc("distill", "mobile-small", "--student", f"{factory}:make", "-o", tmp_path / "x.pt")
    assert_one_line_error(result, 2, "do not match the teacher")
