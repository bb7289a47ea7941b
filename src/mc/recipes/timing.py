"""The side-by-side timing of a run's variants, in a fresh process of its own.

Each variant's model alone at batch 1, in interleaved rounds, so drift on a shared machine hits all
of them alike: the ratio of two variants from here is what `mc report compare` gates. A fresh
process gets the target's thread limits and passive OpenMP waiting before torch loads (the parent
of `mc run` has trained and exported in its own threads), and ORT sessions that do not spin.

Run as `python -m mc.recipes.timing REQUEST.json RESULT.json`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROUNDS = 15
CALLS = 40
BLOCK_MS = 20.0  # per variant per round: a slow variant makes fewer calls, not a longer run
WARMUP = 10
TIMEOUT_S = 600


def _predictor(spec: str, threads: int, input_shape: tuple[int, ...] | None):
    from mc.bench.variant import load_variant
    from mc.runtimes.onnxruntime import OnnxRuntimePredictor

    variant = load_variant(spec, threads, input_shape)
    predictor = variant.predictor
    if isinstance(predictor, OnnxRuntimePredictor) and predictor.providers[0] == "CPUExecutionProvider" and threads > 1:
        predictor = OnnxRuntimePredictor(Path(spec), threads=threads, spinning=False)
    return predictor, tuple(variant.sample_shape)


def measure(paths: dict[str, str], threads: int, input_shape: tuple[int, ...] | None) -> dict[str, Any]:
    import numpy as np

    from mc.timing import interleaved_ms

    predictors, shapes = {}, {}
    for name, spec in paths.items():
        predictors[name], shapes[name] = _predictor(spec, threads, input_shape)
    if len(set(shapes.values())) > 1:
        return {"error": "the variants take different input shapes: no common sample to time them on"}
    sample = np.random.default_rng(0).standard_normal((1, *next(iter(shapes.values())))).astype(np.float32)
    medians = interleaved_ms(predictors, sample, rounds=ROUNDS, calls=CALLS, warmup=WARMUP, block_ms=BLOCK_MS)
    return {"median_ms": medians, "rounds": ROUNDS, "calls_per_round": CALLS, "block_ms": BLOCK_MS, "threads": threads,
            "batch": 1, "method": "interleaved rounds in one fresh process; median over rounds of each round's mean"}


def time_side_by_side(paths: dict[str, str], threads: int, input_shape: tuple[int, ...] | None) -> dict[str, Any]:
    """Run `measure` in a fresh process under the thread limits; a failure is recorded, not raised
    (the bench has already judged every variant; only the ratios would be missing)."""
    from mc.bench.worker import thread_environment

    with tempfile.TemporaryDirectory(prefix="mc-timing-") as tmp:
        request, result = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request.write_text(json.dumps({"paths": paths, "threads": threads, "input_shape": list(input_shape) if input_shape else None}))
        try:
            completed = subprocess.run([sys.executable, "-m", "mc.recipes.timing", str(request), str(result)],
                                       env={**os.environ, **thread_environment(threads)}, capture_output=True,
                                       text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return {"error": f"side-by-side timing took over {TIMEOUT_S} s and was stopped"}
        if completed.returncode != 0 or not result.exists():
            tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": f"side-by-side timing failed (exit {completed.returncode}): {tail[:300]}"}
        return json.loads(result.read_text())


def _main(request_path: str, result_path: str) -> None:
    request = json.loads(Path(request_path).read_text())
    shape = tuple(request["input_shape"]) if request["input_shape"] else None
    outcome = measure(request["paths"], request["threads"], shape)
    Path(result_path).write_text(json.dumps(outcome))


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
