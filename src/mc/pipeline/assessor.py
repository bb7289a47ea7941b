"""The quality assessor: coherence, depth, authenticity and integration of each unified result.

It runs per frame inside a time budget (the seed's 5 ms): a dimension it has no time left for is
reported as not assessed (None) and the overall score is taken over the dimensions it did assess,
rather than the seed's made-up 0.6. Scores, from the seed's definitions made concrete:
- coherence: how well the awareness, confidence and introspection readings agree;
- depth: how far the recursion went (of 3) and how detailed the introspection was;
- authenticity: whether the reported confidence matches the first-order evidence (a self-report
  that contradicts what the model actually saw is not an authentic one);
- integration: the share of contents the workspace broadcast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mc.pipeline.integration import CONTENTS, MetaExperience
from mc.pipeline.state import CognitiveState

WEIGHTS = {"coherence": 0.3, "depth": 0.25, "authenticity": 0.25, "integration": 0.2}
FOCUS_SCORE = {"minimal": 1.0 / 3.0, "essential": 2.0 / 3.0, "comprehensive": 1.0}
CATEGORIES = ((0.9, "excellent"), (0.7, "good"), (0.5, "acceptable"), (0.0, "poor"))


@dataclass(frozen=True, slots=True)
class QualityScores:
    coherence: float | None
    depth: float | None
    authenticity: float | None
    integration: float | None
    overall: float
    category: str
    assessed: int  # dimensions assessed within the budget
    seconds: float


def categorize(overall: float) -> str:
    return next(name for floor, name in CATEGORIES if overall >= floor)


def _coherence(experience: MetaExperience, state: CognitiveState) -> float:
    return experience.coherence


def _depth(experience: MetaExperience, state: CognitiveState) -> float:
    return 0.5 * min(experience.depth / 3.0, 1.0) + 0.5 * FOCUS_SCORE[experience.focus]


def _authenticity(experience: MetaExperience, state: CognitiveState) -> float:
    return 1.0 - abs(experience.confidence - state.top_probability)


def _integration(experience: MetaExperience, state: CognitiveState) -> float:
    return len(experience.broadcast) / len(CONTENTS)


ESTIMATORS: tuple[tuple[str, Callable[[MetaExperience, CognitiveState], float]], ...] = (
    ("coherence", _coherence),
    ("depth", _depth),
    ("authenticity", _authenticity),
    ("integration", _integration),
)


class QualityAssessor:
    def __init__(self, budget_ms: float, clock: Callable[[], float] = time.perf_counter):
        self.budget_s = budget_ms / 1000.0
        self.clock = clock

    def assess(self, experience: MetaExperience, state: CognitiveState) -> QualityScores:
        clock = self.clock
        start = clock()
        cutoff = start + self.budget_s
        scores: list[float | None] = []
        weighted = weight = 0.0
        for name, estimator in ESTIMATORS:
            if clock() > cutoff:
                scores.append(None)
                continue
            score = estimator(experience, state)
            scores.append(score)
            weighted += WEIGHTS[name] * score
            weight += WEIGHTS[name]
        overall = weighted / weight if weight else 0.0
        assessed = sum(score is not None for score in scores)
        return QualityScores(*scores, overall, categorize(overall), assessed, clock() - start)
