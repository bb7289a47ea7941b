"""The measurement's control: a runtime whose outputs cost nothing, to price the pipeline itself.

Running the pipeline over a runtime that only hands back precomputed outputs, against a bare loop
over that same runtime, leaves exactly the pipeline's own cost per frame. The bench reports it next
to every variant, and the roofline estimate adds it to the model's estimate for the target.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from mc.percentiles import summarize
from mc.pipeline.processor import MetaPipeline
from mc.pipeline.settings import ProcessorSettings


class FixedOutputPredictor:
    """A real Predictor that returns rows of a fixed (logits, confidence) table in turn.

    With one row every state repeats (the awareness cache always hits); with more distinct rows
    than the cache holds every state is new (it always misses): the two ends of the pipeline's cost.
    """

    name = "fixed-output"

    def __init__(self, logits: np.ndarray, confidence: np.ndarray):
        self.logits = np.ascontiguousarray(logits, dtype=np.float32)
        self.confidence = np.ascontiguousarray(confidence, dtype=np.float32)
        if self.logits.ndim != 2 or self.confidence.shape != (self.logits.shape[0],):
            raise ValueError("logits must be (rows, classes) and confidence (rows,)")
        self._next = 0

    @classmethod
    def seeded(cls, rows: int, classes: int = 10, seed: int = 0) -> FixedOutputPredictor:
        rng = np.random.default_rng(seed)
        return cls(3.0 * rng.standard_normal((rows, classes)), rng.uniform(size=rows))

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        count = len(batch)
        rows = (np.arange(self._next, self._next + count) % len(self.logits)) if count > 1 else self._next
        self._next = (self._next + count) % len(self.logits)
        if count == 1:
            return [self.logits[rows : rows + 1], self.confidence[rows : rows + 1]]
        return [self.logits[rows], self.confidence[rows]]


def _timed(call: Callable[[], object], clock: Callable[[], float]) -> float:
    start = clock()
    call()
    return (clock() - start) * 1e3


def measure_pipeline_overhead(
    sample: np.ndarray,
    settings: ProcessorSettings,
    rows: int,
    queries: int = 2000,
    warmup: int = 200,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, object]:
    """Per-frame time of the whole pipeline against a bare loop, over the same control runtime,
    interleaved call by call so that drift on a shared machine hits both alike.

    `rows` distinct outputs: 1 for the cache-hit path, more than the cache holds for the miss path.
    """
    pipeline_runtime = FixedOutputPredictor.seeded(rows)
    bare_runtime = FixedOutputPredictor.seeded(rows)
    pipeline = MetaPipeline(pipeline_runtime, settings, clock=clock)
    batch = sample[None]
    for _ in range(warmup):
        pipeline.process(sample, deadline=float("inf"))
        bare_runtime.predict(batch)
    with_pipeline: list[float] = []
    bare: list[float] = []
    for _ in range(queries):
        with_pipeline.append(_timed(lambda: pipeline.process(sample, deadline=float("inf")), clock))
        bare.append(_timed(lambda: bare_runtime.predict(batch), clock))
    pipeline_summary, bare_summary = summarize(with_pipeline), summarize(bare)
    added = {
        key: (pipeline_summary[key] - bare_summary[key])  # type: ignore[operator]
        if pipeline_summary[key] is not None and bare_summary[key] is not None
        else None
        for key in ("mean", "p50", "p90", "p95", "p99")
    }
    return {
        "rows": rows,
        "cache": pipeline.awareness.cache.summary(),
        "pipeline_ms": pipeline_summary,
        "bare_ms": bare_summary,
        "added_ms": added,
    }
