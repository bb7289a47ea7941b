"""Quality levels and the adaptive controller that trades meta-cognitive depth for latency.

The seed's four levels (minimal, reduced, standard, enhanced) set how deep the recursive awareness
goes and how much introspection reports. The controller steps one level down when a window of
latencies averages over the hard limit and one level up when it averages under a fraction of the
target; each change is kept as data (when, from, to, why), never printed, so a bench can show it.
A controller that flaps for hours would keep a change every window: every change is counted, and
the most recent CHANGES_KEPT are kept as data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from mc.pipeline.settings import ProcessorSettings

CHANGES_KEPT = 1000


@dataclass(frozen=True, slots=True)
class QualityLevel:
    name: str
    recursion_depth: int  # levels of recursive awareness
    introspection_depth: int  # 1 minimal, 2 essential, 3 comprehensive: the most focus allowed
    alternatives: int  # how many classes an introspective report lists


QUALITY_LEVELS: tuple[QualityLevel, ...] = (
    QualityLevel("minimal", recursion_depth=1, introspection_depth=1, alternatives=1),
    QualityLevel("reduced", recursion_depth=2, introspection_depth=2, alternatives=2),
    QualityLevel("standard", recursion_depth=3, introspection_depth=3, alternatives=3),
    QualityLevel("enhanced", recursion_depth=4, introspection_depth=3, alternatives=5),
)


def level_named(name: str) -> QualityLevel:
    for level in QUALITY_LEVELS:
        if level.name == name:
            return level
    raise KeyError(f"no quality level {name!r}: {', '.join(level.name for level in QUALITY_LEVELS)}")


@dataclass(frozen=True, slots=True)
class QualityChange:
    request: int  # the request whose latency completed the deciding window
    at_s: float  # seconds since the pipeline started
    old: str
    new: str
    reason: str  # "over-limit" or "headroom"
    window_mean_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AdaptiveQualityController:
    """Decides once per `controller_window` requests, from the mean latency of that window."""

    def __init__(self, settings: ProcessorSettings):
        self.settings = settings
        self._index = next(i for i, level in enumerate(QUALITY_LEVELS) if level.recursion_depth == settings.recursion_depth)
        self.start_level = QUALITY_LEVELS[self._index].name
        self.changes: list[QualityChange] = []  # the most recent CHANGES_KEPT
        self.change_count = 0
        self.requests_at_level: dict[str, int] = {level.name: 0 for level in QUALITY_LEVELS}
        self._window_sum = 0.0
        self._window_count = 0
        self._step_up_below_ms = settings.headroom_fraction * settings.target_latency_ms

    @property
    def level(self) -> QualityLevel:
        return QUALITY_LEVELS[self._index]

    def observe(self, latency_ms: float, request: int, at_s: float) -> QualityChange | None:
        """Count one request's latency (a dropped request's counts too, at the time it was dropped)."""
        self.requests_at_level[QUALITY_LEVELS[self._index].name] += 1
        self._window_sum += latency_ms if math.isfinite(latency_ms) else self.settings.max_latency_ms
        self._window_count += 1
        if self._window_count < self.settings.controller_window:
            return None
        mean_ms = self._window_sum / self._window_count
        self._window_sum, self._window_count = 0.0, 0
        if not self.settings.adaptive_quality:
            return None
        if mean_ms > self.settings.max_latency_ms and self._index > 0:
            step, reason = -1, "over-limit"
        elif mean_ms < self._step_up_below_ms and self._index < len(QUALITY_LEVELS) - 1:
            step, reason = 1, "headroom"
        else:
            return None
        old = QUALITY_LEVELS[self._index].name
        self._index += step
        change = QualityChange(request, at_s, old, QUALITY_LEVELS[self._index].name, reason, mean_ms)
        self.changes.append(change)
        self.change_count += 1
        if len(self.changes) > CHANGES_KEPT:
            del self.changes[0]  # at most once per window of requests, over 1000 entries: cheap
        return change

    def summary(self) -> dict[str, Any]:
        return {
            "adaptive": self.settings.adaptive_quality,
            "start_level": self.start_level,
            "final_level": self.level.name,
            "requests_at_level": dict(self.requests_at_level),
            "change_count": self.change_count,
            "changes": [change.as_dict() for change in self.changes],
        }
