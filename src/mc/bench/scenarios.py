"""The three scenarios, after MLPerf LoadGen, each driving the meta pipeline over held-out samples.

- realtime: open loop at the target rate, fixed or Poisson arrivals. A request's latency runs from
  its *scheduled* arrival, so a slow frame cannot hide the wait it causes the frames behind it; a
  request whose deadline passes while it waits is dropped (and counted) without running the model.
- latency: closed loop at batch 1, one query after the other, until both the duration and the
  minimum query count (662 by default, so that p99 is reported) are reached.
- throughput: batches back to back for the duration, samples per second (no deadline: offline).

Every runner returns plain data (JSON-ready); nothing prints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mc.percentiles import min_queries, percentile_curve, summarize
from mc.pipeline.processor import STAGES, MetaPipeline, RequestOutcome

ScenarioName = Literal["realtime", "latency", "throughput"]
SPIN_S = 0.0003  # the last stretch before an arrival is spun, not slept: sleep overshoots by ~0.1 ms
SLOWEST = 5  # requests described one by one in a result, slowest first


class ScenarioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ScenarioName = "realtime"
    duration_s: float = Field(10.0, gt=0, le=3600)
    rate_hz: float = Field(20.0, gt=0, le=1000)
    arrivals: Literal["fixed", "poisson"] = "fixed"
    seed: int = 0
    batch_size: int = Field(32, ge=1, le=4096)
    min_queries: int = Field(min_queries(99), ge=1)
    warmup_queries: int = Field(32, ge=0)
    max_duration_factor: float = Field(10.0, ge=1, description="latency runs stop after this x the duration, queries or not")


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


def _accuracy(outcomes: Sequence[RequestOutcome], labels: np.ndarray | None, indices: Sequence[int]) -> float | None:
    if labels is None:
        return None
    delivered = [(outcome.predicted, labels[index]) for outcome, index in zip(outcomes, indices) if outcome.completed]
    if not delivered:
        return None
    return float(sum(int(predicted == label) for predicted, label in delivered) / len(delivered))


def _quality_scores(outcomes: Sequence[RequestOutcome], threshold: float) -> dict[str, Any]:
    scored = [outcome.quality for outcome in outcomes if outcome.quality is not None]
    result: dict[str, Any] = {"frames": len(scored), "threshold": threshold}
    for dimension in ("coherence", "depth", "authenticity", "integration", "overall"):
        values = [getattr(score, dimension) for score in scored if getattr(score, dimension) is not None]
        result[dimension] = sum(values) / len(values) if values else None
    categories: dict[str, int] = {}
    for score in scored:
        categories[score.category] = categories.get(score.category, 0) + 1
    result["categories"] = categories
    result["at_or_above_threshold"] = (
        sum(score.overall >= threshold for score in scored) / len(scored) if scored else None
    )
    result["not_fully_assessed"] = sum(score.assessed < 4 for score in scored)
    assessment_ms = [score.seconds * 1e3 for score in scored]
    result["assessment_ms"] = summarize(assessment_ms)
    return result


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


def summarize_outcomes(
    pipeline: MetaPipeline,
    outcomes: Sequence[RequestOutcome],
    elapsed_s: float,
    labels: np.ndarray | None,
    indices: Sequence[int],
) -> dict[str, Any]:
    """What every scenario reports about its requests: counts, latency, stage times, pipeline state."""
    completed = [outcome for outcome in outcomes if outcome.completed]
    settings = pipeline.settings
    pipeline.monitor.check(pipeline.clock())  # a last resource sample, so even a short run has one
    stage_ms: dict[str, Any] = {}
    for position, stage in enumerate(STAGES):
        stage_ms[stage] = summarize(outcome.stage_s[position] * 1e3 for outcome in completed)
    return {
        "requests": len(outcomes),
        "completed": len(completed),
        "dropped": len(outcomes) - len(completed),
        "dropped_by_stage": {stage: count for stage, count in pipeline.dropped_by_stage.items() if count},
        "elapsed_s": elapsed_s,
        "latency_ms": summarize(outcome.latency_ms for outcome in completed),
        "latency_curve_ms": percentile_curve(outcome.latency_ms for outcome in completed),
        "service_ms": summarize(outcome.service_ms for outcome in completed),
        "stage_ms": stage_ms,
        "misses": {
            "over_target_ms": settings.target_latency_ms,
            "over_target": sum(not o.completed or o.latency_ms > settings.target_latency_ms for o in outcomes),
            "over_limit_ms": settings.max_latency_ms,
            "over_limit": sum(not o.completed or o.latency_ms > settings.max_latency_ms for o in outcomes),
        },
        "slowest": [_describe(outcome) for outcome in sorted(outcomes, key=lambda o: o.latency_ms)[-SLOWEST:][::-1]],
        "pipeline_accuracy": _accuracy(outcomes, labels, indices),
        "quality_scores": _quality_scores(outcomes, settings.quality_threshold),
        "quality_control": pipeline.controller.summary(),
        "awareness_cache": pipeline.awareness.cache.summary(),
        "monitor": pipeline.monitor.summary(pipeline.clock()),
    }


def run_realtime(
    pipeline: MetaPipeline,
    samples: np.ndarray,
    labels: np.ndarray | None,
    config: ScenarioConfig,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    offsets = arrival_offsets(config)
    outcomes: list[RequestOutcome] = []
    pipeline.monitor.sample_resources(clock())
    start = clock() + 0.005
    for index, offset in enumerate(offsets):
        due = start + offset
        wait = due - clock()
        if wait > SPIN_S:
            sleep(wait - SPIN_S)
        while clock() < due:
            pass
        outcomes.append(pipeline.process(samples[index % len(samples)], arrival=due))
    elapsed = clock() - start
    indices = [index % len(samples) for index in range(len(outcomes))]
    result = summarize_outcomes(pipeline, outcomes, elapsed, labels, indices)
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
    outcomes: list[RequestOutcome] = []
    pipeline.monitor.sample_resources(clock())
    start = clock()
    give_up = start + config.duration_s * config.max_duration_factor
    while True:
        now = clock()
        if (now - start >= config.duration_s and len(outcomes) >= config.min_queries) or now >= give_up:
            break
        outcomes.append(pipeline.process(samples[len(outcomes) % len(samples)]))
    elapsed = clock() - start
    indices = [index % len(samples) for index in range(len(outcomes))]
    result = summarize_outcomes(pipeline, outcomes, elapsed, labels, indices)
    result["min_queries"] = config.min_queries
    result["reached_min_queries"] = len(outcomes) >= config.min_queries
    return result


def run_throughput(
    pipeline: MetaPipeline,
    samples: np.ndarray,
    labels: np.ndarray | None,
    config: ScenarioConfig,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    outcomes: list[RequestOutcome] = []
    batch_ms: list[float] = []
    model_s = 0.0
    size = config.batch_size
    pipeline.monitor.sample_resources(clock())
    start = clock()
    while not batch_ms or clock() - start < config.duration_s:
        first = len(outcomes)
        rows = np.arange(first, first + size) % len(samples)
        began = clock()
        results = pipeline.process_batch(samples[rows], deadline=math.inf)
        batch_ms.append((clock() - began) * 1e3)
        model_s += results[0].stage_s[0]
        outcomes.extend(results)
    elapsed = clock() - start
    indices = [index % len(samples) for index in range(len(outcomes))]
    result = summarize_outcomes(pipeline, outcomes, elapsed, labels, indices)
    result["batch_size"] = size
    result["batches"] = len(batch_ms)
    result["batch_ms"] = summarize(batch_ms)
    result["samples_per_s"] = len(outcomes) / elapsed if elapsed > 0 else None
    result["model_samples_per_s"] = len(outcomes) / model_s if model_s > 0 else None
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
