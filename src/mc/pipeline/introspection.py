"""Introspection: a report on the state, as detailed as the time before the deadline allows.

The seed picks the focus from the time left (over 20 ms comprehensive, over 10 ms essential, else
minimal); the quality level caps it. A minimal report names the prediction and its confidence; an
essential one adds the alternatives and the effort (normalized entropy); a comprehensive one adds
clarity, attention focus and what the recursive awareness reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from mc.pipeline.awareness import Awareness
from mc.pipeline.quality import QualityLevel
from mc.pipeline.state import CognitiveState

FOCI = ("minimal", "essential", "comprehensive")
COMPREHENSIVE_ABOVE_S = 0.020
ESSENTIAL_ABOVE_S = 0.010


def choose_focus(time_left_s: float, introspection_depth: int) -> str:
    """The focus the time left affords, capped at the quality level's introspection depth (1-3)."""
    if time_left_s > COMPREHENSIVE_ABOVE_S:
        affordable = 3
    elif time_left_s > ESSENTIAL_ABOVE_S:
        affordable = 2
    else:
        affordable = 1
    return FOCI[min(affordable, introspection_depth) - 1]


@dataclass(frozen=True, slots=True)
class Introspection:
    focus: str
    predicted: int
    confidence: float
    alternatives: tuple[tuple[int, float], ...] = ()  # (class, probability), most likely first
    effort: float | None = None  # normalized entropy: how hard the percept was
    clarity: float | None = None  # certainty of the distribution
    attention_focus: float | None = None  # 1 when one class holds all mass, 0 when spread evenly
    awareness_depth: int | None = None
    stability: float | None = None


class IntrospectionStage:
    def process(
        self, state: CognitiveState, awareness: Awareness, level: QualityLevel, time_left_s: float
    ) -> Introspection:
        focus = choose_focus(time_left_s, level.introspection_depth)
        if focus == "minimal":
            return Introspection(focus, state.predicted, state.confidence)
        probabilities = state.probabilities
        order = sorted(range(state.classes), key=probabilities.__getitem__, reverse=True)[: level.alternatives]
        alternatives = tuple((index, probabilities[index]) for index in order)
        effort = 1.0 - state.certainty
        if focus == "essential":
            return Introspection(focus, state.predicted, state.confidence, alternatives, effort)
        classes = state.classes
        participation = 1.0 / sum(p * p for p in probabilities)  # effective number of classes
        attention = 1.0 - (participation - 1.0) / (classes - 1)
        return Introspection(
            focus, state.predicted, state.confidence, alternatives, effort,
            clarity=state.certainty,
            attention_focus=min(1.0, max(0.0, attention)),
            awareness_depth=awareness.effective_depth,
            stability=awareness.stability,
        )
