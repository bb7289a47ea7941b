"""Recursive awareness: each level forms a belief about how far the level below can be trusted.

Level 1 looks at the first-order cues (the top probability, the certainty of the distribution, the
model's own confidence report); every further level looks at the judgement, the agreement and the
previous judgement of the level under it. A level's judgement is the mean of its cues pulled toward
0.5 ("no idea") as far as the cues disagree, so a state whose evidence and self-report conflict
ends less sure of itself the deeper it looks. The work is a few floats per level: cheap enough to
run per frame, and a pure function of the quantized state and depth, which is what makes the cache
exact (a hit returns what a fresh computation would).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from mc.pipeline.cache import LruCache, quantized_state_key
from mc.pipeline.state import CognitiveState


@dataclass(frozen=True, slots=True)
class AwarenessLevel:
    level: int
    judgement: float  # belief that the level below is reliable; 0.5 means no idea
    agreement: float  # how well this level's cues agree, 1 = all equal


@dataclass(frozen=True, slots=True)
class Awareness:
    levels: tuple[AwarenessLevel, ...]
    integrated: float  # mean judgement over the levels reached

    @property
    def effective_depth(self) -> int:
        return len(self.levels)

    @property
    def stability(self) -> float:
        """Agreement at the deepest level reached: how settled the self-assessment is."""
        return self.levels[-1].agreement if self.levels else 0.0


def _judge(cues: tuple[float, float, float]) -> tuple[float, float]:
    first, second, third = cues
    mean = (first + second + third) / 3.0
    spread = (abs(first - mean) + abs(second - mean) + abs(third - mean)) / 3.0
    agreement = max(0.0, 1.0 - 2.0 * spread)
    return 0.5 + (mean - 0.5) * agreement, agreement


def first_order_cues(grid: bytes, confidence: float) -> tuple[float, float, float]:
    """(top probability, certainty, confidence) of a state given as its quantized probabilities."""
    classes = len(grid)
    total = sum(grid)
    if total == 0:  # every class below half a grid step: as uncertain as a state can be
        return 1.0 / classes, 0.0, confidence
    entropy = -sum(count / total * math.log(count / total) for count in grid if count)
    certainty = 1.0 - entropy / math.log(classes)
    return max(grid) / total, min(1.0, max(0.0, certainty)), confidence


def recurse(cues: tuple[float, float, float], depth: int, out_of_time: Callable[[], bool] | None = None) -> Awareness:
    """Up to `depth` levels of awareness; levels after the first stop when `out_of_time()` says so."""
    levels: list[AwarenessLevel] = []
    previous = cues[2]
    for level in range(1, depth + 1):
        if level > 1 and out_of_time is not None and out_of_time():
            break
        judgement, agreement = _judge(cues)
        levels.append(AwarenessLevel(level, judgement, agreement))
        cues = (judgement, agreement, previous)
        previous = judgement
    integrated = sum(level.judgement for level in levels) / len(levels)
    return Awareness(tuple(levels), integrated)


class RecursiveAwarenessStage:
    """Computes awareness on the state's grid point, through a bounded LRU cache."""

    def __init__(self, cache_size: int, levels: int, deadline_margin_s: float, clock: Callable[[], float] = time.perf_counter):
        self.cache: LruCache[bytes, Awareness] = LruCache(cache_size)
        self.levels = levels
        self.margin_s = deadline_margin_s
        self.clock = clock

    def process(self, state: CognitiveState, depth: int, deadline: float) -> tuple[Awareness, bool]:
        """(awareness, cache hit). Depth shrinks, level by level, when the deadline gets close."""
        key = quantized_state_key(state.probabilities, state.confidence, depth, self.levels)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        cues = first_order_cues(key[: state.classes], key[-2] / self.levels)
        cutoff = deadline - self.margin_s
        clock = self.clock
        awareness = recurse(cues, depth, lambda: clock() > cutoff)
        # A cut-short result is exactly the full result at the depth it reached: cache it under that depth.
        if awareness.effective_depth == depth:
            self.cache.put(key, awareness)
        else:
            self.cache.put(key[:-1] + bytes((awareness.effective_depth,)), awareness)
        return awareness, False
