"""The performance monitor: latency, throughput, CPU and memory, checked against the seed's alert
thresholds (latency 80 ms, throughput 5 Hz, CPU 80 %, memory 85 %).

Alerts are kept as data with the time they were raised (the engine never prints). CPU is this
process's CPU time over wall time, as a share of the cores it may use; memory is the resident set
(/proc/self/status, else the peak from getrusage) against the memory limit. Resources are sampled
at most once a second, so a frame never pays for reading /proc.

Nothing here grows with the run: latencies are a window of the last 1000, completions are counted
per 10 ms over the last 10 s (at most 1000 buckets; the rate is exact to within one bucket's
completions at the window's edge, 0.1 % of it at a steady rate, and exact where frames are more
than 10 ms apart), resource samples fold into running figures (count, exact mean, max,
latest), and of the alerts the most recent 100 are kept as data while every one is counted.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from mc.percentiles import RunningStats, nearest_rank
from mc.resident import current_resident_mb

RECENT_LATENCIES = 50  # the seed's latency alert looks at the mean of the last 50
THROUGHPUT_WINDOW_S = 10.0
COMPLETION_BUCKET_S = 0.01  # completions within 10 ms of a bucket's first are counted together
ALERTS_KEPT = 100


@dataclass(frozen=True)
class AlertThresholds:
    high_latency_ms: float = 80.0
    low_throughput_hz: float = 5.0
    high_cpu_percent: float = 80.0
    high_memory_percent: float = 85.0


@dataclass(frozen=True, slots=True)
class Alert:
    at_s: float
    kind: str  # high_latency | low_throughput | high_cpu | high_memory
    value: float
    threshold: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PerformanceMonitor:
    def __init__(
        self,
        memory_limit_mb: float,
        cores: int = 1,
        thresholds: AlertThresholds = AlertThresholds(),
        window: int = 1000,
        started: float | None = None,
    ):
        self.thresholds = thresholds
        self.memory_limit_mb = memory_limit_mb
        self.cores = max(1, cores)
        self.started = time.perf_counter() if started is None else started
        self.latencies: deque[float] = deque(maxlen=window)
        self.completions: deque[tuple[float, int]] = deque()  # (first completion's time, completions in its bucket)
        self.cpu_percent = RunningStats()
        self.memory_mb = RunningStats()
        self.alerts: deque[Alert] = deque(maxlen=ALERTS_KEPT)
        self.alerts_by_kind: dict[str, int] = {}
        self.completed = 0
        self.dropped = 0
        self._last_sample: tuple[float, float] | None = None

    def record(self, latency_ms: float, completed: bool, now: float) -> None:
        """Every request's latency enters the window, a dropped one's up to the moment it was
        dropped (a lower bound): frames that never arrive must raise the latency alert too."""
        self.latencies.append(latency_ms)
        if completed:
            self.completed += 1
            completions = self.completions
            if completions and now - completions[-1][0] < COMPLETION_BUCKET_S:
                completions[-1] = (completions[-1][0], completions[-1][1] + 1)
            else:
                completions.append((now, 1))
            cutoff = now - THROUGHPUT_WINDOW_S
            while completions and completions[0][0] < cutoff:
                completions.popleft()
        else:
            self.dropped += 1

    def throughput_hz(self, now: float) -> float | None:
        """Completions per second over the last 10 s; None until a second of history exists."""
        span = min(THROUGHPUT_WINDOW_S, now - self.started)
        if span < 1.0:
            return None
        cutoff = now - span
        return sum(count for moment, count in self.completions if moment >= cutoff) / span

    def sample_resources(self, now: float) -> None:
        cpu = time.process_time()
        if self._last_sample is not None:
            wall = now - self._last_sample[0]
            if wall > 0:
                self.cpu_percent.add(100.0 * (cpu - self._last_sample[1]) / (wall * self.cores))
        self._last_sample = (now, cpu)
        rss = current_resident_mb()
        if rss is not None:
            self.memory_mb.add(rss)

    def check(self, now: float) -> list[Alert]:
        """Sample resources, compare against the thresholds, keep and return the alerts raised."""
        self.sample_resources(now)
        at_s = now - self.started
        limits = self.thresholds
        raised: list[Alert] = []
        if self.latencies:
            recent = list(self.latencies)[-RECENT_LATENCIES:]
            mean = math.fsum(recent) / len(recent)
            if mean > limits.high_latency_ms:
                raised.append(Alert(at_s, "high_latency", mean, limits.high_latency_ms))
        throughput = self.throughput_hz(now)
        if throughput is not None and throughput < limits.low_throughput_hz:
            raised.append(Alert(at_s, "low_throughput", throughput, limits.low_throughput_hz))
        if self.cpu_percent and self.cpu_percent.last > limits.high_cpu_percent:
            raised.append(Alert(at_s, "high_cpu", self.cpu_percent.last, limits.high_cpu_percent))
        memory_percent = 100.0 * self.memory_mb.last / self.memory_limit_mb if self.memory_mb else 0.0
        if memory_percent > limits.high_memory_percent:
            raised.append(Alert(at_s, "high_memory", memory_percent, limits.high_memory_percent))
        self.alerts.extend(raised)
        for alert in raised:
            self.alerts_by_kind[alert.kind] = self.alerts_by_kind.get(alert.kind, 0) + 1
        return raised

    def summary(self, now: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "latency_ms": {
                "window": len(ordered),
                "mean": math.fsum(ordered) / len(ordered) if ordered else None,
                "p95": nearest_rank(ordered, 95) if ordered else None,
                "p99": nearest_rank(ordered, 99) if ordered else None,
            },
            "throughput_hz": self.throughput_hz(now),
            "cpu_percent": {
                "mean": self.cpu_percent.mean,
                "max": self.cpu_percent.maximum,
                "cores": self.cores,
            },
            "memory": {
                "rss_mb_mean": self.memory_mb.mean,
                "rss_mb_max": self.memory_mb.maximum,
                "limit_mb": self.memory_limit_mb,
            },
            "thresholds": asdict(self.thresholds),
            "alerts_by_kind": dict(self.alerts_by_kind),
            "alerts_raised": sum(self.alerts_by_kind.values()),
            "alerts": [alert.as_dict() for alert in self.alerts],  # the most recent ALERTS_KEPT
        }
