"""Latency statistics the way the benchmark method asks for them: nearest-rank percentiles, and no
percentile reported from too few samples.

Nearest rank (not interpolation) because every reported figure is then a latency that really
happened, and because it is what MLPerf LoadGen reports. A tail percentile from a handful of
queries is mostly noise, so a percentile is null until there are enough queries for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

REPORTED_PERCENTILES = (50, 90, 95, 99)

# The design's minimum query counts (64 for p90, 662 for p99) both follow from one rule: the smallest
# n with (p/100)^n <= 0.0013, i.e. with 99.87 % probability at least one of n queries lands above the
# true p-th percentile, so the reported one is not simply the sample maximum of a too-small run.
# The same rule gives 10 for p50 and 130 for p95.
_TAIL_MISS_PROBABILITY = 0.0013


def min_queries(percentile: float) -> int:
    """How many queries a run needs before its `percentile`-th percentile is reported."""
    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be in (0, 100), got {percentile}")
    return math.ceil(math.log(_TAIL_MISS_PROBABILITY) / math.log(percentile / 100.0))


def nearest_rank(sorted_values: Sequence[float], percentile: float) -> float:
    """The value at rank ceil(p/100 * n) (1-based) of ascending `sorted_values`; p=0 gives the minimum."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    rank = max(1, math.ceil(percentile / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(values: Iterable[float]) -> dict[str, float | int | None]:
    """count, mean, p50, p90, p95, p99 and max; a percentile is None below its minimum query count."""
    ordered = sorted(values)
    count = len(ordered)
    summary: dict[str, float | int | None] = {
        "count": count,
        "mean": math.fsum(ordered) / count if count else None,
    }
    for percentile in REPORTED_PERCENTILES:
        enough = count >= min_queries(percentile)
        summary[f"p{percentile}"] = nearest_rank(ordered, percentile) if enough else None
    summary["max"] = ordered[-1] if count else None
    return summary


def percentile_curve(values: Iterable[float]) -> list[float]:
    """The nearest-rank value at every whole percentile 0..100 (101 numbers): a distribution that a
    report can plot (ECDF, box) without keeping every sample; empty for no values."""
    ordered = sorted(values)
    if not ordered:
        return []
    return [nearest_rank(ordered, percentile) for percentile in range(101)]
