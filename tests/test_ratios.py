"""Latency ratios with intervals on fake predictors of known cost (busy-waits: their wall time is
what it is even on a loaded machine, so the true ratio is known)."""

from __future__ import annotations

import time

import pytest

from mc.ratios import interleaved_ratios, median_interval, overlaps, verdict


class Burn:
    """A predictor whose call costs `ms` of wall time."""

    def __init__(self, ms: float):
        self.ms, self.name = ms, "fake"

    def predict(self, _batch):
        end = time.perf_counter() + self.ms / 1e3
        while time.perf_counter() < end:
            pass


def test_a_predictor_one_and_a_half_times_as_slow_is_slower_and_its_interval_holds_1_5():
    found = interleaved_ratios({"ref": Burn(0.2), "slow": Burn(0.3)}, None, "ref", calls=5, warmup=2, max_seconds=5)
    slow = found.ratios["slow"]
    assert slow.verdict == "slower"
    assert slow.low <= slow.ratio <= slow.high and 1.35 < slow.low and slow.high < 1.65
    assert found.ratios["ref"].ratio == 1.0 and found.rounds >= 9 and found.seconds > 0
    assert found.median_ms["slow"] > found.median_ms["ref"]


def test_two_identical_predictors_are_indistinguishable():
    found = interleaved_ratios({"ref": Burn(0.2), "same": Burn(0.2)}, None, "ref", calls=5, warmup=2, max_seconds=5)
    same = found.ratios["same"]
    assert same.verdict == "indistinguishable" and same.low <= 1.03 and same.high >= 0.97


def test_sampling_stops_at_the_time_budget_when_the_intervals_stay_wide():
    found = interleaved_ratios({"ref": Burn(0.1), "other": Burn(0.1)}, None, "ref", calls=2, warmup=1,
                               target_width=0.0, max_seconds=0.3, min_rounds=3)
    assert 0.3 <= found.seconds < 2 and found.ratios["other"].rounds == found.rounds


def test_the_bootstrap_is_seeded_and_brackets_the_median():
    values = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 1.2, 0.8]
    assert median_interval(values) == median_interval(values)
    median, low, high = median_interval(values)
    assert low <= median <= high and median == pytest.approx(1.0)


def test_verdicts_and_overlap():
    assert verdict(0.5, 0.9) == "faster" and verdict(1.1, 1.5) == "slower" and verdict(0.9, 1.0) == "indistinguishable"
    assert overlaps((0.5, 0.7), (0.69, 0.8)) and not overlaps((0.5, 0.7), (0.71, 0.8))


def test_an_unknown_reference_is_refused():
    with pytest.raises(ValueError, match="reference"):
        interleaved_ratios({"a": Burn(0.1)}, None, "b")
