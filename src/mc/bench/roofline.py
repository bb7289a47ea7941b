"""A roofline estimate of a model's batch-1 latency on a target that is not this machine.

Each op costs max(FLOPs / compute peak, bytes / memory bandwidth) on a machine; the sum over ops is
the roofline time, a floor no real runtime reaches on tiny models (dispatch, caches, threads). So
the estimate is calibrated: the efficiency a runtime reaches here is measured (the host's roofline
time, from the x86-cpu profile's peaks, over the measured host latency) and assumed to carry over:
    estimated target latency = target roofline time / host efficiency.
That is an assumption, not a measurement, and the result says so wherever it is shown.

What a model costs (its ops' FLOPs and bytes) is read from the opened artifact: mc.runtimes.costs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mc.runtimes.costs import OpCost, Precision

PEAK_KEYS = {"fp32": "fp32_gflops_per_core", "fp16": "fp16_gflops_per_core", "int8": "int8_gops_per_core"}
BANDWIDTH_KEY = "memory_bandwidth_gbs"


@dataclass
class Roofline:
    """Roofline time of a list of ops on one machine."""

    seconds: float
    compute_bound_ops: int
    memory_bound_ops: int
    notes: list[str] = field(default_factory=list)


class PeaksMissing(Exception):
    """A profile lacks the peak figures a roofline needs; the estimate is then left out, with why."""


def _peak(peaks: dict[str, float], precision: Precision, profile: str, notes: list[str]) -> float:
    key = PEAK_KEYS[precision]
    if key in peaks:
        return peaks[key]
    if PEAK_KEYS["fp32"] in peaks:
        note = f"{profile}: no {key}; {precision} ops counted at the fp32 peak"
        if note not in notes:
            notes.append(note)
        return peaks[PEAK_KEYS["fp32"]]
    raise PeaksMissing(f"the {profile} profile has no {PEAK_KEYS['fp32']}")


def roofline(costs: list[OpCost], peaks: dict[str, float], threads: int, profile: str) -> Roofline:
    """Sum over ops of max(compute time, memory time), with compute peaks per core x `threads`."""
    if BANDWIDTH_KEY not in peaks:
        raise PeaksMissing(f"the {profile} profile has no {BANDWIDTH_KEY}")
    notes: list[str] = []
    bandwidth = peaks[BANDWIDTH_KEY] * 1e9
    total = 0.0
    compute_bound = memory_bound = 0
    for cost in costs:
        compute = cost.flops / (_peak(peaks, cost.precision, profile, notes) * 1e9 * threads)
        memory = cost.bytes / bandwidth
        if compute >= memory:
            compute_bound += 1
        else:
            memory_bound += 1
        total += max(compute, memory)
    return Roofline(total, compute_bound, memory_bound, notes)


def summarize_costs(costs: list[OpCost]) -> dict[str, Any]:
    by_precision: dict[str, float] = {}
    for cost in costs:
        by_precision[cost.precision] = by_precision.get(cost.precision, 0.0) + cost.flops
    return {
        "ops": len(costs),
        "flops": sum(cost.flops for cost in costs),
        "bytes": sum(cost.bytes for cost in costs),
        "flops_by_precision": by_precision,
    }


def estimate_target_latency(
    costs: list[OpCost],
    measured_host_ms: float,
    host_peaks: dict[str, float],
    host_threads: int,
    target_peaks: dict[str, float],
    target_threads: int,
    target_name: str,
    host_profile: str = "x86-cpu",
) -> dict[str, Any]:
    """The calibrated estimate, or {"model_latency_ms": None, "reason": ...} when a profile lacks peaks."""
    try:
        host = roofline(costs, host_peaks, host_threads, host_profile)
        target = roofline(costs, target_peaks, target_threads, target_name)
    except PeaksMissing as missing:
        return {"model_latency_ms": None, "reason": str(missing)}
    if host.seconds <= 0 or measured_host_ms <= 0:
        return {"model_latency_ms": None, "reason": "the model has no counted work"}
    efficiency = host.seconds * 1e3 / measured_host_ms
    return {
        "model_latency_ms": target.seconds * 1e3 / efficiency,
        "efficiency": efficiency,
        "host_roofline_ms": host.seconds * 1e3,
        "target_roofline_ms": target.seconds * 1e3,
        "measured_host_ms": measured_host_ms,
        "host_threads": host_threads,
        "target_threads": target_threads,
        "host_profile": host_profile,
        "ops": {"host": asdict(host), "target": asdict(target)},
        "reason": None,
    }
