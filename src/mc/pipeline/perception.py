"""Perception: run the model through a runtime adapter and turn its outputs into cognitive states.

The model family returns (logits, confidence); the confidence head is the model's report on its
own correctness, which the meta stages treat as the first-order self-report. A model with a single
output still runs: its top softmax probability stands in, and the state says so. The softmax and
the reductions run on plain floats per sample: at the class counts of edge models that is several
times cheaper than NumPy calls on tiny arrays, and it keeps the pipeline's own cost per frame small.
"""

from __future__ import annotations

import math

import numpy as np

from mc.pipeline.state import CognitiveState
from mc.runtimes import Predictor

MAX_SOFTMAX = "max-softmax"
CONFIDENCE_HEAD = "confidence-head"


def _state(logits: list[float], confidence: float | None, log_classes: float) -> CognitiveState:
    peak = max(logits)
    weights = [math.exp(value - peak) for value in logits]
    total = sum(weights)
    probabilities = tuple(weight / total for weight in weights)
    entropy = -sum(p * math.log(p) for p in probabilities if p > 0.0)
    second, top = sorted(probabilities)[-2:]
    return CognitiveState(
        probabilities=probabilities,
        predicted=logits.index(peak),
        top_probability=top,
        margin=top - second,
        certainty=min(1.0, max(0.0, 1.0 - entropy / log_classes)),
        confidence=top if confidence is None else confidence,
        confidence_source=MAX_SOFTMAX if confidence is None else CONFIDENCE_HEAD,
    )


def states_from_outputs(outputs: list[np.ndarray]) -> list[CognitiveState]:
    """One state per row of the model's outputs (logits first, then an optional confidence)."""
    logits = np.asarray(outputs[0], dtype=np.float64)
    rows = logits.shape[0] if logits.ndim > 1 else 1
    logits = logits.reshape(rows, -1)
    classes = logits.shape[1]
    if classes < 2:
        raise ValueError(f"the model's first output has {classes} class(es); the pipeline needs class logits")
    if len(outputs) > 1:
        confidences: list[float | None] = np.clip(
            np.asarray(outputs[1], dtype=np.float64).reshape(rows, -1)[:, 0], 0.0, 1.0
        ).tolist()
    else:
        confidences = [None] * rows
    log_classes = math.log(classes)
    return [_state(row, confidence, log_classes) for row, confidence in zip(logits.tolist(), confidences)]


class PerceptionStage:
    """The only stage that touches the model; everything after it is the pipeline's own work."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor

    def perceive(self, batch: np.ndarray) -> list[CognitiveState]:
        """Run one batch (batch first) and return a state per sample."""
        return states_from_outputs(self.predictor.predict(batch))
