"""What a long bench keeps in memory per request: the scenario loop over the real meta pipeline, on
a runtime whose outputs cost nothing (so the loop runs as fast as the pipeline allows).

    python benchmarks/bench_memory.py [--requests 200000] [--reservoir N]

A 1000 Hz real-time run of an hour is 3.6 M requests: whatever the loop keeps per request is
multiplied by that. Python's allocations are traced (tracemalloc) while the closed-loop scenario
runs, and the traced size is read at request counts along the way, so the figures are bytes per
request in two stretches: before the latency reservoir is full (its samples are still being kept:
8 bytes per statistic per request) and after it (nothing should grow any more), plus the peak
over the whole run. Tracing slows the loop; absolute speed here means nothing.

Measured on a 2-core VM, 200 000 requests: before the bounded tally, 842 bytes/request and a
189.5 MB peak; after it, 65 bytes/request while the 100 000-sample reservoirs fill (8 statistics
x 8 bytes), 0 after, and a 10.7 MB peak.
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc

import numpy as np

from mc.bench.control import FixedOutputPredictor
from mc.bench.scenarios import ScenarioConfig, run_latency
from mc.pipeline import MetaPipeline


class SnapshotClock:
    """The scenario's clock, which also reads the traced size at the given call counts: the closed
    loop calls it once per request, so call counts are request counts (to within a few)."""

    def __init__(self, at: list[int]):
        self.calls = 0
        self.at = set(at)
        self.traced: dict[int, int] = {}

    def __call__(self) -> float:
        self.calls += 1
        if self.calls in self.at:
            self.traced[self.calls] = tracemalloc.get_traced_memory()[0]
        return time.perf_counter()


def measure(requests: int, reservoir: int | None) -> dict[str, float]:
    fields = ScenarioConfig.model_fields
    settings: dict[str, object] = {"name": "latency", "duration_s": 1e-3, "min_queries": requests,
                                   "max_duration_factor": 1e7, "warmup_queries": 0}
    if "reservoir" in fields:  # absent before the fix: run against an older checkout for the "before" figures
        settings["reservoir"] = reservoir or fields["reservoir"].default
    config = ScenarioConfig(**settings)
    cap = settings.get("reservoir")
    cap = int(cap) if cap is not None else requests  # before the fix nothing was capped
    # Stretches: from 10 % to 90 % of the cap (all kept), and from 110 % of it to the end (bounded).
    fill = (max(1, min(cap, requests) // 10), max(2, 9 * min(cap, requests) // 10))
    full = (min(requests - 2, 11 * cap // 10), requests - 1)
    clock = SnapshotClock([*fill, *full])
    pipeline = MetaPipeline(FixedOutputPredictor.seeded(64))
    samples = np.zeros((64, 1, 40), np.float32)
    labels = np.zeros(64, np.int64)
    tracemalloc.start()
    began = time.perf_counter()
    result = run_latency(pipeline, samples, labels, config, clock=clock)
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    def per_request(first: int, last: int) -> float:
        if first not in clock.traced or last not in clock.traced or last <= first:
            return math.nan
        return (clock.traced[last] - clock.traced[first]) / (last - first)

    return {
        "requests": result["requests"],
        "cap": cap,
        "method": result["latency_ms"].get("percentile_method", "exact (every sample kept)"),
        "before_cap": per_request(*fill),
        "after_cap": per_request(*full) if cap < requests else math.nan,
        "peak_mb": peak / 1e6,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--reservoir", type=int, default=None, help="latency samples kept per statistic [default: the scenario's]")
    args = parser.parse_args()
    figures = measure(args.requests, args.reservoir)
    print(f"{figures['requests']:,} requests through the meta pipeline (fixed-output runtime), "
          f"{figures['seconds']:.1f} s traced; percentiles: {figures['method']}")
    print(f"  bytes/request while the reservoir fills (up to {figures['cap']:,}): {figures['before_cap']:.1f}")
    print(f"  bytes/request after it is full:                            {figures['after_cap']:.1f}")
    print(f"  peak traced memory over the run: {figures['peak_mb']:.1f} MB")
    hour = 1000 * 3600
    growth = figures["after_cap"] if not math.isnan(figures["after_cap"]) else figures["before_cap"]
    print(f"  a 1000 Hz, 3600 s run would add about {growth * hour / 1e9:.2f} GB beyond the cap")


if __name__ == "__main__":
    main()
