"""From what a run produced (the variant builds, the mc.bench/1 result, the side-by-side timing) to
the `mc.report/1` document: every figure with its unit and provenance, the gates judged, and the
recommendation (the fastest variant that passes every gate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mc.report.schema import (
    FIGURE_UNITS, Figure, Gate, HardwareRow, Realtime, Recommendation, Report, Step, Variant,
)

GATE_FIGURES = {  # gate -> (figure it reads, "max" or "min", unit)
    "max_accuracy_drop": ("accuracy_drop", "max", "pt"),
    "min_agreement": ("agreement", "min", "%"),
    "max_auroc_drop": ("auroc_drop", "max", "auroc"),
    "max_size_mb": ("size_mb", "max", "MB"),
    "max_p99_ms": ("realtime_p99_ms", "max", "ms"),
    "max_latency_ratio": ("latency_ratio", "max", "x"),
    "max_peak_rss_mb": ("peak_rss_mb", "max", "MiB"),
    "min_mean_cosine": ("mean_cosine", "min", "cosine"),
    "min_cosine": ("min_cosine", "min", "cosine"),
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
        "model_p50_ms": _figure("model_p50_ms", model_ms.get("p50"), "measured", f"model alone, batch 1, {model_ms.get('count', 0)} calls, {on}"),
        "model_p90_ms": _figure("model_p90_ms", model_ms.get("p90"), "measured", f"model alone, batch 1, {on}"),
        "throughput": _figure("throughput", 1000.0 / model_ms["p50"] if model_ms.get("p50") else None, "derived", "1000 / model p50 (batch 1)"),
        "realtime_p50_ms": _figure("realtime_p50_ms", (scenario.get("latency_ms") or {}).get("p50"), "measured", f"meta pipeline, from scheduled arrival, {on}"),
        "realtime_p99_ms": _figure("realtime_p99_ms", (scenario.get("latency_ms") or {}).get("p99"), "measured", f"meta pipeline, from scheduled arrival, {on} (n/a under 662 requests)"),
        "peak_rss_mb": _figure("peak_rss_mb", entry.get("peak_rss_mb"), "measured", f"peak resident memory of the worker process, {label}"),
    }
    if entry.get("workload") == "text":
        fidelity = entry.get("fidelity") or {}
        against = f"embedding cosine to {fidelity.get('reference', 'the reference')} on {fidelity.get('texts', 0)} texts"
        figures["mean_cosine"] = _figure("mean_cosine", fidelity.get("mean_cosine"), "measured", f"mean {against}")
        figures["min_cosine"] = _figure("min_cosine", fidelity.get("min_cosine"), "measured", f"smallest {against}")
        tokens = (measured.get("tokens") or 64)
        figures["model_p50_ms"] = _figure("model_p50_ms", model_ms.get("p50"), "measured",
                                          f"model alone, batch 1, {tokens} tokens, {model_ms.get('count', 0)} calls, {on}")
        figures["model_p90_ms"] = _figure("model_p90_ms", model_ms.get("p90"), "measured", f"model alone, batch 1, {tokens} tokens, {on}")
    estimate = entry.get("estimated")
    if estimate and estimate.get("latency_ms") is not None:
        figures["estimated_p50_ms"] = _figure("estimated_p50_ms", estimate["latency_ms"], "estimated", f"{estimate.get('label')} (roofline calibrated on this host; not a measurement)")
    return figures


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
    medians = (timing or {}).get("median_ms") or {}
    if name in medians and reference_name in medians and medians[reference_name] > 0:
        ratio = medians[name] / medians[reference_name]
        how = f"model latency against {reference_name}, interleaved in one process ({timing.get('rounds')} rounds, {timing.get('threads')} thread(s))"
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


SPEED_TIE = 0.05  # latency ratios within 5 % of the fastest are one speed on a shared machine


def recommend(variants: list[Variant], reference: str) -> Recommendation:
    """The fastest variant (side-by-side latency, else model p50) that passes every gate; among
    those within SPEED_TIE of the fastest, the smallest, so timing noise never decides alone."""
    def speed_key(variant: Variant) -> float:
        figure = variant.figures.get("latency_ratio") or variant.figures.get("model_p50_ms")
        return figure.value if figure and figure.value is not None else float("inf")

    def size_key(variant: Variant) -> float:
        figure = variant.figures.get("size_mb")
        return figure.value if figure and figure.value is not None else float("inf")

    passing = [variant for variant in variants if variant.passes_gates()]
    if not passing:
        reasons = []
        for variant in variants:
            failed = [gate.name for gate in variant.gates if not gate.passed]
            reasons.append(f"{variant.name}: {variant.status if variant.status != 'ok' else 'fails ' + ', '.join(failed)}")
        return Recommendation(variant=None, reason="no variant passes every gate (" + "; ".join(reasons) + ")")
    fastest = min(speed_key(variant) for variant in passing)
    tied = [variant for variant in passing if speed_key(variant) <= fastest * (1 + SPEED_TIE)]
    best = min(tied, key=lambda variant: (size_key(variant), speed_key(variant)))
    bits = []
    if "speedup" in best.figures and best.figures["speedup"].value is not None and best.name != reference:
        bits.append(f"{best.figures['speedup'].value:.2f}x the speed of {reference}")
    if "accuracy_drop" in best.figures and best.name != reference:
        bits.append(f"{best.figures['accuracy_drop'].value:+.2f} pt accuracy drop")
    if "size_ratio" in best.figures and best.name != reference:
        bits.append(f"{best.figures['size_ratio'].value:.2f}x the size")
    detail = f" ({', '.join(bits)})" if bits else ""
    how = (f"the smallest of {len(tied)} variants within {SPEED_TIE:.0%} of the fastest" if len(tied) > 1 else "the fastest")
    return Recommendation(variant=best.name, reason=f"{how} of {len(passing)} variant(s) that pass every gate{detail}")


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
    """The seed's hardware table: the reference and the recommended variant, measured on this host
    and, where the host is not the target, estimated for the target (and labelled so)."""
    rows = []
    measurement = bench.get("measurement", {})
    target = bench.get("target", {})
    settings = bench.get("settings", {})
    target_ms, limit_ms = settings.get("target_latency_ms", 50.0), settings.get("max_latency_ms", 100.0)
    host = f"this host ({measurement.get('label', 'measured')}, {measurement.get('threads')} thread(s))"
    names = [reference] + ([recommended] if recommended and recommended != reference else [])
    for name in names:
        variant = next((v for v in report_variants if v.name == name and v.status == "ok"), None)
        if variant is None:
            continue
        p50 = variant.figures.get("model_p50_ms")
        if p50 and p50.value:
            speed = Figure(value=1000.0 / p50.value, unit="Hz", method=p50.method, source=p50.source)
            rows.append(HardwareRow(hardware=host, variant=name, speed=speed, latency=p50,
                                    suitable_for=_suitability(_worst_realtime(variant), target_ms, limit_ms)))
        estimate = variant.figures.get("estimated_p50_ms")
        if estimate and estimate.value:
            speed = Figure(value=1000.0 / estimate.value, unit="Hz", method="estimated", source=estimate.source)
            rows.append(HardwareRow(hardware=f"{target.get('name')}: {target.get('description', '')}".strip(), variant=name,
                                    speed=speed, latency=estimate, suitable_for=_suitability(estimate.value, target_ms, limit_ms)))
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
    recommendation = recommend(variants, reference)
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
