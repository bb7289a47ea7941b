"""Latency measured side by side: interleaved rounds, so that drift on a shared machine hits every
candidate alike. Results are compared as ratios measured in one run, never as absolute times."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from mc.runtimes import Predictor


def interleaved_ms(
    predictors: dict[str, Predictor], sample: Any, rounds: int = 9, calls: int = 40, warmup: int = 20,
    block_ms: float | None = None, inputs: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Median over rounds of each predictor's mean latency on `sample`, in milliseconds.

    `inputs` gives predictors that take different inputs (text models, each fed by its own
    tokenizer) their own, by name; `sample` then feeds only those missing from it.
    With `block_ms`, a slow predictor makes fewer calls per round (at least one) so that one slow
    variant cannot stretch the whole measurement; the fast ones still make `calls`.
    """
    feeds = feeds_for(predictors, sample, inputs)
    per_round = calls_per_round(predictors, feeds, calls, warmup, block_ms)
    rounds_ms: dict[str, list[float]] = {name: [] for name in predictors}
    for _ in range(rounds):
        for name, mean in round_means(predictors, feeds, per_round).items():
            rounds_ms[name].append(mean)
    return {name: statistics.median(values) for name, values in rounds_ms.items()}


def feeds_for(predictors: dict[str, Predictor], sample: Any, inputs: dict[str, Any] | None) -> dict[str, Any]:
    return {name: (inputs or {}).get(name, sample) for name in predictors}


def calls_per_round(predictors: dict[str, Predictor], feeds: dict[str, Any], calls: int, warmup: int,
                    block_ms: float | None) -> dict[str, int]:
    """Warm every predictor up and, with `block_ms`, give a slow one fewer calls per round (at least
    one), so that one slow variant cannot stretch the whole measurement."""
    per_round = {name: calls for name in predictors}
    for name, predictor in predictors.items():
        warm_ms = timed_calls(predictor, feeds[name], warmup) / max(warmup, 1) * 1e3
        if block_ms is not None and warm_ms > 0:
            per_round[name] = max(1, min(calls, int(block_ms / warm_ms)))
    return per_round


def timed_calls(predictor: Predictor, feed: Any, count: int) -> float:
    """Seconds `count` calls on `feed` take; a predictor in a process of its own times them there
    (mc.runtimes.isolated: its `timed_calls`), so the pipe to it is no part of the figure."""
    own = getattr(predictor, "timed_calls", None)
    if own is not None:
        return float(own(feed, count))
    start = time.perf_counter()
    for _ in range(count):
        predictor.predict(feed)
    return time.perf_counter() - start


def round_means(predictors: dict[str, Predictor], feeds: dict[str, Any], per_round: dict[str, int]) -> dict[str, float]:
    """One round: each predictor's mean latency (ms) over its calls, one predictor after the other."""
    return {name: timed_calls(predictor, feeds[name], per_round[name]) / per_round[name] * 1e3
            for name, predictor in predictors.items()}


def onnx_latency_ms(paths: dict[str, Path], sample: np.ndarray, threads: int, **kwargs) -> dict[str, float]:
    """`interleaved_ms` over ONNX files, each in ONNX Runtime with `threads` intra-op threads."""
    from mc.runtimes import open_onnx

    shared = threads > 1 and len(paths) > 1  # several multi-threaded sessions must not spin against each other
    predictors = {name: open_onnx(path, threads=threads, shared_cores=shared) for name, path in paths.items()}
    return interleaved_ms(predictors, sample, **kwargs)
