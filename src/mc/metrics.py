"""Accuracy and metacognition metrics, as pure functions of arrays.

A compression that keeps accuracy but breaks the model's self-knowledge must show it, so every
variant is scored on its task (accuracy, agreement with the fp32 reference) and on its confidence
head: type-2 AUROC (does confidence separate right from wrong answers) and expected calibration error.
"""

from __future__ import annotations

import numpy as np


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def top1_agreement(logits: np.ndarray, reference_logits: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == np.argmax(reference_logits, axis=-1)))


def type2_auroc(confidence: np.ndarray, correct: np.ndarray) -> float | None:
    """P(confidence of a right answer > confidence of a wrong one), ties counted half (Mann-Whitney U).

    None when every answer is right or every answer is wrong: the AUROC is undefined then.
    """
    correct = np.asarray(correct, dtype=bool)
    positives, negatives = int(correct.sum()), int((~correct).sum())
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(confidence, kind="mergesort")
    sorted_conf = np.asarray(confidence)[order]
    ranks = np.empty(len(confidence), dtype=np.float64)
    # Average ranks over ties.
    start = 0
    while start < len(sorted_conf):
        end = start
        while end + 1 < len(sorted_conf) and sorted_conf[end + 1] == sorted_conf[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    rank_sum = ranks[correct].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    correct = np.asarray(correct, dtype=np.float64)
    bin_index = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        members = bin_index == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def check_labels(labels: np.ndarray, classes: int) -> None:
    """Labels outside the model's classes score 0% without a word; say so instead."""
    from mc.errors import InputError

    labels = np.asarray(labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise InputError(f"the data's labels run from {labels.min()} to {labels.max()}, but the model has {classes} classes "
                         f"(labels 0 to {classes - 1}); pass data labelled for this model")


def classification_report(
    logits: np.ndarray,
    confidence: np.ndarray,
    labels: np.ndarray,
    reference_logits: np.ndarray | None = None,
) -> dict[str, float | int | None]:
    check_labels(labels, np.shape(logits)[-1])
    correct = np.argmax(logits, axis=-1) == labels
    report: dict[str, float | int | None] = {
        "samples": int(len(labels)),
        "accuracy": accuracy(logits, labels),
        "confidence_auroc": type2_auroc(confidence, correct),
        "expected_calibration_error": expected_calibration_error(confidence, correct),
        "mean_confidence": float(np.mean(confidence)),
    }
    if reference_logits is not None:
        report["top1_agreement"] = top1_agreement(logits, reference_logits)
    return report
