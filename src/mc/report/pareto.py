"""The accuracy/latency Pareto front: the variants worth considering at all. A variant another one
beats on both counts (as fast or faster *and* as accurate or more, better on at least one) is never
the right choice, whatever the budget."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    name: str
    latency_ms: float  # lower is better
    accuracy: float  # higher is better


def dominates(a: Point, b: Point) -> bool:
    at_least_as_good = a.latency_ms <= b.latency_ms and a.accuracy >= b.accuracy
    strictly_better = a.latency_ms < b.latency_ms or a.accuracy > b.accuracy
    return at_least_as_good and strictly_better


def pareto_front(points: list[Point]) -> list[Point]:
    """The points no other point dominates, fastest first (equal points both stay: neither wins)."""
    front = [point for point in points if not any(dominates(other, point) for other in points)]
    return sorted(front, key=lambda point: (point.latency_ms, -point.accuracy))
