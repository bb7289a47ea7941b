"""Latency statistics the way the benchmark method asks for them: nearest-rank percentiles, and no
percentile reported from too few samples.

Nearest rank (not interpolation) because every reported figure is then a latency that really
happened, and because it is what MLPerf LoadGen reports. A tail percentile from a handful of
queries is mostly noise, so a percentile is null until there are enough queries for it.

A long run cannot keep every latency (a 1000 Hz hour is 3.6 M of them per statistic), so a run
streams them into a `LatencyStream`: count, mean, min and max stay exact however long it runs, and
the percentiles are exact nearest-rank values while the run fits its reservoir (100 000 samples by
default). Beyond it they are nearest-rank values of a uniform random sample of that size (reservoir
sampling, Li's algorithm L), and the summary says so ("reservoir of N"): the rank of an
estimated p-th percentile is off by about sqrt(p (1 - p) / N) of the run, 0.03 percentile points at
p99 with N = 100 000.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

REPORTED_PERCENTILES = (50, 90, 95, 99)
RESERVOIR = 100_000  # samples a stream keeps: 800 kB, and exact percentiles up to this many requests

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


class ExactSum:
    """A running sum with no rounding error until it is read: its mean over millions of requests
    equals math.fsum of every value, bit for bit, without keeping the values.

    Values wait in a small buffer (an append, so a request pays almost nothing); a full buffer is
    folded into a few floats whose exact sum is the exact sum so far: math.fsum gives the rounded
    total, and fsum again over the terms less that total gives what rounding left, until nothing is
    left (each round shrinks it by 2**-52, so two or three rounds).
    """

    __slots__ = ("count", "_partials", "_buffer")
    BUFFER = 512

    def __init__(self) -> None:
        self.count = 0
        self._partials: list[float] = []
        self._buffer = array("d")

    def add(self, value: float) -> None:
        self.count += 1
        self._buffer.append(value)
        if len(self._buffer) >= self.BUFFER:
            self._fold()

    def _fold(self) -> None:
        terms = [*self._partials, *self._buffer]
        folded: list[float] = []
        while terms:
            rounded = math.fsum(terms)
            if rounded == 0.0:
                break
            folded.append(rounded)
            if not math.isfinite(rounded):  # a NaN or an overflow: there is no exact sum to keep
                break
            terms.append(-rounded)
        self._partials = folded
        self._buffer = array("d")

    @property
    def total(self) -> float:
        return math.fsum([*self._partials, *self._buffer])

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


class RunningStats:
    """Count, exact mean, max and the latest value of a series nobody needs whole (a monitor's
    resource samples, once a second for as long as a run lasts)."""

    __slots__ = ("_sum", "maximum", "last")

    def __init__(self) -> None:
        self._sum = ExactSum()
        self.maximum: float | None = None
        self.last: float | None = None

    def add(self, value: float) -> None:
        self._sum.add(value)
        self.maximum = value if self.maximum is None else max(self.maximum, value)
        self.last = value

    @property
    def count(self) -> int:
        return self._sum.count

    @property
    def mean(self) -> float | None:
        return self._sum.mean

    def __bool__(self) -> bool:
        return self._sum.count > 0


class LatencyStream:
    """`summarize` and `percentile_curve` for a run of any length in bounded memory.

    Exact (identical to `summarize` of every value) while at most `capacity` values have been
    added; after that count, mean, min and max stay exact and the percentiles come from a uniform
    sample of `capacity` values, which `method` and the summary's `percentile_method` state. The
    sample is seeded, so a run's figures do not change between reads.
    """

    __slots__ = ("capacity", "_sum", "minimum", "maximum", "_kept", "_random", "_weight", "_next")

    def __init__(self, capacity: int = RESERVOIR, seed: int = 0):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._sum = ExactSum()
        self.minimum = math.inf
        self.maximum = -math.inf
        self._kept = array("d")  # 8 bytes a value, grown as values arrive (a short run pays little)
        self._random = random.Random(seed)
        self._weight = 1.0
        self._next = capacity  # the count at which the next value replaces a kept one

    def add(self, value: float) -> None:
        self._sum.add(value)
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        count = self._sum.count
        if count <= self.capacity:
            self._kept.append(value)
            if count == self.capacity:
                self._skip()
        elif count == self._next:
            self._kept[self._random.randrange(self.capacity)] = value
            self._skip()

    def _skip(self) -> None:
        """Li's algorithm L: how many values to pass over before the next one is kept, drawn so that
        every value so far is in the sample with the same probability (capacity / count), at a few
        random draws per kept value instead of one per value."""
        draw = self._random.random
        self._weight *= math.exp(math.log(1.0 - draw()) / self.capacity)
        if self._weight >= 1.0:  # 1 - weight underflowed: keep the very next value
            self._next += 1
            return
        self._next += math.floor(math.log(1.0 - draw()) / math.log1p(-self._weight)) + 1

    @property
    def count(self) -> int:
        return self._sum.count

    @property
    def exact(self) -> bool:
        return self._sum.count <= self.capacity

    @property
    def method(self) -> str:
        return "exact" if self.exact else f"reservoir of {self.capacity}"

    def summary(self) -> dict[str, Any]:
        """`summarize`'s figures (a percentile null below its minimum query count), plus the method."""
        count = self.count
        ordered = sorted(self._kept)
        summary: dict[str, Any] = {"count": count, "mean": self._sum.mean}
        for percentile in REPORTED_PERCENTILES:
            summary[f"p{percentile}"] = nearest_rank(ordered, percentile) if count >= min_queries(percentile) else None
        summary["max"] = self.maximum if count else None
        summary["percentile_method"] = self.method
        return summary

    def curve(self) -> list[float]:
        """`percentile_curve`; once estimated, its ends are still the exact minimum and maximum."""
        curve = percentile_curve(self._kept)
        if curve and not self.exact:
            curve[0], curve[-1] = self.minimum, self.maximum
        return curve
