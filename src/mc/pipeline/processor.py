"""The real-time meta processor: perception, then the four stages, under a per-request deadline.

A request's deadline is its arrival plus the hard limit. Before each stage the deadline is checked;
a request past it is dropped there and counted by stage ("perception" means it expired waiting, so
the model never ran for it), and its outcome is still returned, so nothing is lost silently. Every
outcome, delivered or dropped, feeds the performance monitor and the quality controller, whose
level decides the next request's depth. The seed ran this as asyncio queues between stages; one
request at a time on one thread gives the same semantics at batch 1 with none of the queue cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mc.pipeline.assessor import QualityAssessor, QualityScores
from mc.pipeline.awareness import RecursiveAwarenessStage
from mc.pipeline.confidence import ConfidenceStage
from mc.pipeline.integration import IntegrationStage, MetaExperience
from mc.pipeline.introspection import IntrospectionStage
from mc.pipeline.monitor import PerformanceMonitor
from mc.pipeline.perception import PerceptionStage
from mc.pipeline.quality import AdaptiveQualityController
from mc.pipeline.settings import ProcessorSettings
from mc.pipeline.state import CognitiveState
from mc.runtimes import Predictor

STAGES = ("perception", "awareness", "confidence", "introspection", "integration")
MONITOR_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    request: int
    arrival: float  # when the request was due (perf_counter seconds)
    start: float  # when the pipeline took it up
    end: float  # when it was delivered or dropped
    completed: bool
    dropped_at: str | None  # the stage whose deadline check failed
    stage_s: tuple[float, ...]  # seconds per stage run, in STAGES order (perception shared in a batch)
    level: str
    cache_hit: bool
    experience: MetaExperience | None
    quality: QualityScores | None

    @property
    def latency_ms(self) -> float:
        """From arrival to delivery (or drop): waiting time included, as the real-time scenario needs."""
        return (self.end - self.arrival) * 1e3

    @property
    def service_ms(self) -> float:
        return (self.end - self.start) * 1e3

    @property
    def predicted(self) -> int | None:
        return self.experience.predicted if self.experience is not None else None


class MetaPipeline:
    def __init__(
        self,
        predictor: Predictor,
        settings: ProcessorSettings | None = None,
        cores: int = 1,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.settings = settings or ProcessorSettings()
        self.clock = clock
        self.max_latency_s = self.settings.max_latency_ms / 1000.0
        self.perception = PerceptionStage(predictor)
        self.awareness = RecursiveAwarenessStage(
            self.settings.cache_size, self.settings.cache_levels, self.settings.deadline_margin_ms / 1000.0, clock
        )
        self.confidence = ConfidenceStage()
        self.introspection = IntrospectionStage()
        self.integration = IntegrationStage()
        self.assessor = QualityAssessor(self.settings.quality_budget_ms, clock)
        self.controller = AdaptiveQualityController(self.settings)
        self.started = clock()
        self.monitor = PerformanceMonitor(self.settings.memory_limit_mb, cores, started=self.started)
        self.dropped_by_stage: dict[str, int] = {stage: 0 for stage in STAGES}
        self._next_request = 0
        self._next_check = self.started + MONITOR_INTERVAL_S

    def process(self, sample: np.ndarray, arrival: float | None = None, deadline: float | None = None) -> RequestOutcome:
        """One request: a single sample, without its batch axis (the model sees a batch of 1)."""
        return self.process_batch(sample[None], arrival, deadline)[0]

    def process_batch(
        self, batch: np.ndarray, arrival: float | None = None, deadline: float | None = None
    ) -> list[RequestOutcome]:
        """A batch arriving together: the model runs once, the meta stages once per sample.

        `deadline` defaults to arrival + the hard limit; pass math.inf for an offline run.
        """
        clock = self.clock
        start = clock()
        arrival = start if arrival is None else arrival
        deadline = arrival + self.max_latency_s if deadline is None else deadline
        if start > deadline:
            return [self._finish(arrival, start, start, None, "perception", (), False, None, None) for _ in range(len(batch))]
        states = self.perception.perceive(batch)
        perceived = clock()
        perception_s = perceived - start
        return [self._meta(state, arrival, start, deadline, perception_s) for state in states]

    def _meta(
        self, state: CognitiveState, arrival: float, start: float, deadline: float, perception_s: float
    ) -> RequestOutcome:
        clock = self.clock
        level = self.controller.level
        times = [perception_s]
        t0 = clock()
        if t0 > deadline:
            return self._finish(arrival, start, t0, level.name, "awareness", tuple(times), False, None, None)
        awareness, hit = self.awareness.process(state, level.recursion_depth, deadline)
        t1 = clock()
        times.append(t1 - t0)
        if t1 > deadline:
            return self._finish(arrival, start, t1, level.name, "confidence", tuple(times), hit, None, None)
        assessment = self.confidence.process(state, awareness)
        t2 = clock()
        times.append(t2 - t1)
        if t2 > deadline:
            return self._finish(arrival, start, t2, level.name, "introspection", tuple(times), hit, None, None)
        report = self.introspection.process(state, awareness, level, deadline - t2)
        t3 = clock()
        times.append(t3 - t2)
        if t3 > deadline:
            return self._finish(arrival, start, t3, level.name, "integration", tuple(times), hit, None, None)
        experience = self.integration.process(state, awareness, assessment, report, level.name)
        t4 = clock()
        times.append(t4 - t3)
        # Delivered at t4; the quality assessment is bookkeeping after delivery, within its own budget.
        quality = self.assessor.assess(experience, state)
        return self._finish(arrival, start, t4, level.name, None, tuple(times), hit, experience, quality)

    def _finish(
        self,
        arrival: float,
        start: float,
        end: float,
        level: str | None,
        dropped_at: str | None,
        stage_s: tuple[float, ...],
        cache_hit: bool,
        experience: MetaExperience | None,
        quality: QualityScores | None,
    ) -> RequestOutcome:
        request = self._next_request
        self._next_request += 1
        completed = dropped_at is None
        if not completed:
            self.dropped_by_stage[dropped_at] += 1  # type: ignore[index]
        outcome = RequestOutcome(
            request, arrival, start, end, completed, dropped_at, stage_s,
            level or self.controller.level.name, cache_hit, experience, quality,
        )
        latency_ms = (end - arrival) * 1e3
        self.monitor.record(latency_ms, completed, end)
        self.controller.observe(latency_ms, request, end - self.started)
        if end >= self._next_check:
            self.monitor.check(end)
            self._next_check = end + MONITOR_INTERVAL_S
        return outcome
