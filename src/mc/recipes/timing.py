"""The side-by-side timing of a run's variants, in a fresh process of its own.

Each variant's model alone at batch 1 on its own example input (mc.runtimes: a seeded sample for a
classifier, a 64-token paragraph for a text model), in interleaved rounds, so drift on a shared
machine hits all of them alike: the ratio of two variants from here is what `mc report compare`
gates. Variants of one workload are timed together; a run that mixes workloads times each group in
its own rounds (a ratio across workloads would mean nothing). A fresh process gets the target's
thread limits and passive OpenMP waiting before torch loads (the parent of `mc run` has trained and
exported in its own threads), and models opened for shared cores (ORT sessions that do not spin).

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


def measure(paths: dict[str, str], threads: int, input_shape: tuple[int, ...] | None,
            target: str | None = None) -> dict[str, Any]:
    from mc.runtimes import open_model
    from mc.targets import load_target
    from mc.timing import interleaved_ms

    profile = load_target(target) if target else None
    opened = {name: open_model(spec, profile, threads=threads, input_shape=input_shape, shared_cores=True)
              for name, spec in paths.items()}
    groups: dict[str, list[str]] = {}
    for name, model in opened.items():
        groups.setdefault(model.workload, []).append(name)
    pipeline = groups.get("pipeline", [])
    if len({opened[name].sample_shape for name in pipeline}) > 1:
        return {"error": "the variants take different input shapes: no common sample to time them on"}
    medians: dict[str, float] = {}
    for names in groups.values():
        medians.update(interleaved_ms(
            {name: opened[name].predictor for name in names}, None, rounds=ROUNDS, calls=CALLS, warmup=WARMUP,
            block_ms=BLOCK_MS, inputs={name: opened[name].example_input() for name in names},
        ))
    method = "interleaved rounds in one fresh process; median over rounds of each round's mean"
    if len(groups) > 1:
        method += "; each workload (" + ", ".join(sorted(groups)) + ") timed in its own rounds"
    return {"median_ms": {name: medians[name] for name in paths}, "rounds": ROUNDS, "calls_per_round": CALLS,
            "block_ms": BLOCK_MS, "threads": threads, "batch": 1, "method": method,
            "workload": {name: model.workload for name, model in opened.items()}}


def time_side_by_side(paths: dict[str, str], threads: int, input_shape: tuple[int, ...] | None,
                      target: str | None = None) -> dict[str, Any]:
    """Run `measure` in a fresh process under the thread limits; a failure is recorded, not raised
    (the bench has already judged every variant; only the ratios would be missing). `target` (a
    profile name) chooses the runtimes' providers as the bench did; None: the CPU."""
    from mc.bench.worker import thread_environment
    from mc.processes import die_with_parent

    with tempfile.TemporaryDirectory(prefix="mc-timing-") as tmp:
        request, result = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request.write_text(json.dumps({"paths": paths, "threads": threads, "input_shape": list(input_shape) if input_shape else None,
                                       "target": target}))
        try:
            completed = subprocess.run([sys.executable, "-m", "mc.recipes.timing", str(request), str(result)],
                                       env={**os.environ, **thread_environment(threads)}, capture_output=True,
                                       text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL,
                                       preexec_fn=die_with_parent())
        except subprocess.TimeoutExpired:
            return {"error": f"side-by-side timing took over {TIMEOUT_S} s and was stopped"}
        if completed.returncode != 0 or not result.exists():
            tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": f"side-by-side timing failed (exit {completed.returncode}): {tail[:300]}"}
        return json.loads(result.read_text())


def _main(request_path: str, result_path: str) -> None:
    request = json.loads(Path(request_path).read_text())
    shape = tuple(request["input_shape"]) if request["input_shape"] else None
    outcome = measure(request["paths"], request["threads"], shape, request.get("target"))
    Path(result_path).write_text(json.dumps(outcome))


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
