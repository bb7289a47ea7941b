"""Score an ONNX candidate against the fp32 reference on the same samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mc.metrics import classification_report
from mc.runtimes import open_onnx, predict_all


@dataclass(frozen=True)
class ReferenceOutputs:
    """The fp32 model's outputs on the scoring data, computed once and compared against."""

    x: np.ndarray
    y: np.ndarray | None
    outputs: list[np.ndarray]


def run_model(path: Path, x: np.ndarray, threads: int) -> list[np.ndarray]:
    return predict_all(open_onnx(path, threads=threads), x)


def reference_outputs(path: Path, x: np.ndarray, y: np.ndarray | None, threads: int) -> ReferenceOutputs:
    return ReferenceOutputs(x, y, run_model(path, x, threads))


def score(path: Path, reference: ReferenceOutputs, threads: int) -> dict[str, Any]:
    """Accuracy and metacognition against labels (when there are any) and agreement with fp32."""
    outputs = run_model(path, reference.x, threads)
    result: dict[str, Any] = {
        "max_abs_diff": float(max(np.max(np.abs(a.astype(np.float64) - b)) for a, b in zip(outputs, reference.outputs))),
    }
    if reference.y is not None and len(outputs) == 2:
        result.update(classification_report(outputs[0], outputs[1], reference.y, reference_logits=reference.outputs[0]))
    elif len(outputs) >= 1 and outputs[0].ndim == 2:
        result["top1_agreement"] = float(np.mean(outputs[0].argmax(-1) == reference.outputs[0].argmax(-1)))
    return result
