"""Latency measured side by side: interleaved rounds, so that drift on a shared machine hits every
candidate alike. Results are compared as ratios measured in one run, never as absolute times."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from mc.runtimes._predictor import Predictor


def interleaved_ms(
    predictors: dict[str, Predictor], sample: np.ndarray, rounds: int = 9, calls: int = 40, warmup: int = 20
) -> dict[str, float]:
    """Median over rounds of each predictor's mean latency on `sample`, in milliseconds."""
    for predictor in predictors.values():
        for _ in range(warmup):
            predictor.predict(sample)
    rounds_ms: dict[str, list[float]] = {name: [] for name in predictors}
    for _ in range(rounds):
        for name, predictor in predictors.items():
            start = time.perf_counter()
            for _ in range(calls):
                predictor.predict(sample)
            rounds_ms[name].append((time.perf_counter() - start) / calls * 1e3)
    return {name: statistics.median(values) for name, values in rounds_ms.items()}


def onnx_latency_ms(paths: dict[str, Path], sample: np.ndarray, threads: int, **kwargs) -> dict[str, float]:
    """`interleaved_ms` over ONNX files, each in ONNX Runtime with `threads` intra-op threads."""
    from mc.runtimes.onnxruntime import OnnxRuntimePredictor

    return interleaved_ms({name: OnnxRuntimePredictor(path, threads=threads) for name, path in paths.items()}, sample, **kwargs)
