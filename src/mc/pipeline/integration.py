"""Integration: a global-workspace competition among the stages' results, and the unified result.

Each content (the recursive awareness, the confidence assessment, the introspective report) bids
with a salience; a softmax over the bids decides which are broadcast (every content bidding at
least an even share, so the winner always is). The unified result carries the prediction, the
overall confidence, the clarity of what was broadcast and the coherence of the three readings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mc.pipeline.awareness import Awareness
from mc.pipeline.confidence import ConfidenceAssessment
from mc.pipeline.introspection import Introspection
from mc.pipeline.state import CognitiveState

CONTENTS = ("awareness", "confidence", "introspection")
TEMPERATURE = 0.1  # salience differences of 0.1 shift the odds by e: a real competition, not a tie


@dataclass(frozen=True, slots=True)
class MetaExperience:
    predicted: int
    confidence: float  # the overall confidence
    clarity: float  # mean salience of what was broadcast
    coherence: float  # agreement of the awareness, confidence and introspection readings
    broadcast: tuple[str, ...]
    focus: str
    depth: int
    level: str


def _introspective_reading(state: CognitiveState, report: Introspection) -> float:
    if report.clarity is not None:
        return report.clarity
    if report.effort is not None:
        return 1.0 - report.effort
    return state.top_probability


class IntegrationStage:
    def process(
        self,
        state: CognitiveState,
        awareness: Awareness,
        assessment: ConfidenceAssessment,
        report: Introspection,
        level_name: str,
    ) -> MetaExperience:
        introspective = _introspective_reading(state, report)
        salience = (
            abs(awareness.integrated - 0.5) * 2.0,  # a decisive meta-judgement is salient either way
            assessment.overall,
            introspective,
        )
        top = max(salience)
        weights = [math.exp((value - top) / TEMPERATURE) for value in salience]
        floor = sum(weights) / len(CONTENTS)  # an even share of the softmax
        chosen = [index for index, weight in enumerate(weights) if weight >= floor]
        first, second, third = awareness.integrated, assessment.overall, introspective
        mean = (first + second + third) / 3.0
        coherence = max(0.0, 1.0 - 2.0 * (abs(first - mean) + abs(second - mean) + abs(third - mean)) / 3.0)
        return MetaExperience(
            predicted=state.predicted,
            confidence=assessment.overall,
            clarity=sum(salience[index] for index in chosen) / len(chosen),
            coherence=coherence,
            broadcast=tuple(CONTENTS[index] for index in chosen),
            focus=report.focus,
            depth=awareness.effective_depth,
            level=level_name,
        )
