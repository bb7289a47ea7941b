"""Latency ratios with a 95% confidence interval, measured until they are narrow enough to decide.

A single ratio of two medians says nothing about how far it can be trusted: on a shared 2-core VM
two runs of the same pair can differ by 10%, enough to flip a "1.05x faster" verdict. Interleaved
rounds are paired (every predictor runs within milliseconds of the others in the same round, so
drift on the machine hits them alike), hence the ratio is taken per round (predictor mean /
reference mean in that round), and the interval is a seeded percentile bootstrap over rounds of the
median ratio: it needs no normality assumption, the median shrugs off a round hit by a burst of
noise, and the same rounds always give the same interval.

Rounds are added until every interval is narrower than `target_width` (relative, each side) or
`max_seconds` is spent, after at least `min_rounds`: a clear 2x difference is decided in a few
seconds, a near-tie gets the time it needs, and nothing runs without bound.

A ratio whose interval overlaps the parity band [1 - band, 1 + band] is `indistinguishable` from the
reference: "no difference that this machine can show" is an answer, not a failure.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from mc.runtimes import Predictor
from mc.timing import calls_per_round, feeds_for, round_means

Verdict = Literal["faster", "slower", "indistinguishable"]

PARITY_BAND = 0.03  # ratios within 3% of 1 cannot be told apart on a shared machine
TARGET_WIDTH = 0.03  # stop once every interval is within +-3% of its ratio
RESAMPLES = 2000
CONFIDENCE = 0.95
MIN_ROUNDS = 9
MAX_ROUNDS = 1000  # the time budget is the real limit; this bounds the bootstrap
CHECK_EVERY = 3  # rounds between interval checks (the bootstrap is cheap, but not free)


@dataclass(frozen=True)
class RatioInterval:
    ratio: float  # median over rounds of (this predictor's mean / the reference's mean) in the round
    low: float
    high: float
    verdict: Verdict
    rounds: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RatioTiming:
    reference: str
    median_ms: dict[str, float]  # median over rounds of each round's mean, as interleaved_ms gives
    ratios: dict[str, RatioInterval]  # every predictor, the reference included (1.0, [1, 1])
    rounds: int
    seconds: float


def verdict(low: float, high: float, band: float = PARITY_BAND) -> Verdict:
    """Faster or slower only when the whole interval clears the parity band."""
    if high < 1 - band:
        return "faster"
    if low > 1 + band:
        return "slower"
    return "indistinguishable"


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def median_interval(ratios: list[float] | np.ndarray, resamples: int = RESAMPLES, seed: int = 0,
                    confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(median, low, high): percentile bootstrap of the median over rounds, seeded so a report is
    reproducible from its rounds."""
    values = np.asarray(ratios, dtype=float)
    median = float(np.median(values))
    if len(values) < 2:
        return median, median, median
    rng = np.random.default_rng(seed)
    medians = np.median(values[rng.integers(0, len(values), size=(resamples, len(values)))], axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return median, float(low), float(high)


def narrow_enough(interval: tuple[float, float, float], target_width: float) -> bool:
    median, low, high = interval
    return median > 0 and (high - low) / 2 <= target_width * median


def interleaved_ratios(
    predictors: dict[str, Predictor], sample: Any, reference: str, *, calls: int = 40, warmup: int = 20,
    block_ms: float | None = None, inputs: dict[str, Any] | None = None, min_rounds: int = MIN_ROUNDS,
    max_rounds: int = MAX_ROUNDS, max_seconds: float = 30.0, target_width: float = TARGET_WIDTH,
    band: float = PARITY_BAND, seed: int = 0,
) -> RatioTiming:
    """Each predictor's latency ratio to `reference` with its interval (see the module docstring).

    The order within a round alternates (forward, then backward), so that no predictor always runs
    right after the same neighbour (caches, turbo states).
    """
    if reference not in predictors:
        raise ValueError(f"the reference {reference!r} is not among the predictors timed")
    feeds = feeds_for(predictors, sample, inputs)
    per_round = calls_per_round(predictors, feeds, calls, warmup, block_ms)
    names = list(predictors)
    means: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    intervals: dict[str, tuple[float, float, float]] = {}
    while True:
        order = names if len(means[reference]) % 2 == 0 else names[::-1]
        for name, mean in round_means({name: predictors[name] for name in order}, feeds, per_round).items():
            means[name].append(mean)
        done = len(means[reference])
        spent = time.perf_counter() - start
        out_of_time = spent >= max_seconds or done >= max_rounds
        if done < min_rounds or (done % CHECK_EVERY and not out_of_time):
            continue
        base = np.asarray(means[reference])
        intervals = {name: median_interval(np.asarray(means[name]) / base, seed=seed) for name in names if name != reference}
        if out_of_time or all(narrow_enough(interval, target_width) for interval in intervals.values()):
            break
    ratios = {name: RatioInterval(ratio, low, high, verdict(low, high, band), done) for name, (ratio, low, high) in intervals.items()}
    ratios[reference] = RatioInterval(1.0, 1.0, 1.0, "indistinguishable", done)
    return RatioTiming(reference, {name: statistics.median(values) for name, values in means.items()},
                       {name: ratios[name] for name in names}, done, time.perf_counter() - start)


def onnx_latency_ratios(paths: dict[str, Any], reference: str, threads: int, sample: Any, **kwargs) -> RatioTiming:
    """`interleaved_ratios` over ONNX files, each in ONNX Runtime with `threads` intra-op threads."""
    from mc.runtimes import open_onnx

    shared = threads > 1 and len(paths) > 1  # several multi-threaded sessions must not spin against each other
    predictors = {name: open_onnx(path, threads=threads, shared_cores=shared) for name, path in paths.items()}
    return interleaved_ratios(predictors, sample, reference, **kwargs)
