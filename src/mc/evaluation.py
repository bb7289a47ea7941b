"""Score any model (torch or ONNX) on labelled data: task accuracy and metacognition, optionally
against a reference model for top-1 agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mc.data.evaluation import evaluation_data
from mc.errors import InputError
from mc.metrics import classification_report
from mc.runtimes import OpenedModel, open_model, predict_all


def test_set_report(module, reference_logits=None, data: str = "mnist1d") -> dict[str, Any]:
    """A torch module's accuracy and metacognition on a built-in test set (for passes that train)."""
    from mc.data.mnist1d import load_mnist1d
    from mc.runtimes.torch_eager import TorchPredictor

    test = load_mnist1d(data).test
    logits, confidence = predict_all(TorchPredictor(module), test.x)
    return classification_report(logits, confidence, test.y, reference_logits=reference_logits)


def _open_classifier(spec: str, input_shape: tuple[int, ...] | None) -> OpenedModel:
    opened = open_model(spec, input_shape=input_shape)
    if opened.workload != "pipeline":
        raise InputError(f"{spec} is a text model; mc eval scores classifiers (bench it for latency and fidelity: mc bench {spec})")
    return opened


def evaluate(
    spec: str,
    data_path: Path | None = None,
    input_shape: tuple[int, ...] | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    opened = _open_classifier(spec, input_shape)
    sample_shape, description = opened.sample_shape, opened.description
    data = evaluation_data(sample_shape, data_path)
    if data.y is None:
        raise InputError(f"{data.description} has no labels; pass --data with a .npz holding x and y")
    outputs = predict_all(opened.predictor, data.x)
    if len(outputs) != 2:
        raise InputError(f"{spec} returns {len(outputs)} outputs; mc eval scores models that return (logits, confidence)")
    reference_logits = None
    reference_description = None
    if reference is not None:
        other = _open_classifier(reference, input_shape)
        reference_description = other.description
        if tuple(other.sample_shape) != tuple(sample_shape):
            raise InputError(f"reference {reference} takes input {other.sample_shape}, {spec} takes {sample_shape}")
        reference_logits = predict_all(other.predictor, data.x)[0]
    report = classification_report(outputs[0], outputs[1], data.y, reference_logits=reference_logits)
    return {"model": description, "reference": reference_description, "data": data.description, "metrics": report}
