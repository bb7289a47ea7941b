"""What a run keeps about its requests: counts, streamed statistics and the few slowest, in memory
that does not grow with the run.

A scenario used to keep every RequestOutcome (with its unified result and quality scores) and
summarize the list at the end: about a kilobyte per request, 4 GB for a 1000 Hz hour. Each outcome
is now folded in as it arrives and dropped: counts, misses and accuracy are exact counters, means
exact sums, and latencies go to `LatencyStream`s, exact up to their reservoir and stated as
estimated beyond it. Only the `slowest` outcomes are kept whole, to say where their time went.
"""

from __future__ import annotations

import heapq
from typing import Any

from mc.percentiles import RESERVOIR, ExactSum, LatencyStream
from mc.pipeline.assessor import QualityScores
from mc.pipeline.processor import STAGES, RequestOutcome

QUALITY_DIMENSIONS = ("coherence", "depth", "authenticity", "integration", "overall")
SLOWEST = 5  # requests described one by one in a result, slowest first


class QualityTally:
    """The quality assessor's scores over a run: means per dimension, categories, the share at or
    above the threshold, and how long assessing took."""

    def __init__(self, threshold: float, reservoir: int = RESERVOIR):
        self.threshold = threshold
        self.frames = 0
        self.sums = {dimension: ExactSum() for dimension in QUALITY_DIMENSIONS}
        self.categories: dict[str, int] = {}
        self.at_or_above = 0
        self.not_fully_assessed = 0
        self.assessment_ms = LatencyStream(reservoir)

    def add(self, score: QualityScores) -> None:
        self.frames += 1
        for dimension, total in self.sums.items():
            value = getattr(score, dimension)
            if value is not None:
                total.add(value)
        self.categories[score.category] = self.categories.get(score.category, 0) + 1
        self.at_or_above += score.overall >= self.threshold
        self.not_fully_assessed += score.assessed < 4
        self.assessment_ms.add(score.seconds * 1e3)

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = {"frames": self.frames, "threshold": self.threshold}
        result.update({dimension: total.mean for dimension, total in self.sums.items()})
        result["categories"] = dict(self.categories)
        result["at_or_above_threshold"] = self.at_or_above / self.frames if self.frames else None
        result["not_fully_assessed"] = self.not_fully_assessed
        result["assessment_ms"] = self.assessment_ms.summary()
        return result


class RequestTally:
    """Folds in one RequestOutcome at a time; `summary()` gives what every scenario reports."""

    def __init__(self, target_ms: float, limit_ms: float, quality_threshold: float, reservoir: int = RESERVOIR):
        self.target_ms, self.limit_ms = target_ms, limit_ms
        self.requests = 0
        self.completed = 0
        self.over_target = 0
        self.over_limit = 0
        self.latency_ms = LatencyStream(reservoir)
        self.service_ms = LatencyStream(reservoir)
        self.stage_ms = {stage: LatencyStream(reservoir) for stage in STAGES}
        self.quality = QualityTally(quality_threshold, reservoir)
        self.labelled = 0
        self.correct = 0
        self._slowest: list[tuple[float, int, RequestOutcome]] = []  # a min-heap of the SLOWEST largest

    def add(self, outcome: RequestOutcome, label: Any = None) -> None:
        """One request, delivered or dropped; `label` is its true class where the data has one."""
        self.requests += 1
        latency = outcome.latency_ms
        entry = (latency, outcome.request, outcome)
        if len(self._slowest) < SLOWEST:
            heapq.heappush(self._slowest, entry)
        elif entry[:2] > self._slowest[0][:2]:
            heapq.heapreplace(self._slowest, entry)
        if not outcome.completed:  # a dropped request misses both deadlines
            self.over_target += 1
            self.over_limit += 1
            return
        self.completed += 1
        self.over_target += latency > self.target_ms
        self.over_limit += latency > self.limit_ms
        self.latency_ms.add(latency)
        self.service_ms.add(outcome.service_ms)
        for stage, seconds in zip(STAGES, outcome.stage_s):
            self.stage_ms[stage].add(seconds * 1e3)
        if outcome.quality is not None:
            self.quality.add(outcome.quality)
        if label is not None:
            self.labelled += 1
            self.correct += int(outcome.predicted == label)

    @property
    def slowest(self) -> list[RequestOutcome]:
        """The slowest requests, slowest first (of equal latencies, the later request first)."""
        return [outcome for _, _, outcome in sorted(self._slowest, key=lambda entry: entry[:2], reverse=True)]

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "completed": self.completed,
            "dropped": self.requests - self.completed,
            "latency_ms": self.latency_ms.summary(),
            "latency_curve_ms": self.latency_ms.curve(),
            "service_ms": self.service_ms.summary(),
            "stage_ms": {stage: stream.summary() for stage, stream in self.stage_ms.items()},
            "misses": {
                "over_target_ms": self.target_ms,
                "over_target": self.over_target,
                "over_limit_ms": self.limit_ms,
                "over_limit": self.over_limit,
            },
            "pipeline_accuracy": self.correct / self.labelled if self.labelled else None,
            "quality_scores": self.quality.summary(),
        }
