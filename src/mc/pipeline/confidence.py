"""Confidence assessment: one overall confidence from the self-report and the meta-level judgement.

The seed weighs process-level confidence 0.6 and meta-level confidence 0.4. Here the process is
perception, its confidence the model's own report; the meta level is the recursive awareness. The
gap between the self-report and the first-order evidence (top probability) is kept: it is what a
compression that breaks the model's self-knowledge would widen.
"""

from __future__ import annotations

from dataclasses import dataclass

from mc.pipeline.awareness import Awareness
from mc.pipeline.state import CognitiveState

PROCESS_WEIGHT = 0.6
META_WEIGHT = 0.4


@dataclass(frozen=True, slots=True)
class ConfidenceAssessment:
    process: float  # the model's self-report
    evidence: float  # the top softmax probability
    meta: float  # the recursive awareness' integrated judgement
    overall: float
    calibration_gap: float  # |self-report - evidence|


class ConfidenceStage:
    def process(self, state: CognitiveState, awareness: Awareness) -> ConfidenceAssessment:
        overall = PROCESS_WEIGHT * state.confidence + META_WEIGHT * awareness.integrated
        return ConfidenceAssessment(
            process=state.confidence,
            evidence=state.top_probability,
            meta=awareness.integrated,
            overall=overall,
            calibration_gap=abs(state.confidence - state.top_probability),
        )
