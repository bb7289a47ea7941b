"""`mc train` end to end: checkpoint, metadata, reload without unpickling classes, export."""

import json
from pathlib import Path

import torch

FIXTURES = Path(__file__).parent / "fixtures"


def test_train_writes_a_weights_only_checkpoint_with_metadata(mc, tmp_path):
    checkpoint = tmp_path / "tiny.pt"
    result = mc("train", "mobile-tiny", "--epochs", "2", "--seed", "1", "-o", checkpoint)
    assert result.exit_code == 0, result.stderr
    assert "test accuracy" in result.stdout and "confidence AUROC" in result.stdout

    payload = torch.load(checkpoint, weights_only=True)
    assert payload["model"] == "mobile-tiny" and payload["config"]["width"] == 32
    record = json.loads(Path(str(checkpoint) + ".json").read_text())
    metrics = record["metrics"]
    assert 0.1 < metrics["test"]["accuracy"] <= 1.0
    assert metrics["epochs_run"] == 2 and len(metrics["history"]) == 2
    assert metrics["data"]["name"] == "mnist1d" and len(metrics["data"]["sha256"]) == 64
    assert metrics["data"]["train"] + metrics["data"]["validation"] == 4000
    assert "confidence_auroc" in metrics["test"]
    assert record["versions"]["torch"].startswith("2.")
    assert record["pass"]["config"]["seed"] == 1 and record["model"]["parameters"] <= 30_000

    # The checkpoint is a model source for every other command.
    exported = mc("export", checkpoint, "-o", tmp_path / "tiny.onnx")
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(Path(str(tmp_path / "tiny.onnx") + ".json").read_text())["model"]["model"] == "mobile-tiny"


def test_train_is_reproducible_under_a_seed(mc, tmp_path):
    for name in ("a", "b"):
        assert mc("train", "cpu-mlp", "--epochs", "1", "--seed", "7", "-o", tmp_path / f"{name}.pt").exit_code == 0
    a, b = (torch.load(tmp_path / f"{name}.pt", weights_only=True)["state_dict"] for name in ("a", "b"))
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_zoo_name_finds_the_users_trained_checkpoint(mc, isolated_mc_home):
    result = mc("train", "gru-small", "--epochs", "1")
    assert result.exit_code == 0, result.stderr
    assert (isolated_mc_home / "checkpoints" / "gru-small.pt").exists()
    evaluated = mc("eval", "gru-small")
    assert evaluated.exit_code == 0 and "trained checkpoint" in evaluated.stdout


def test_train_a_user_factory_then_export_its_checkpoint(mc, tmp_path):
    checkpoint = tmp_path / "user.pt"
    result = mc("train", f"{FIXTURES / 'user_models.py'}:make_mnist1d_mlp", "--epochs", "1", "-o", checkpoint)
    assert result.exit_code == 0, result.stderr
    assert torch.load(checkpoint, weights_only=True)["factory"].endswith(":make_mnist1d_mlp")
    assert mc("export", checkpoint, "-o", tmp_path / "user.onnx").exit_code == 0


def test_recalibrate_retrains_the_confidence_head_after_training_and_says_so(mc, tmp_path):
    """(That it moves the head's weights and nothing else is tests/test_self_knowledge.py's.)"""
    checkpoint = tmp_path / "recal.pt"
    result = mc("train", "mobile-tiny", "--epochs", "1", "--seed", "3", "--recalibrate", "-o", checkpoint)
    assert result.exit_code == 0, result.stderr
    record = json.loads(Path(str(checkpoint) + ".json").read_text())
    assert record["metrics"]["recalibration"]["done"] and record["pass"]["config"]["recalibrate"] is True
