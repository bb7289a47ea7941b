import itertools

import numpy as np
import pytest

from mc.metrics import accuracy, classification_report, expected_calibration_error, top1_agreement, type2_auroc


def brute_force_auroc(confidence, correct):
    pairs = [(p, n) for p, n in itertools.product(confidence[correct], confidence[~correct])]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def test_auroc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(1)
    confidence = rng.integers(0, 6, size=200) / 5.0  # many ties on purpose
    correct = rng.random(200) < 0.7
    assert type2_auroc(confidence, correct) == pytest.approx(brute_force_auroc(confidence, correct))


def test_auroc_extremes_and_undefined():
    correct = np.array([True, True, False, False])
    assert type2_auroc(np.array([0.9, 0.8, 0.2, 0.1]), correct) == 1.0
    assert type2_auroc(np.array([0.1, 0.2, 0.8, 0.9]), correct) == 0.0
    assert type2_auroc(np.array([0.5, 0.5]), np.array([True, True])) is None


def test_ece_is_zero_when_confidence_matches_frequency_and_large_when_overconfident():
    confidence = np.full(100, 0.75)
    correct = np.arange(100) < 75
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(100, 1.0), np.arange(100) < 50) == pytest.approx(0.5)


def test_accuracy_agreement_and_report():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    reference = np.array([[2.0, 1.0], [3.0, 0.0], [1.0, 0.0]])
    labels = np.array([0, 1, 1])
    assert accuracy(logits, labels) == pytest.approx(2 / 3)
    assert top1_agreement(logits, reference) == pytest.approx(2 / 3)
    report = classification_report(logits, np.array([0.9, 0.8, 0.3]), labels, reference)
    assert report["samples"] == 3 and report["confidence_auroc"] == 1.0 and "top1_agreement" in report
