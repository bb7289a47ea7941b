"""Score any model (torch or ONNX) on labelled data: task accuracy and metacognition, optionally
against a reference model for top-1 agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mc.data.evaluation import evaluation_data
from mc.errors import InputError
from mc.metrics import classification_report
from mc.models.source import load_torch_model
from mc.onnx_file import load_onnx_model
from mc.runtimes._predictor import Predictor, predict_all
from mc.runtimes.torch_eager import TorchPredictor


def test_set_report(module, reference_logits=None) -> dict[str, Any]:
    """A torch module's accuracy and metacognition on the MNIST-1D test set (for passes that train)."""
    from mc.data.mnist1d import load_mnist1d

    test = load_mnist1d().test
    logits, confidence = predict_all(TorchPredictor(module), test.x)
    return classification_report(logits, confidence, test.y, reference_logits=reference_logits)


def open_predictor(spec: str, input_shape: tuple[int, ...] | None = None) -> tuple[Predictor, tuple[int, ...], str]:
    """(predictor, sample shape, description) for any MODEL a user can type."""
    if spec.endswith(".onnx"):
        from mc.compilation.artifacts import onnx_predictor, onnx_runtime_name

        model = load_onnx_model(Path(spec))
        shape = input_shape or model.sample_shape
        if any(dim <= 0 for dim in shape):
            raise InputError(f"{spec} has symbolic input dimensions {model.sample_shape}; pass --input-shape, batch first")
        runtime = onnx_runtime_name(model.path)
        return onnx_predictor(model.path, model.input_names[0], tuple(shape)), tuple(shape), f"{spec} ({'onnx' if runtime == 'onnxruntime' else runtime})"
    from mc.compilation.artifacts import is_compiled_path, open_compiled

    if is_compiled_path(spec):
        compiled = open_compiled(Path(spec))
        return compiled.predictor, compiled.sample_shape, compiled.description
    model = load_torch_model(spec, input_shape)
    return TorchPredictor(model.module), model.sample_shape, model.description


def evaluate(
    spec: str,
    data_path: Path | None = None,
    input_shape: tuple[int, ...] | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    predictor, sample_shape, description = open_predictor(spec, input_shape)
    data = evaluation_data(sample_shape, data_path)
    if data.y is None:
        raise InputError(f"{data.description} has no labels; pass --data with a .npz holding x and y")
    outputs = predict_all(predictor, data.x)
    if len(outputs) != 2:
        raise InputError(f"{spec} returns {len(outputs)} outputs; mc eval scores models that return (logits, confidence)")
    reference_logits = None
    reference_description = None
    if reference is not None:
        reference_predictor, reference_shape, reference_description = open_predictor(reference, input_shape)
        if tuple(reference_shape) != tuple(sample_shape):
            raise InputError(f"reference {reference} takes input {reference_shape}, {spec} takes {sample_shape}")
        reference_logits = predict_all(reference_predictor, data.x)[0]
    report = classification_report(outputs[0], outputs[1], data.y, reference_logits=reference_logits)
    return {"model": description, "reference": reference_description, "data": data.description, "metrics": report}
