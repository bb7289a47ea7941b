"""A bench keeps bounded state however long it runs, and still reports exact counts and percentiles
exact up to its reservoir (stated as estimated beyond it). benchmarks/bench_memory.py measures the
same at 200 000 requests and prints bytes per request."""

from __future__ import annotations

import math
import time
import tracemalloc

import numpy as np
import pytest

from mc.bench.control import FixedOutputPredictor
from mc.bench.scenarios import ScenarioConfig, run_latency
from mc.percentiles import LatencyStream, min_queries, percentile_curve, summarize
from mc.pipeline import MetaPipeline
from mc.pipeline.monitor import PerformanceMonitor


def _stream(values, capacity: int) -> LatencyStream:
    stream = LatencyStream(capacity)
    for value in values:
        stream.add(value)
    return stream


def test_a_stream_is_exact_up_to_its_reservoir():
    values = np.random.default_rng(1).lognormal(0.0, 1.0, 5000).tolist()
    stream = _stream(values, capacity=5000)
    assert stream.summary() == {**summarize(values), "percentile_method": "exact"}
    assert stream.curve() == percentile_curve(values)
    assert _stream(values[:100], 5000).summary()["p99"] is None  # too few queries, as before


def test_beyond_its_reservoir_a_stream_keeps_exact_counts_and_says_its_percentiles_are_estimated():
    values = np.random.default_rng(2).lognormal(0.0, 1.0, 50_000).tolist()
    stream = _stream(values, capacity=1000)
    summary, exact = stream.summary(), summarize(values)
    assert summary["percentile_method"] == "reservoir of 1000"
    assert (summary["count"], summary["mean"], summary["max"]) == (exact["count"], exact["mean"], exact["max"])
    ordered = sorted(values)
    for percentile in (50, 90, 95, 99):
        rank = np.searchsorted(ordered, summary[f"p{percentile}"], side="right") / len(ordered) * 100
        spread = 100 * math.sqrt(percentile * (100 - percentile) / 1e4 / 1000)  # one standard error, in points
        assert abs(rank - percentile) <= 4 * spread, (percentile, rank)
    curve = stream.curve()
    assert len(curve) == 101 and curve[0] == ordered[0] and curve[-1] == ordered[-1]
    assert curve == sorted(curve)


class SnapshotClock:
    """The closed loop's clock, reading the traced size at given call counts (one call a request)."""

    def __init__(self, *at: int):
        self.calls, self.at, self.traced = 0, set(at), {}

    def __call__(self) -> float:
        self.calls += 1
        if self.calls in self.at:
            self.traced[self.calls] = tracemalloc.get_traced_memory()[0]
        return time.perf_counter()


def test_the_scenario_loop_does_not_grow_per_request():
    """Past its reservoir a run's memory stays flat: it used to keep every outcome (~850 bytes each)."""
    requests, first, last = 8000, 2000, 7990
    config = ScenarioConfig(name="latency", duration_s=1e-3, min_queries=requests, max_duration_factor=1e6, reservoir=1000)
    clock = SnapshotClock(first, last)
    pipeline = MetaPipeline(FixedOutputPredictor.seeded(64))
    samples, labels = np.zeros((64, 1, 40), np.float32), np.zeros(64, np.int64)
    tracemalloc.start()
    try:
        result = run_latency(pipeline, samples, labels, config, clock=clock)
    finally:
        tracemalloc.stop()
    per_request = (clock.traced[last] - clock.traced[first]) / (last - first)
    print(f"{per_request:.1f} bytes per request")
    assert per_request < 40, f"{per_request:.0f} bytes per request"
    assert result["requests"] == result["completed"] == requests and result["dropped"] == 0
    assert result["latency_ms"]["count"] == requests and result["latency_ms"]["percentile_method"] == "reservoir of 1000"
    assert result["latency_ms"]["p99"] is not None and len(result["latency_curve_ms"]) == 101
    assert result["misses"]["over_target"] == 0 and result["pipeline_accuracy"] is not None
    assert len(result["slowest"]) == 5 and result["slowest"][0]["latency_ms"] == result["latency_ms"]["max"]
    assert result["stage_ms"]["perception"]["count"] == requests


def test_the_monitor_keeps_a_bounded_window_and_exact_aggregates():
    monitor = PerformanceMonitor(memory_limit_mb=1.0, cores=1, started=0.0)  # 1 MB: every check raises high_memory
    for index in range(100_000):  # 20 s at 5 kHz
        monitor.record(1.0, True, index * 2e-4)
    assert len(monitor.latencies) == 1000 and len(monitor.completions) <= 1001
    assert monitor.completed == 100_000
    assert monitor.throughput_hz(20.0) == pytest.approx(5000, rel=0.002)
    for second in range(300):
        monitor.check(20.0 + second)
    summary = monitor.summary(320.0)
    assert summary["alerts_by_kind"]["high_memory"] == 300 and summary["alerts_raised"] >= 300
    assert len(summary["alerts"]) == 100 and summary["memory"]["rss_mb_max"] >= summary["memory"]["rss_mb_mean"] > 0
    assert min_queries(99) <= ScenarioConfig().reservoir
