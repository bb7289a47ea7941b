"""The side-by-side timing of a run's variants, in a fresh process of its own.

Each variant's model alone at batch 1 on its own example input (mc.runtimes: a seeded sample for a
classifier, a 64-token paragraph for a text model), in interleaved rounds, so drift on a shared
machine hits all of them alike: the ratio of two variants from here is what `mc report compare`
gates. Variants of one workload are timed together; a run that mixes workloads times each group in
its own rounds (a ratio across workloads would mean nothing). A fresh process gets the target's
thread limits and passive OpenMP waiting before torch loads (the parent of `mc run` has trained and
exported in its own threads), and models opened for shared cores (ORT sessions that do not spin).
Variants that run on different thread counts (an mc optimize folder that measured fewer faster) are
each opened in a worker of their own instead, since a process holds one count (see `_open_all`).

Run as `python -m mc.recipes.timing REQUEST.json RESULT.json`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

MIN_ROUNDS = 15
MAX_SECONDS = 30.0  # per workload group: rounds stop earlier once every ratio's interval is within +-3%
CALLS = 40
BLOCK_MS = 20.0  # per variant per round: a slow variant makes fewer calls, not a longer run
WARMUP = 10
TIMEOUT_S = 600


def measure(paths: dict[str, str], threads: int, input_shape: tuple[int, ...] | None,
            target: str | None = None, reference: str | None = None, max_seconds: float = MAX_SECONDS) -> dict[str, Any]:
    """Medians for every variant and, for the variants timed with `reference` (same workload), each
    one's ratio to it with a 95% interval and a verdict (mc.ratios); rounds are added until every
    interval is within +-3% or `max_seconds` is spent. Without a reference (or outside its workload),
    medians only: a ratio is taken only within one set of interleaved rounds."""
    from mc.targets import load_target

    profile = load_target(target) if target else None
    with ExitStack() as workers:
        opened, isolated = _open_all(paths, profile, threads, input_shape, workers)
        return _measure_opened(opened, isolated, paths, threads, reference, max_seconds)


def _open_all(paths: dict[str, str], profile: Any, threads: int, input_shape: tuple[int, ...] | None,
              workers: ExitStack) -> tuple[dict[str, Any], bool]:
    """Every variant opened for timing, and whether each is in a worker process of its own.

    Variants that run on different thread counts (an mc optimize folder records fewer threads where it
    measured them faster) cannot share one process: torch's thread count and ExecuTorch's XNNPACK
    pool are one per process, so the variant opened last would set, or be held to, the others' count.
    Then each opens in an IsolatedPredictor under its own count's limits, and times its blocks there.
    """
    from mc.runtimes import open_model, threads_for
    from mc.runtimes.isolated import IsolatedPredictor

    counts = {threads_for(spec, threads, profile)[0] for spec in paths.values()}
    if len(counts) <= 1:
        return {name: open_model(spec, profile, threads=threads, input_shape=input_shape, shared_cores=True)
                for name, spec in paths.items()}, False
    # all start together; each is waited for where it is first asked, and a failure is its one line
    return {name: workers.enter_context(IsolatedPredictor(spec, profile, threads, input_shape)) for name, spec in paths.items()}, True


def _measure_opened(opened: dict[str, Any], isolated: bool, paths: dict[str, str], threads: int, reference: str | None,
                    max_seconds: float) -> dict[str, Any]:
    from mc.ratios import interleaved_ratios
    from mc.timing import interleaved_ms

    groups: dict[str, list[str]] = {}
    for name, model in opened.items():
        groups.setdefault(model.workload, []).append(name)
    pipeline = groups.get("pipeline", [])
    if len({opened[name].sample_shape for name in pipeline}) > 1:
        return {"error": "the variants take different input shapes: no common sample to time them on"}
    medians: dict[str, float] = {}
    ratios: dict[str, dict[str, Any]] = {}
    rounds, seconds = MIN_ROUNDS, 0.0
    for names in groups.values():
        predictors = {name: opened[name].predictor for name in names}
        inputs = {name: opened[name].example_input() for name in names}
        if reference in names:
            found = interleaved_ratios(predictors, None, reference, calls=CALLS, warmup=WARMUP, block_ms=BLOCK_MS,
                                       inputs=inputs, min_rounds=MIN_ROUNDS, max_seconds=max_seconds)
            medians.update(found.median_ms)
            ratios = {name: interval.as_dict() for name, interval in found.ratios.items()}
            rounds, seconds = found.rounds, seconds + found.seconds
        else:
            medians.update(interleaved_ms(predictors, None, rounds=MIN_ROUNDS, calls=CALLS, warmup=WARMUP,
                                          block_ms=BLOCK_MS, inputs=inputs))
    method = ("interleaved rounds, each variant in a worker process of its own at its thread count (they differ)" if isolated
              else "interleaved rounds in one fresh process") + "; median over rounds of each round's mean"
    if ratios:
        method += (f"; ratios to {reference}: median of the per-round ratios, 95% bootstrap interval over rounds, "
                   f"rounds added until every interval is within +-3% or {max_seconds:g} s")
    if len(groups) > 1:
        method += "; each workload (" + ", ".join(sorted(groups)) + ") timed in its own rounds"
    return {"median_ms": {name: medians[name] for name in paths}, "rounds": rounds, "calls_per_round": CALLS,
            "block_ms": BLOCK_MS, "threads": threads, "batch": 1, "method": method,
            "workload": {name: model.workload for name, model in opened.items()},
            "variant_threads": {name: model.threads for name, model in opened.items()},
            "ratios": ratios, "reference": reference, "seconds": round(seconds, 2)}


def time_side_by_side(paths: dict[str, str], threads: int, input_shape: tuple[int, ...] | None,
                      target: str | None = None, reference: str | None = None, max_seconds: float = MAX_SECONDS) -> dict[str, Any]:
    """Run `measure` in a fresh process under the thread limits; a failure is recorded, not raised
    (the bench has already judged every variant; only the ratios would be missing). `target` (a
    profile name) chooses the runtimes' providers as the bench did; None: the CPU. `reference`: the
    variant every ratio is taken against."""
    from mc.processes import thread_environment
    from mc.processes import die_with_parent

    with tempfile.TemporaryDirectory(prefix="mc-timing-") as tmp:
        request, result = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request.write_text(json.dumps({"paths": paths, "threads": threads, "input_shape": list(input_shape) if input_shape else None,
                                       "target": target, "reference": reference, "max_seconds": max_seconds}))
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
    outcome = measure(request["paths"], request["threads"], shape, request.get("target"), request.get("reference"),
                      request.get("max_seconds", MAX_SECONDS))
    Path(result_path).write_text(json.dumps(outcome))


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
