"""The three scenarios, after MLPerf LoadGen, each driving the meta pipeline over held-out samples.

- realtime: open loop at the target rate, fixed or Poisson arrivals. A request's latency runs from
  its *scheduled* arrival, so a slow frame cannot hide the wait it causes the frames behind it; a
  request whose deadline passes while it waits is dropped (and counted) without running the model.
- latency: closed loop at batch 1, one query after the other, until both the duration and the
  minimum query count (662 by default, so that p99 is reported) are reached.
- throughput: batches back to back for the duration, samples per second (no deadline: offline).

Every runner returns plain data (JSON-ready); nothing prints. A runner folds each outcome into a
RequestTally as it comes and keeps none of them, so memory does not grow with the run's length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mc.percentiles import RESERVOIR, LatencyStream, min_queries
from mc.pipeline.processor import STAGES, MetaPipeline, RequestOutcome
from mc.pipeline.tally import RequestTally

ScenarioName = Literal["realtime", "latency", "throughput"]
SPIN_S = 0.0003  # the last stretch before an arrival is spun, not slept: sleep overshoots by ~0.1 ms
P99_QUERIES = min_queries(99)  # a smaller reservoir could not hold the queries an exact p99 needs


class ScenarioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ScenarioName = "realtime"
    duration_s: float = Field(10.0, gt=0, le=3600)
    rate_hz: float = Field(20.0, gt=0, le=1000)
    arrivals: Literal["fixed", "poisson"] = "fixed"
    seed: int = 0
    batch_size: int = Field(32, ge=1, le=4096)
    min_queries: int = Field(P99_QUERIES, ge=1)
    warmup_queries: int = Field(32, ge=0)
    max_duration_factor: float = Field(10.0, ge=1, description="latency runs stop after this x the duration, queries or not")
    reservoir: int = Field(RESERVOIR, ge=P99_QUERIES, description=(
        "latency samples kept per statistic: percentiles are exact up to this many requests and "
        "estimated from a uniform sample of this size beyond (stated as percentile_method)"))


def arrival_offsets(config: ScenarioConfig) -> list[float]:
    """Scheduled arrival times (seconds from the start) within the duration."""
    if config.arrivals == "fixed":
        count = max(1, math.floor(config.duration_s * config.rate_hz + 1e-9))
        return [index / config.rate_hz for index in range(count)]
    rng = np.random.default_rng(config.seed)
    offsets: list[float] = []
    moment = 0.0
    while True:
        moment += float(rng.exponential(1.0 / config.rate_hz))
        if moment >= config.duration_s:
            return offsets or [0.0]
        offsets.append(moment)


def warm_up(pipeline: MetaPipeline, samples: np.ndarray, count: int) -> None:
    """Run `count` requests untimed (caches, allocators, lazy initialisation) before measuring."""
    for index in range(count):
        pipeline.process(samples[index % len(samples)], deadline=math.inf)


def _describe(outcome: RequestOutcome) -> dict[str, Any]:
    """One request as data: where its time went (waiting, then each stage it ran)."""
    return {
        "request": outcome.request,
        "latency_ms": outcome.latency_ms,
        "waited_ms": (outcome.start - outcome.arrival) * 1e3,
        "stage_ms": {stage: seconds * 1e3 for stage, seconds in zip(STAGES, outcome.stage_s)},
        "dropped_at": outcome.dropped_at,
        "level": outcome.level,
    }


def new_tally(pipeline: MetaPipeline, config: ScenarioConfig) -> RequestTally:
    settings = pipeline.settings
    return RequestTally(settings.target_latency_ms, settings.max_latency_ms, settings.quality_threshold, config.reservoir)


def _label(labels: np.ndarray | None, index: int) -> Any:
    return None if labels is None else labels[index]


def summarize_run(pipeline: MetaPipeline, tally: RequestTally, elapsed_s: float) -> dict[str, Any]:
    """What every scenario reports about its requests: counts, latency, stage times, pipeline state."""
    pipeline.monitor.check(pipeline.clock())  # a last resource sample, so even a short run has one
    result = tally.summary()
    result.update({
        "dropped_by_stage": {stage: count for stage, count in pipeline.dropped_by_stage.items() if count},
        "elapsed_s": elapsed_s,
        "slowest": [_describe(outcome) for outcome in tally.slowest],
        "quality_control": pipeline.controller.summary(),
        "awareness_cache": pipeline.awareness.cache.summary(),
        "monitor": pipeline.monitor.summary(pipeline.clock()),
    })
    return result


def run_realtime(
    pipeline: MetaPipeline,
    samples: np.ndarray,
    labels: np.ndarray | None,
    config: ScenarioConfig,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    offsets = arrival_offsets(config)
    tally = new_tally(pipeline, config)
    pipeline.monitor.sample_resources(clock())
    start = clock() + 0.005
    for index, offset in enumerate(offsets):
        due = start + offset
        wait = due - clock()
        if wait > SPIN_S:
            sleep(wait - SPIN_S)
        while clock() < due:
            pass
        row = index % len(samples)
        tally.add(pipeline.process(samples[row], arrival=due), _label(labels, row))
    elapsed = clock() - start
    result = summarize_run(pipeline, tally, elapsed)
    result["scheduled"] = len(offsets)
    result["rate_hz"] = config.rate_hz
    result["arrivals"] = config.arrivals
    result["achieved_rate_hz"] = result["completed"] / elapsed if elapsed > 0 else None
    return result


def run_latency(
    pipeline: MetaPipeline,
    samples: np.ndarray,
    labels: np.ndarray | None,
    config: ScenarioConfig,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    tally = new_tally(pipeline, config)
    pipeline.monitor.sample_resources(clock())
    start = clock()
    give_up = start + config.duration_s * config.max_duration_factor
    while True:
        now = clock()
        if (now - start >= config.duration_s and tally.requests >= config.min_queries) or now >= give_up:
            break
        row = tally.requests % len(samples)
        tally.add(pipeline.process(samples[row]), _label(labels, row))
    elapsed = clock() - start
    result = summarize_run(pipeline, tally, elapsed)
    result["min_queries"] = config.min_queries
    result["reached_min_queries"] = tally.requests >= config.min_queries
    return result


def run_throughput(
    pipeline: MetaPipeline,
    samples: np.ndarray,
    labels: np.ndarray | None,
    config: ScenarioConfig,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    tally = new_tally(pipeline, config)
    batch_ms = LatencyStream(config.reservoir)
    model_s = 0.0
    size = config.batch_size
    pipeline.monitor.sample_resources(clock())
    start = clock()
    while not batch_ms.count or clock() - start < config.duration_s:
        first = tally.requests
        rows = np.arange(first, first + size) % len(samples)
        began = clock()
        results = pipeline.process_batch(samples[rows], deadline=math.inf)
        batch_ms.add((clock() - began) * 1e3)
        model_s += results[0].stage_s[0]
        for row, outcome in zip(rows.tolist(), results):
            tally.add(outcome, _label(labels, row))
    elapsed = clock() - start
    result = summarize_run(pipeline, tally, elapsed)
    result["batch_size"] = size
    result["batches"] = batch_ms.count
    result["batch_ms"] = batch_ms.summary()
    result["samples_per_s"] = tally.requests / elapsed if elapsed > 0 else None
    result["model_samples_per_s"] = tally.requests / model_s if model_s > 0 else None
    return result


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "realtime": run_realtime,
    "latency": run_latency,
    "throughput": run_throughput,
}


def run_scenario(
    pipeline: MetaPipeline, samples: np.ndarray, labels: np.ndarray | None, config: ScenarioConfig
) -> dict[str, Any]:
    return RUNNERS[config.name](pipeline, samples, labels, config)
