"""The `openvino` backend: OpenVINO IR (`model.xml` + `model.bin`) from the ONNX model (a torch model
is exported first, parity-checked), for Intel's CPU runtime.

- fp32: `openvino.convert_model`, saved with `compress_to_fp16=False` (the default stores fp16 weights).
- int8: NNCF post-training quantization (`nncf.quantize`) on real calibration samples; with an
  accuracy budget (`max_accuracy_drop`, points), `nncf.quantize_with_accuracy_control`, whose
  validation function is mc's task accuracy on the held-out set: NNCF reverts the layers that cost
  the most accuracy until the budget holds. The confidence head is then checked as every mc search
  judges it: an AUROC drop over `MAX_AUROC_DROP` fails the compile (nothing is written). The output
  tail (mc.quantization.output_tail) stays float either way, as NNCF's ignored scope.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mc.compilation._backend import BuildRequest, Built, CompileBackend, register_backend
from mc.errors import CheckFailed, InputError
from mc.runtimes.openvino import INSTALL, RUNTIME, missing, open_ir

MAX_AUROC_DROP = 0.02
VALIDATION_BATCH = 64


def _accuracy(compiled_model: Any, items: Any) -> float:
    """NNCF's validation function: mc's task accuracy (fraction) over (inputs, labels) batches."""
    correct = total = 0
    for inputs, labels in items:
        logits = np.asarray(compiled_model(inputs)[0])
        correct += int(np.sum(np.argmax(logits.reshape(len(labels), -1), axis=1) == labels))
        total += len(labels)
    return correct / max(total, 1)


def output_tail_ops(model: Any) -> list[str]:
    """The friendly names of an OpenVINO model's output-tail ops (mc.quantization.output_tail)."""
    from mc.quantization.output_tail import output_tail

    ops = {op.get_friendly_name(): op for op in model.get_ops()}

    def sources(name: str) -> list[Any]:
        return [value.get_source_output().get_node() for value in ops[name].inputs()]

    def constant_elements(node: Any) -> int:
        return int(np.prod(node.get_output_shape(0))) if node.get_type_name() == "Constant" else 0

    return output_tail(
        (result.input_value(0).get_node().get_friendly_name() for result in model.get_results()),
        lambda name: (node.get_friendly_name() for node in sources(name) if node.get_type_name() not in ("Constant", "Parameter")),
        lambda name: max((constant_elements(node) for node in sources(name)), default=0),
    )


def _quantize(model: Any, request: BuildRequest) -> tuple[Any, dict[str, Any]]:
    import nncf

    samples = np.ascontiguousarray(request.calibration, dtype=np.float32)
    calibration = nncf.Dataset([samples[i : i + 1] for i in range(len(samples))])
    tail = output_tail_ops(model)
    ignored = nncf.IgnoredScope(names=tail, validate=False)
    info: dict[str, Any] = {"tool": f"NNCF {getattr(nncf, '__version__', '')}".strip(), "calibration_samples": int(len(samples)),
                            "float_output_tail": tail}
    if request.max_accuracy_drop is None:
        info["method"] = "nncf.quantize (defaults)"
        return nncf.quantize(model, calibration, subset_size=len(samples), ignored_scope=ignored), info
    data = request.selection or request.evaluation
    if data.y is None:
        raise InputError("--max-accuracy-drop needs labelled data to measure accuracy: pass --data with labels")
    batches = [(np.ascontiguousarray(data.x[i : i + VALIDATION_BATCH], dtype=np.float32), data.y[i : i + VALIDATION_BATCH])
               for i in range(0, len(data.x), VALIDATION_BATCH)]
    validation = nncf.Dataset(batches, lambda item: item[0])
    info.update(method="nncf.quantize_with_accuracy_control", max_drop_points=request.max_accuracy_drop,
                validation=data.description)
    quantized = nncf.quantize_with_accuracy_control(
        model, calibration, validation, validation_fn=_accuracy, max_drop=request.max_accuracy_drop / 100,
        drop_type=nncf.DropType.ABSOLUTE, subset_size=len(samples), ignored_scope=ignored,
    )
    return quantized, info


def _judge(request: BuildRequest, predictor: Any) -> dict[str, Any]:
    """Accuracy and confidence AUROC against the source (ONNX Runtime), with the budget applied."""
    from mc.metrics import classification_report
    from mc.runtimes import open_onnx, predict_all

    data = request.selection or request.evaluation
    assert data.y is not None
    source = predict_all(open_onnx(request.source.path, threads=None), data.x, VALIDATION_BATCH)  # type: ignore[union-attr]
    got = predict_all(predictor, data.x, VALIDATION_BATCH)
    before = classification_report(source[0], source[1], data.y)
    after = classification_report(got[0], got[1], data.y, reference_logits=source[0])
    drop = 100 * (float(before["accuracy"]) - float(after["accuracy"]))
    auroc_drop = (float(before["confidence_auroc"]) - float(after["confidence_auroc"])) if before.get("confidence_auroc") is not None and after.get("confidence_auroc") is not None else 0.0
    verdict = {"accuracy_drop_points": drop, "auroc_drop": auroc_drop, "max_auroc_drop": MAX_AUROC_DROP}
    if drop > float(request.max_accuracy_drop or 0) + 1e-9:
        raise CheckFailed(f"NNCF's accuracy-controlled int8 drops accuracy by {drop:.2f} points > --max-accuracy-drop "
                          f"{request.max_accuracy_drop}; nothing was written")
    if auroc_drop > MAX_AUROC_DROP:
        raise CheckFailed(f"int8 keeps accuracy but its confidence AUROC drops by {auroc_drop:.3f} > {MAX_AUROC_DROP}: "
                          "the model's self-knowledge broke; nothing was written")
    return verdict


def build(request: BuildRequest) -> Built:
    import openvino as ov

    model = ov.convert_model(str(request.source.path))  # type: ignore[union-attr]
    settings: dict[str, Any] = {"converter": "openvino.convert_model (ONNX)", "weights": "fp32 (compress_to_fp16=False)",
                                "inference_precision_hint": "f32", "quantization": None}
    if request.precision == "int8":
        model, settings["quantization"] = _quantize(model, request)
    weights = request.output.with_suffix(".bin")
    with tempfile.TemporaryDirectory(prefix="mc-openvino-") as tmp:
        saved = Path(tmp) / "model.xml"
        ov.save_model(model, str(saved), compress_to_fp16=False)
        shutil.copyfile(saved, request.output)
        shutil.copyfile(saved.with_suffix(".bin"), weights)
    predictor = open_ir(request.output, threads=None, weights=weights)
    if request.precision == "int8" and request.max_accuracy_drop is not None:
        settings["accuracy_control"] = _judge(request, predictor)
    return Built(predictor, settings)


register_backend(CompileBackend(
    name="openvino", runtime=RUNTIME, suffix=".xml", kind="openvino-ir", precisions=("fp32", "int8"), devices=("cpu",),
    extra=INSTALL, check_available=lambda precision, device: missing(quantize=precision == "int8"), build=build,
    takes="onnx", artifact_kind="openvino", options=("max_accuracy_drop",),
    description="OpenVINO IR for Intel's CPU runtime (int8: NNCF, with accuracy control against a budget)",
))
