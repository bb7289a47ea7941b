"""From what a run produced (the variant builds, the mc.bench/1 result, the side-by-side timing) to
the `mc.report/1` document: every figure with its unit and provenance, the gates judged, and the
recommendation (RULES: stated in the report itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mc.report.schema import (
    FIGURE_UNITS, Figure, Gate, HardwareRow, Realtime, Recommendation, Report, Step, Variant,
)

MIB_IN_MB = 2**20 / 1e6  # the bench counts memory in MiB (/proc's kB); reports use one unit family, MB = 10^6 bytes

Objective = Literal["latency", "size", "accuracy"]
BENCH_P50 = "bench: model alone in its own process; not comparable across variants as a ratio (see the side-by-side speed-up)"

GATE_FIGURES = {  # gate -> (figure it reads, "max" or "min", unit)
    "max_accuracy_drop": ("accuracy_drop", "max", "pt"),
    "min_agreement": ("agreement", "min", "%"),
    "max_auroc_drop": ("auroc_drop", "max", "auroc"),
    "max_size_mb": ("size_mb", "max", "MB"),
    "max_p99_ms": ("realtime_p99_ms", "max", "ms"),
    "max_latency_ratio": ("latency_ratio", "max", "x"),
    "max_peak_rss_mb": ("peak_rss_mb", "max", "MB"),
    "min_mean_cosine": ("mean_cosine", "min", "cosine"),
    "min_cosine": ("min_cosine", "min", "cosine"),
    "max_power_w": ("mean_power_w", "max", "W"),
}


def _figure(key: str, value: float | None, method: str, source: str) -> Figure:
    return Figure(value=None if value is None else float(value), unit=FIGURE_UNITS.get(key, "1"), method=method, source=source)


def _sidecar(run_dir: Path, artifact: str | None) -> dict[str, Any]:
    if artifact is None:
        return {}
    path = run_dir / (artifact + ".json")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@dataclass
class BuiltVariant:
    """What a run built for one variant, as the report needs it (the recipe runner fills it)."""

    name: str
    status: str  # ok | failed | unavailable
    error: str | None = None
    failed_step: str | None = None
    steps: list[Step] = field(default_factory=list)
    artifact: str | None = None  # relative to the run directory


@dataclass
class RunPlan:
    """The recipe as the report needs it: plain data, so reports depend on no recipe types."""

    name: str
    description: str
    path: str
    model: str
    data: str | None
    target: str
    reference: str
    gates: dict[str, float]
    bench: dict[str, Any]
    objective: Objective = "latency"


def describe_kind(variant: BuiltVariant, sidecar: dict[str, Any]) -> str:
    """The seed's "Implementation" column: what the chain made, in a few words (each pass's own summary)."""
    parts = [step.summary or step.pass_name for step in variant.steps]
    summary = (sidecar.get("metrics") or {}).get("precision_summary")
    text = " -> ".join(parts) or "source model"
    return f"{text}: {summary}" if summary else text


def _realtime(entry: dict[str, Any]) -> Realtime | None:
    scenario = (entry.get("measured") or {}).get("scenario")
    if not scenario or "latency_ms" not in scenario:
        return None
    misses = scenario.get("misses", {})
    control = scenario.get("quality_control") or {}
    quality = scenario.get("quality_scores") or {}
    return Realtime(
        scenario=str(scenario.get("arrivals", "realtime")), requests=scenario.get("requests", 0),
        completed=scenario.get("completed", 0), dropped=scenario.get("dropped", 0),
        misses_over_target=misses.get("over_target", 0), misses_over_limit=misses.get("over_limit", 0),
        target_ms=misses.get("over_target_ms", 50.0), limit_ms=misses.get("over_limit_ms", 100.0),
        latency_ms=scenario["latency_ms"], latency_curve_ms=scenario.get("latency_curve_ms", []),
        final_quality_level=control.get("final_level"), quality_changes=control.get("change_count", len(control.get("changes", []))),
        pipeline_quality=quality.get("overall"),
    )


def _measured_figures(entry: dict[str, Any], label: str, threads: int) -> dict[str, Figure]:
    accuracy = entry.get("accuracy") or {}
    measured = entry.get("measured") or {}
    model_ms = measured.get("model_latency_ms") or {}
    scenario = measured.get("scenario") or {}
    on = f"{label}, {threads} thread(s)"
    data = accuracy.get("data", "held-out data")
    figures = {
        "size_mb": _figure("size_mb", entry["size_bytes"] / 1e6 if entry.get("size_bytes") else None, "counted", "artifact file size"),
        "accuracy": _figure("accuracy", _percent(accuracy.get("accuracy")), "measured", data),
        "agreement": _figure("agreement", _percent(accuracy.get("top1_agreement")), "measured", f"top-1 agreement with the reference on {data}"),
        "confidence_auroc": _figure("confidence_auroc", accuracy.get("confidence_auroc"), "measured", f"type-2 AUROC of the confidence on {data}"),
        "calibration_error": _figure("calibration_error", accuracy.get("expected_calibration_error"), "measured", f"expected calibration error on {data}"),
        "model_p50_ms": _figure("model_p50_ms", model_ms.get("p50"), "measured", f"model alone, batch 1, {model_ms.get('count', 0)} calls, {on}; {BENCH_P50}"),
        "model_p90_ms": _figure("model_p90_ms", model_ms.get("p90"), "measured", f"model alone, batch 1, {on}; {BENCH_P50}"),
        "throughput": _figure("throughput", 1000.0 / model_ms["p50"] if model_ms.get("p50") else None, "derived", "1000 / model p50 (batch 1)"),
        "realtime_p50_ms": _figure("realtime_p50_ms", (scenario.get("latency_ms") or {}).get("p50"), "measured", f"meta pipeline, from scheduled arrival, {on}"),
        "realtime_p99_ms": _figure("realtime_p99_ms", (scenario.get("latency_ms") or {}).get("p99"), "measured", f"meta pipeline, from scheduled arrival, {on} (n/a under 662 requests)"),
        "peak_rss_mb": _figure("peak_rss_mb", None if entry.get("peak_rss_mb") is None else entry["peak_rss_mb"] * MIB_IN_MB,
                               "measured", f"peak resident memory of the worker process (MB = 10^6 bytes), {label}"),
    }
    if entry.get("workload") == "text":
        fidelity = entry.get("fidelity") or {}
        against = f"embedding cosine to {fidelity.get('reference', 'the reference')} on {fidelity.get('texts', 0)} texts"
        figures["mean_cosine"] = _figure("mean_cosine", fidelity.get("mean_cosine"), "measured", f"mean {against}")
        figures["min_cosine"] = _figure("min_cosine", fidelity.get("min_cosine"), "measured", f"smallest {against}")
        tokens = (measured.get("tokens") or 64)
        figures["model_p50_ms"] = _figure("model_p50_ms", model_ms.get("p50"), "measured",
                                          f"model alone, batch 1, {tokens} tokens, {model_ms.get('count', 0)} calls, {on}; {BENCH_P50}")
        figures["model_p90_ms"] = _figure("model_p90_ms", model_ms.get("p90"), "measured",
                                          f"model alone, batch 1, {tokens} tokens, {on}; {BENCH_P50}")
    peak = measured.get("peak") or {}
    if peak.get("fraction") is not None:
        at = f"bench p50, batch 1, {on}"
        figures["gops"] = _figure("gops", peak.get("gops"), "derived", f"{peak.get('ops', 0) / 1e6:.3g} M ops (2 per multiply-add) over the {at}")
        figures["peak_fraction"] = _figure(
            "peak_fraction", _percent(peak["fraction"]), "derived",
            f"time at this host's measured GEMM peak ({peak.get('peak_precision')} {peak.get('peak_gops', 0):.1f} GOP/s; "
            f"int8 kernel {peak.get('int8_kernel')}) over the {at}")
    estimate = entry.get("estimated")
    figures.update(_estimated_figures(estimate))
    power, energy = _power_figures(entry.get("energy"), measured_here=estimate is None)
    if power is not None:
        figures["mean_power_w"], figures["energy_mj"] = power, energy
    return figures


def _estimated_figures(estimate: dict[str, Any] | None) -> dict[str, Figure]:
    """Off the target, each estimate is of the same quantity as the measurement it sits beside: the
    model alone (roofline) beside the bench's model p50, the real-time scenario's p50/p99 (simulated
    through a queue, mc.bench.queue_simulation) beside the measured ones."""
    if not estimate:
        return {}
    label = estimate.get("label") or "estimated for the target"
    figures: dict[str, Figure] = {}
    if estimate.get("model_latency_ms") is not None:
        figures["estimated_model_p50_ms"] = _figure(
            "estimated_model_p50_ms", estimate["model_latency_ms"], "estimated",
            f"{label}: the model alone, batch 1: roofline calibrated on this host; not a measurement")
    latency = (estimate.get("pipeline") or {}).get("latency_ms") or {}
    for percentile in ("p50", "p99"):
        if latency.get(percentile) is not None:
            key = f"estimated_realtime_{percentile}_ms"
            figures[key] = _figure(key, latency[percentile], "estimated",
                                   f"{label}: the real-time scenario simulated (its arrivals through a queue at the "
                                   "estimated service time, with the quality controller); not a measurement")
    return figures


def _power_figures(energy: dict[str, Any] | None, measured_here: bool) -> tuple[Figure | None, Figure | None]:
    """(mean W, mJ per inference) for the bench's target: measured (RAPL) when the target is this host
    and its counters are readable, else the profile's estimate; (None, None) when there is neither."""
    if not energy:
        return None, None
    measured = energy.get("measured") or {}
    if measured_here and measured.get("readable"):
        source = f"{measured.get('source')}, over the scenario ({measured.get('note')})"
        joules = measured.get("joules_per_inference")
        return (_figure("mean_power_w", measured.get("mean_w"), "measured", source),
                _figure("energy_mj", None if joules is None else joules * 1e3, "measured", source))
    return _estimated_power(energy.get("target"))


def _estimated_power(estimate: dict[str, Any] | None) -> tuple[Figure | None, Figure | None]:
    if not estimate or estimate.get("joules_per_inference") is None:
        return None, None
    source = (f"{estimate['label']}: idle {estimate.get('idle_w')} W / loaded {estimate.get('loaded_w')} W at "
              f"utilisation {estimate.get('utilisation') or 0:.2%} ({estimate.get('basis')}) at {estimate.get('rate_hz'):g} Hz; "
              f"figures: {estimate.get('source')}")
    return (_figure("mean_power_w", estimate.get("mean_w"), "estimated", source),
            _figure("energy_mj", estimate["joules_per_inference"] * 1e3, "estimated", source))


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def _relative_figures(figures: dict[str, Figure], reference: dict[str, Figure], name: str, reference_name: str,
                      timing: dict[str, Any] | None) -> None:
    """Drops and ratios against the reference variant, all from this run."""
    def value(source: dict[str, Figure], key: str) -> float | None:
        return source[key].value if key in source else None

    accuracy, reference_accuracy = value(figures, "accuracy"), value(reference, "accuracy")
    if accuracy is not None and reference_accuracy is not None:
        figures["accuracy_drop"] = _figure("accuracy_drop", reference_accuracy - accuracy, "derived", f"{reference_name} accuracy minus this one's")
    auroc, reference_auroc = value(figures, "confidence_auroc"), value(reference, "confidence_auroc")
    if auroc is not None and reference_auroc is not None:
        figures["auroc_drop"] = Figure(value=reference_auroc - auroc, unit="auroc", method="derived", source=f"{reference_name} AUROC minus this one's")
    size, reference_size = value(figures, "size_mb"), value(reference, "size_mb")
    if size is not None and reference_size:
        figures["size_ratio"] = _figure("size_ratio", size / reference_size, "derived", f"size against {reference_name}")
    timing = timing or {}
    interval = (timing.get("ratios") or {}).get(name)
    medians = timing.get("median_ms") or {}
    counts = timing.get("variant_threads") or {}
    where = (f", each in a worker process of its own (this one on {counts.get(name)} thread(s), {reference_name} on "
             f"{counts.get(reference_name)})" if len(set(counts.values())) > 1 else f" in one fresh process ({timing.get('threads')} thread(s))")
    if interval and interval.get("ratio") and name != reference_name:
        ratio, low, high = interval["ratio"], interval["low"], interval["high"]
        how = (f"side by side: model alone, batch 1, interleaved with {reference_name}{where}; median of "
               f"{interval.get('rounds')} per-round ratios, 95% bootstrap interval")
        figures["latency_ratio"] = Figure(value=ratio, unit="x", method="derived", source=how, low=low, high=high,
                                          verdict=interval.get("verdict"))
        figures["speedup"] = Figure(value=1.0 / ratio, unit="x", method="derived", source=how,
                                    low=1.0 / high if high else None, high=1.0 / low if low else None,
                                    verdict=interval.get("verdict"))
    elif name in medians and reference_name in medians and medians[reference_name] > 0:
        ratio = medians[name] / medians[reference_name]
        how = f"side by side: model alone, batch 1, interleaved with {reference_name}{where} ({timing.get('rounds')} rounds; no interval)"
        figures["latency_ratio"] = _figure("latency_ratio", ratio, "derived", how)
        figures["speedup"] = _figure("speedup", 1.0 / ratio if ratio > 0 else None, "derived", how)


def judge_gates(gates: dict[str, float | None], figures: dict[str, Figure]) -> list[Gate]:
    judged = []
    for name, limit in gates.items():
        if limit is None:
            continue
        key, direction, unit = GATE_FIGURES[name]
        figure = figures.get(key)
        value = figure.value if figure else None
        if name == "min_agreement":  # written as a fraction in recipes, reported in percent
            limit_shown, value_shown = limit * 100.0, value
        else:
            limit_shown, value_shown = limit, value
        if value_shown is None:
            judged.append(Gate(name=name, limit=limit_shown, unit=unit, value=None, passed=None,
                               note=f"{key} not obtained" + (" (fewer requests than a p99 needs)" if key == "realtime_p99_ms" else "")))
            continue
        passed = value_shown <= limit_shown + 1e-12 if direction == "max" else value_shown >= limit_shown - 1e-12
        judged.append(Gate(name=name, limit=limit_shown, unit=unit, value=value_shown, passed=passed))
    return judged


SPEED_TIE = 0.05  # without intervals (older timings): ratios within 5% of each other are one speed
PARITY_BAND = 0.03  # the reference's own "interval": ratios within 3% of 1 are indistinguishable from it
# Run-to-run drift: the bootstrap interval covers the rounds of one run, not the drift between runs. On
# the shared 2-core VMs here the same variant's ratio moved between back-to-back runs by 1.1-1.9x its
# interval width (benchmarks/decisions.py), which flipped the recommendation between close variants. A
# speed difference decides the recommendation only beyond this margin.
DRIFT_BAND = 0.10

RULES: dict[str, str] = {
    "latency": ("Among the variants that pass every gate, the fastest wins when its latency-ratio interval (95%, side by "
                "side against the reference) stays clear of the others' by more than the 10% run-to-run drift; variants "
                "within that of the fastest are indistinguishable on speed, and among them the smallest wins, then the most "
                "accurate. When the winner is within the drift of the reference (its interval overlaps [0.88, 1.13]) and "
                "neither smaller nor more accurate, no variant is better than the reference, and the reference is kept."),
    "size": ("Among the variants that pass every gate and are not significantly slower than the reference (interval "
             "above [0.97, 1.03]), the smallest wins, then the most accurate, then the fastest. When that is the reference, "
             "no variant is better than it."),
    "accuracy": ("Among the variants that pass every gate and are not significantly slower than the reference (interval "
                 "above [0.97, 1.03]), the most accurate wins, then the smallest, then the fastest. When that is the "
                 "reference, no variant is better than it."),
}


def _speed(variant: Variant, reference: str) -> tuple[float, float, float]:
    """(ratio, low, high) to the reference: the side-by-side interval where there is one; the
    reference is the parity band; a point ratio without an interval gets SPEED_TIE either side; with
    no ratio at all, the bench p50 (a point; only comparable to other p50s)."""
    if variant.name == reference:
        return 1.0, 1 - PARITY_BAND, 1 + PARITY_BAND
    figure = variant.figures.get("latency_ratio")
    if figure is not None and figure.value is not None:
        low, high = figure.interval() or (figure.value / (1 + SPEED_TIE), figure.value * (1 + SPEED_TIE))
        return figure.value, low, high
    p50 = variant.figures.get("model_p50_ms")
    value = p50.value if p50 is not None and p50.value is not None else float("inf")
    return value, value, value


def _figure_value(variant: Variant, key: str, missing: float) -> float:
    figure = variant.figures.get(key)
    return figure.value if figure is not None and figure.value is not None else missing


def _quality(variant: Variant) -> float:
    """Higher is better: task accuracy, else (text models) the mean embedding cosine."""
    return _figure_value(variant, "accuracy", _figure_value(variant, "mean_cosine", float("-inf")))


def recommend(variants: list[Variant], reference: str, objective: Objective = "latency") -> Recommendation:
    """The variant to ship by RULES[objective]: speed is decided only where the intervals say it
    is (overlapping intervals are one speed), so timing noise never decides alone, and "no variant is
    better than the reference" is an answer, not a failure."""
    rule = RULES[objective]
    passing = [variant for variant in variants if variant.passes_gates()]
    if not passing:
        reasons = []
        for variant in variants:
            failed = [gate.name for gate in variant.gates if not gate.passed]
            reasons.append(f"{variant.name}: {variant.status if variant.status != 'ok' else 'fails ' + ', '.join(failed)}")
        return Recommendation(variant=None, reason="no variant passes every gate (" + "; ".join(reasons) + ")",
                              rule=rule, objective=objective)
    speeds = {variant.name: _speed(variant, reference) for variant in passing}
    size = {variant.name: _figure_value(variant, "size_mb", float("inf")) for variant in passing}
    if objective == "latency":
        fastest = min(passing, key=lambda variant: speeds[variant.name][0])
        span = _widened(speeds[fastest.name][1:])
        contenders = [variant for variant in passing if _overlap(speeds[variant.name][1:], span)]
        best = min(contenders, key=lambda v: (size[v.name], -_quality(v), speeds[v.name][0]))
        how = (f"indistinguishable on speed from the fastest ({len(contenders)} variants), the smallest"
               if len(contenders) > 1 else "significantly faster than every other variant (beyond the 10% run-to-run drift)")
    else:
        contenders = [variant for variant in passing if speeds[variant.name][1] <= 1 + PARITY_BAND or variant.name == reference]
        if objective == "size":
            best = min(contenders, key=lambda v: (size[v.name], -_quality(v), speeds[v.name][0]))
            how = "the smallest variant not significantly slower than the reference"
        else:
            best = min(contenders, key=lambda v: (-_quality(v), size[v.name], speeds[v.name][0]))
            how = "the most accurate variant not significantly slower than the reference"
    reference_variant = next((variant for variant in passing if variant.name == reference), None)
    if reference_variant is not None and best.name != reference and _no_better(best, reference_variant, speeds, size, objective):
        how = (f"no variant is better than {reference} (the best, {best.name}, is within the run-to-run drift of it on speed "
               "and neither smaller nor more accurate)")
        best = reference_variant
    elif best.name == reference and len(passing) > 1:
        how = f"no variant is better than {reference} ({how})"
    bits = []
    if best.name != reference:
        speedup = best.figures.get("speedup")
        if speedup is not None and speedup.value is not None:
            span = speedup.interval()
            bits.append(f"{speedup.value:.2f}x the speed of {reference}" + (f" [{span[0]:.2f}, {span[1]:.2f}]" if span else ""))
        if "accuracy_drop" in best.figures and best.figures["accuracy_drop"].value is not None:
            change = -best.figures["accuracy_drop"].value + 0.0  # variant minus reference, like every Δ (no -0.00)
            bits.append(f"accuracy Δ {change:+.2f} pt")
        if "size_ratio" in best.figures and best.figures["size_ratio"].value is not None:
            bits.append(f"{best.figures['size_ratio'].value:.2f}x the size")
    detail = f" ({', '.join(bits)})" if bits else ""
    return Recommendation(variant=best.name, reason=f"{how}; {len(passing)} variant(s) pass every gate{detail}",
                          rule=rule, objective=objective)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _widened(span: tuple[float, float]) -> tuple[float, float]:
    """An interval widened by the run-to-run drift (DRIFT_BAND), for decisions that must hold from run to run."""
    return span[0] / (1 + DRIFT_BAND), span[1] * (1 + DRIFT_BAND)


def _no_better(best: Variant, reference: Variant, speeds: dict[str, tuple[float, float, float]], size: dict[str, float],
               objective: Objective) -> bool:
    """The winner is indistinguishable from the reference on speed and neither smaller nor more accurate."""
    if objective != "latency":
        return False
    indistinguishable = _overlap(speeds[best.name][1:], _widened(speeds[reference.name][1:]))
    return indistinguishable and size[best.name] >= size[reference.name] and _quality(best) <= _quality(reference)


def _suitability(latency_ms: float | None, target_ms: float, limit_ms: float) -> str:
    if latency_ms is None:
        return "unknown (no latency figure)"
    if latency_ms <= target_ms:
        return f"real-time at 20 Hz (under the {target_ms:g} ms target)"
    if latency_ms <= limit_ms:
        return f"real-time at 20 Hz within the {limit_ms:g} ms deadline, not the {target_ms:g} ms target"
    return "offline or batch use (misses the real-time deadline)"


def _worst_realtime(variant: Variant) -> float | None:
    """The real-time p99, or the slowest request seen when the run was too short for a p99."""
    p99 = variant.figures.get("realtime_p99_ms")
    if p99 is not None and p99.value is not None:
        return p99.value
    return variant.realtime.latency_ms.get("max") if variant.realtime else None


def _hardware_rows(report_variants: list[Variant], recommended: str | None, reference: str, bench: dict[str, Any]) -> list[HardwareRow]:
    entries = dict(zip(bench.get("variant_names", []), bench.get("variants", [])))
    """The seed's hardware table: the reference and the recommended variant, measured on this host
    and, where the host is not the target, estimated for the target (and labelled so)."""
    rows = []
    measurement = bench.get("measurement", {})
    target = bench.get("target", {})
    settings = bench.get("settings", {})
    target_ms, limit_ms = settings.get("target_latency_ms", 50.0), settings.get("max_latency_ms", 100.0)
    host = (f"{measurement['device']['hostname']} ({measurement.get('label')})" if measurement.get("device")
            else f"this host ({measurement.get('label', 'measured')}, {measurement.get('threads')} thread(s))")
    names = [reference] + ([recommended] if recommended and recommended != reference else [])
    for name in names:
        variant = next((v for v in report_variants if v.name == name and v.status == "ok"), None)
        if variant is None:
            continue
        p50 = variant.figures.get("model_p50_ms")
        if p50 and p50.value:
            speed = Figure(value=1000.0 / p50.value, unit="Hz", method=p50.method, source=p50.source)
            here_power = variant.figures.get("mean_power_w") if target.get("is_host") else None
            rows.append(HardwareRow(hardware=host, variant=name, speed=speed, latency=p50,
                                    suitable_for=_suitability(_worst_realtime(variant), target_ms, limit_ms),
                                    power=here_power, energy=variant.figures.get("energy_mj") if here_power else None))
        estimate = variant.figures.get("estimated_model_p50_ms") or variant.figures.get("estimated_p50_ms")
        if estimate and estimate.value:
            speed = Figure(value=1000.0 / estimate.value, unit="Hz", method="estimated", source=estimate.source)
            worst = variant.figures.get("estimated_realtime_p99_ms")
            rows.append(HardwareRow(hardware=f"{target.get('name')}: {target.get('description', '')}".strip(), variant=name,
                                    speed=speed, latency=estimate, suitable_for=_suitability(worst.value if worst and worst.value else estimate.value,
                                                              target_ms, limit_ms),
                                    power=variant.figures.get("mean_power_w"), energy=variant.figures.get("energy_mj")))
        rows += _other_target_rows(name, entries.get(name) or {}, target_ms, limit_ms)
    return rows


def _other_target_rows(name: str, entry: dict[str, Any], target_ms: float, limit_ms: float) -> list[HardwareRow]:
    """Every other target profile, estimated from this run (the table covers them all, each labelled)."""
    rows = []
    others = (entry.get("energy") or {}).get("other_targets") or {}
    for target_name, estimate in sorted((entry.get("target_estimates") or {}).items()):
        latency_ms = estimate.get("model_latency_ms")  # the model alone, like the measured and estimated rows above
        source = f"estimated for {target_name}: the model alone, batch 1 (roofline calibrated on this host; not a measurement)"
        if latency_ms is None:
            source = f"estimated for {target_name}: not available ({estimate.get('reason')})"
        latency = Figure(value=latency_ms, unit="ms", method="estimated", source=source)
        speed = Figure(value=None if not latency_ms else 1000.0 / latency_ms, unit="Hz", method="estimated", source=source)
        power, energy = _estimated_power(others.get(target_name))
        rows.append(HardwareRow(hardware=f"{target_name}: {estimate.get('description', '')}".strip(), variant=name, speed=speed,
                                latency=latency, suitable_for=_suitability(latency_ms, target_ms, limit_ms),
                                power=power, energy=energy))
    return rows


def build_report(recipe: RunPlan, builds: list[BuiltVariant], bench: dict[str, Any] | None, timing: dict[str, Any] | None,
                 run_meta: dict[str, Any], run_dir: Path) -> Report:
    reference = recipe.reference
    bench_entries = dict(zip(bench.get("variant_names", []), bench["variants"])) if bench else {}
    measurement = (bench or {}).get("measurement", {})
    label, threads = measurement.get("label", "measured"), measurement.get("threads", 1)
    variants: list[Variant] = []
    for build in builds:
        artifact = build.artifact
        sidecar = _sidecar(run_dir, artifact)
        variant = Variant(
            name=build.name, status=build.status, error=build.error, failed_step=build.failed_step,
            kind=describe_kind(build, sidecar) if build.status == "ok" else None,
            steps=build.steps, artifact=artifact, sha256=build.steps[-1].sha256 if build.steps else None,
        )
        entry = bench_entries.get(build.name)
        if build.status == "ok" and entry is not None:
            if entry["status"] != "ok":
                variant.status, variant.failed_step = "failed", "bench"
                variant.error = f"bench: {entry.get('error')}"
            else:
                variant.runtime = entry.get("runtime")
                variant.figures = _measured_figures(entry, label, threads)
                parameters = (sidecar.get("model") or {}).get("parameters")
                if parameters:
                    variant.figures["parameters"] = _figure("parameters", parameters, "counted", "parameters of the model")
                variant.realtime = _realtime(entry)
        variants.append(variant)
    reference_variant = next((v for v in variants if v.name == reference), None)
    reference_figures = reference_variant.figures if reference_variant else {}
    for variant in variants:
        if variant.status == "ok":
            _relative_figures(variant.figures, reference_figures, variant.name, reference, timing)
            variant.gates = judge_gates(recipe.gates, variant.figures)
    recommendation = recommend(variants, reference, recipe.objective)
    return Report(
        schema="mc.report/1",
        recipe={"name": recipe.name, "description": recipe.description, "path": recipe.path, "model": recipe.model,
                "data": recipe.data or "MNIST-1D test set", "target": recipe.target,
                "gates": {key: value for key, value in recipe.gates.items() if value is not None},
                "sha256": _file_digest(recipe.path)},
        run=run_meta,
        target={key: (bench or {}).get("target", {}).get(key) for key in ("name", "description", "is_host", "threads", "budgets")}
        if bench else {"name": recipe.target},
        measurement={**measurement, "cpu": _cpu(), "timing": timing} if bench else {"label": "nothing was benched", "cpu": _cpu()},
        bench=recipe.bench,
        reference=reference,
        variants=variants,
        hardware=_hardware_rows(variants, recommendation.variant, reference, bench) if bench else [],
        recommendation=recommendation,
    )


def _cpu() -> dict[str, Any]:
    """The CPU the figures come from: int8/fp32 ratios and measured searches depend on its ISA."""
    from mc.doctor import cpu_facts

    return cpu_facts()


def _file_digest(path: str) -> str | None:
    from mc.hashing import sha256_file

    try:
        return sha256_file(Path(path))
    except OSError:
        return None
