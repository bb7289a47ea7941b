"""Models that know what they know: the confidence recalibration after compression, the harder data
setting, the training options, and a recipe's `data:` reaching the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error


@pytest.fixture(scope="module")
def hard():
    from mc.data.mnist1d import load_mnist1d

    return load_mnist1d("mnist1d-hard")


def _report(module, data="mnist1d"):
    from mc.evaluation import test_set_report

    return test_set_report(module, data=data)


def test_hard_data_is_deterministic_cached_and_harder(hard, isolated_mc_home):
    from mc.data.mnist1d import load_mnist1d
    from mc.models.source import load_torch_model

    standard = load_mnist1d()
    assert hard.train.x.shape == standard.train.x.shape and hard.test.x.shape == standard.test.x.shape
    assert hard.sha256 != standard.sha256
    cached = list((isolated_mc_home / "data").glob("mnist1d-*.npz"))
    assert len(cached) == 2  # one file per setting
    for path in cached:  # regenerated from scratch, the same arrays (the generator is seeded)
        path.unlink()
    assert load_mnist1d("mnist1d-hard").sha256 == hard.sha256
    model = load_torch_model("mobile-small").module
    on_standard, on_hard = _report(model)["accuracy"], _report(model, "mnist1d-hard")["accuracy"]
    assert on_standard > 0.97 and on_hard < on_standard - 0.05  # headroom: losses of a point or two show


def test_recalibration_raises_auroc_of_a_miscalibrated_head():
    """A shipped model whose confidence head is inverted regains a confidence that separates right
    from wrong answers, and a calibrated one; no other weight moves."""
    from mc.data.mnist1d import load_mnist1d
    from mc.models.source import load_torch_model
    from mc.progress import SilentProgress
    from mc.training.recalibrate import RecalibrationSettings, recalibrate_confidence

    model = load_torch_model("mobile-tiny").module
    with torch.no_grad():  # inverted: the surer the answer, the less confident the head
        model.confidence_head.from_top.weight.fill_(-4.0)
    before = _report(model)
    body = {name: p.detach().clone() for name, p in model.named_parameters() if not name.startswith("confidence_head.")}
    train, _ = load_mnist1d().train_validation_split(0.1, 0)
    done = recalibrate_confidence(model, train.subset(np.arange(0, len(train), 2)), RecalibrationSettings(), SilentProgress())
    after = _report(model)
    assert done["done"] and done["augmented_error_rate"] > 0.01  # the augmented copies give the head wrong answers to learn from
    assert after["accuracy"] == before["accuracy"]  # the task head is untouched
    assert all(torch.equal(p, body[name]) for name, p in model.named_parameters() if name in body)
    assert after["confidence_auroc"] > before["confidence_auroc"] + 0.1 and after["confidence_auroc"] > 0.8
    assert after["expected_calibration_error"] < 0.05


def test_learning_rate_schedules():
    from mc.training.loop import learning_rate_factor

    cosine, constant = learning_rate_factor("cosine", 10, 100), learning_rate_factor("constant", 10, 100)
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == pytest.approx(1.0) and constant(9) == pytest.approx(1.0)
    assert cosine(55) == pytest.approx(0.5) and cosine(99) < 0.01
    assert constant(55) == constant(99) == 1.0


def test_train_options_reach_the_checkpoint(mc, tmp_path):
    checkpoint = tmp_path / "tiny-hard.pt"
    result = mc("train", "mobile-tiny", "--epochs", "2", "--data", "mnist1d-hard", "--schedule", "constant",
                "--warmup-epochs", "0", "--early-stopping", "val_loss", "--patience", "1", "-o", checkpoint)
    assert result.exit_code == 0, result.stderr
    assert "mnist1d-hard" in result.stdout and "best epoch" in result.stdout
    record = json.loads(Path(str(checkpoint) + ".json").read_text())
    config, metrics = record["pass"]["config"], record["metrics"]
    assert config["data"] == "mnist1d-hard" and config["schedule"] == "constant" and config["early_stopping"] == "val_loss"
    assert metrics["data"]["name"] == "mnist1d-hard"
    rates = [epoch["learning_rate"] for epoch in metrics["history"]]
    assert len(set(rates)) == 1  # constant, no warm-up
    evaluated = mc("eval", checkpoint, "--data", "mnist1d-hard")
    assert evaluated.exit_code == 0 and "mnist1d-hard test set" in evaluated.stdout, evaluated.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "mobile-tiny", "--data", "mnist1d-easy"], "unknown data 'mnist1d-easy'"),
    (["train", "mobile-tiny", "--early-stopping", "val_auroc"], "--early-stopping"),
    (["train", "mobile-tiny", "--schedule", "linear"], "--schedule"),
    (["prune", "mobile-tiny", "--amount", "0.5", "--data", "cifar"], "unknown data 'cifar'"),
])
def test_bad_options_are_one_line(mc, args, message):
    result = mc(*args)
    assert_one_line_error(result, contains=message)


def test_prune_recalibrates_by_default_and_says_so(mc, tmp_path):
    output = tmp_path / "pruned.pt"
    result = mc("prune", "mobile-tiny", "--amount", "0.5", "--round-to", "4", "--finetune-epochs", "1", "-o", output)
    assert result.exit_code == 0, result.stderr
    assert "confidence head recalibrated" in result.stdout
    record = json.loads(Path(str(output) + ".json").read_text())
    assert record["pass"]["config"]["recalibrate"] is True and record["metrics"]["recalibration"]["done"]
    skipped = mc("prune", "mobile-tiny", "--amount", "0.5", "--round-to", "4", "--finetune-epochs", "1", "--no-recalibrate",
                 "-o", tmp_path / "plain.pt")
    assert skipped.exit_code == 0 and "recalibrated" not in skipped.stdout
    assert "recalibration" not in json.loads((tmp_path / "plain.pt.json").read_text())["metrics"]


RECIPE = """\
name: hard
model: mobile-tiny
target: x86-cpu
data: mnist1d-hard
reference: fp32
variants:
  fp32: [export]
bench: {duration: 1.0, warmup: 4}
"""


@pytest.mark.slow
def test_recipe_data_reaches_the_report(mc, tmp_path):
    """The bench scores the recipe's data, not the default test set: the report's accuracy is the
    model's accuracy on mnist1d-hard."""
    from mc.models.source import load_torch_model

    recipe = tmp_path / "hard.yaml"
    recipe.write_text(RECIPE)
    result = mc("run", recipe, "--out", tmp_path / "reports")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "reports" / "hard" / "latest" / "report.json").read_text())
    accuracy = report["variants"][0]["figures"]["accuracy"]["value"]
    expected = _report(load_torch_model("mobile-tiny").module, "mnist1d-hard")["accuracy"]
    scale = 100 if accuracy > 1 else 1
    assert accuracy == pytest.approx(expected * scale, abs=0.002 * scale)
    assert expected < 0.95


def test_models_shows_accuracy_on_the_hard_setting(mc, tmp_path):
    result = mc("models", "--json", tmp_path / "models.json")
    assert result.exit_code == 0, result.stderr
    assert "hard acc" in result.stdout
    rows = {row["name"]: row for row in json.loads((tmp_path / "models.json").read_text())}
    for name in ("mobile-tiny", "mobile-small"):  # the shipped checkpoints' sidecars carry it
        assert rows[name]["hard_accuracy"] is not None and rows[name]["hard_accuracy"] < rows[name]["test_accuracy"] - 0.05


def test_the_confidence_ranks_answers_as_their_own_probability_does():
    """The head is a calibration of the answer's log-probability: the same ranking, hence the same
    AUROC, as the maximum softmax probability; and it still learns (its parameters get gradients)."""
    from mc.data.mnist1d import load_mnist1d
    from mc.metrics import type2_auroc
    from mc.models.source import load_torch_model

    model = load_torch_model("mobile-small").module.eval()
    test = load_mnist1d().test
    with torch.no_grad():
        logits, confidence = model(torch.from_numpy(test.x))
    correct = (logits.argmax(-1).numpy() == test.y)
    top = torch.softmax(logits, -1).amax(-1).numpy()
    assert type2_auroc(confidence.numpy(), correct) == pytest.approx(type2_auroc(top, correct), abs=1e-3)
    assert model.confidence_head.from_top.weight.item() > 0
