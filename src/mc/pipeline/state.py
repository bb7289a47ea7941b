"""The cognitive state: what the meta pipeline becomes aware of, built from one model output.

The seed's cognitive state was a free-form dict; here it is the model's class distribution and its
own confidence report, reduced once to the few numbers every later stage reads (so no stage
recomputes an entropy or a softmax). Probabilities are plain floats: for the handful of classes of
an edge model, Python arithmetic on a tuple is several times cheaper than NumPy calls on a tiny array,
and the pipeline's own cost per frame is what a real-time harness must keep small.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CognitiveState:
    probabilities: tuple[float, ...]  # softmax of the logits
    predicted: int  # argmax
    top_probability: float  # the first-order evidence for the prediction
    margin: float  # top-1 minus top-2 probability
    certainty: float  # 1 - entropy / log(classes): 1 for a one-hot, 0 for uniform
    confidence: float  # the model's self-report (confidence head), in [0, 1]
    confidence_source: str  # "confidence-head", or "max-softmax" for a model without one

    @property
    def classes(self) -> int:
        return len(self.probabilities)
