"""Latency of ONNX models measured side by side: interleaved rounds, so that drift on a shared
machine hits every candidate alike, under the target's thread count."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np


def open_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def interleaved_latency_ms(
    paths: dict[str, Path], sample: np.ndarray, threads: int, rounds: int = 9, calls: int = 40, warmup: int = 20
) -> dict[str, float]:
    """Median over rounds of the mean batch-`len(sample)` latency of each model, in milliseconds."""
    sessions = {name: open_session(path, threads) for name, path in paths.items()}
    feeds = {name: {session.get_inputs()[0].name: sample} for name, session in sessions.items()}
    for name, session in sessions.items():
        for _ in range(warmup):
            session.run(None, feeds[name])
    rounds_ms: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            feed = feeds[name]
            start = time.perf_counter()
            for _ in range(calls):
                session.run(None, feed)
            rounds_ms[name].append((time.perf_counter() - start) / calls * 1e3)
    return {name: statistics.median(values) for name, values in rounds_ms.items()}
