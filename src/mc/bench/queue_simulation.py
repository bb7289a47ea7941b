"""The real-time scenario's latency on a target this host is not, estimated by simulating it.

A roofline gives the model's service time on the target; the latency the real-time scenario
reports also holds the wait behind earlier frames, which grows steeply as the service time nears
the arrival interval. Adding a service time to nothing would hide exactly that, so the scenario is
replayed here in simulated time: the same arrival schedule (`arrival_offsets`: the recipe's rate,
fixed or Poisson arrivals, its seed), one server taking requests first come first served, the same
deadline rule (a request whose deadline passes is dropped and counted, as the pipeline does) and
the real quality controller, which steps the quality level from the simulated latencies. A level
may cost a different time (`service_ms` per level name); the pipeline's own cost is measured on
this host and passed in as part of it.

Pure: no clocks, no threads, no model. For Poisson arrivals and a fixed service time this is the
M/D/1 queue, whose mean wait has a closed form (Pollaczek-Khinchine) the tests check it against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mc.percentiles import summarize
from mc.pipeline.quality import AdaptiveQualityController
from mc.pipeline.settings import ProcessorSettings


@dataclass
class SimulatedRun:
    requests: int
    completed: int
    dropped: int
    latency_ms: dict[str, Any]  # count, mean, p50, ..., max over delivered requests (nearest rank)
    wait_ms: dict[str, Any]  # the time delivered requests spent queued before their service began
    final_level: str
    quality_changes: int
    requests_at_level: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "completed": self.completed, "dropped": self.dropped,
            "latency_ms": self.latency_ms, "wait_ms": self.wait_ms, "final_level": self.final_level,
            "quality_changes": self.quality_changes, "requests_at_level": self.requests_at_level,
        }


def simulate_realtime(arrivals_s: Sequence[float], service_ms: float | Mapping[str, float],
                      settings: ProcessorSettings) -> SimulatedRun:
    """Replay `arrivals_s` (seconds from the start, ascending) through one FIFO server.

    `service_ms`: the time one request takes once started, the same at every quality level or per
    level name (a level missing from the mapping costs the largest time given). Latency runs from
    each request's scheduled arrival, as in the measured scenario. A request still waiting at its
    deadline (arrival + max_latency_ms) is dropped without being served; one whose service would
    end past the deadline is served and then dropped (the pipeline checks the deadline between its
    stages), so it holds the server as long as it ran."""
    if isinstance(service_ms, Mapping):
        if not service_ms:
            raise ValueError("service_ms: no level given")
        fallback = max(service_ms.values())
        cost = lambda level: float(service_ms.get(level, fallback))  # noqa: E731
    else:
        cost = lambda level: float(service_ms)  # noqa: E731
    controller = AdaptiveQualityController(settings)
    limit_s = settings.max_latency_ms / 1e3
    free_at = 0.0
    latencies: list[float] = []
    waits: list[float] = []
    dropped = 0
    for index, arrival in enumerate(arrivals_s):
        start = max(arrival, free_at)
        deadline = arrival + limit_s
        if start > deadline:  # expired while queued: dropped at once, the server untouched
            dropped += 1
            controller.observe((start - arrival) * 1e3, index, start)
            continue
        end = start + cost(controller.level.name) / 1e3
        free_at = end
        latency_ms = (end - arrival) * 1e3
        if end > deadline:
            dropped += 1
        else:
            latencies.append(latency_ms)
            waits.append((start - arrival) * 1e3)
        controller.observe(latency_ms, index, end)
    return SimulatedRun(
        requests=len(arrivals_s), completed=len(latencies), dropped=dropped,
        latency_ms=summarize(latencies), wait_ms=summarize(waits), final_level=controller.level.name,
        quality_changes=controller.change_count, requests_at_level=dict(controller.requests_at_level),
    )


def md1_mean_wait_ms(rate_hz: float, service_ms: float) -> float:
    """The M/D/1 queue's mean wait before service (Pollaczek-Khinchine): rho * S / (2 (1 - rho)),
    rho = rate x S < 1. The closed form the simulation must reproduce with Poisson arrivals."""
    rho = rate_hz * service_ms / 1e3
    if not 0 <= rho < 1:
        raise ValueError(f"utilisation {rho:.3f}: an M/D/1 queue is stable only below 1")
    return rho * service_ms / (2.0 * (1.0 - rho))
