"""What a report says, independent of how it is drawn: the title, the note on how figures were
obtained, and every table as rows of cells. Markdown and HTML both render these, so a number, a
"n/a" or a pass/fail verdict cannot differ between `report.md` and `report.html`.

Cells hold plain, unescaped text; each renderer escapes for its own syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mc.report.format import (
    NA,
    format_delta,
    format_figure,
    format_number,
    format_setting,
    format_value,
    gate_relation,
    is_estimated,
    significant,
    one_line,
    unit_label,
)
from mc.report.schema import Figure, Gate, Report, Variant

Tone = Literal["pass", "fail", "unjudged", "muted"]


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone | None = None  # a verdict the HTML colours; Markdown spells it out in `text`
    numeric: bool = False  # right-aligned, so digits line up down a column
    estimated: bool = False  # holds an estimate (the text already carries the mark)
    hint: str = ""  # where the figure came from (`Figure.source`), a tooltip in HTML


@dataclass(frozen=True)
class Table:
    key: str  # a stable id (HTML anchors, tests)
    title: str
    headers: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    numeric_columns: frozenset[int] = frozenset()


# --- the header ----------------------------------------------------------------------------------


def _name(data: dict[str, Any], fallback: str) -> str:
    value = data.get("name")
    return str(value) if value else fallback


def title(report: Report) -> str:
    return f"mc report: {_name(report.recipe, 'recipe')} → {_name(report.target, 'target')}"


def run_facts(report: Report) -> list[tuple[str, str]]:
    """The facts a reader needs to find and trust the run: which, when, where, with what."""
    facts = [
        ("recipe", _name(report.recipe, NA)),
        ("target", _describe(report.target)),
        ("run", str(report.run.get("id", NA))),
        ("host", host_description(report.measurement)),
        ("started", str(report.run.get("started", NA))),
    ]
    seconds = report.run.get("seconds")
    if isinstance(seconds, (int, float)):
        facts.append(("took", format_value(float(seconds), "s")))
    return facts


def _describe(target: dict[str, Any]) -> str:
    name = _name(target, NA)
    description = target.get("description")
    return f"{name} ({description})" if description else name


def host_name(measurement: dict[str, Any]) -> str:
    """The bench records the host as a dict (hostname, machine, cpu_count, ...); older or hand-made
    reports may hold a plain string."""
    host = measurement.get("host")
    if isinstance(host, dict):
        return str(host.get("hostname") or "this host")
    return str(host) if host else "this host"


def host_description(measurement: dict[str, Any]) -> str:
    host = measurement.get("host")
    if not isinstance(host, dict):
        return host_name(measurement)
    details = [str(host[key]) for key in ("machine", "system") if host.get(key)]
    if host.get("cpu_count"):
        details.append(f"{host['cpu_count']} cores")
    return f"{host_name(measurement)} ({', '.join(details)})" if details else host_name(measurement)


def measurement_note(report: Report) -> str:
    """What "measured on HOST, N threads" means: the first thing a reader needs, because a latency
    measured on a 2-core x86 VM says little about a Raspberry Pi unless it says which it is."""
    host = host_name(report.measurement)
    threads = report.measurement.get("threads")
    thread_text = f"{threads} thread{'s' if threads != 1 else ''}" if threads is not None else "an unrecorded thread count"
    target = _name(report.target, "the target")
    parts = [f"Latencies, speeds and memory are measured on {host} with {thread_text}"]
    note = report.measurement.get("thread_note")
    if note:
        parts[0] += f" ({note})"
    if report.measurement.get("isa_note"):
        parts[0] += f"; {report.measurement['isa_note']}"
    if report.target.get("is_host"):
        parts.append(f"{host} is the target ({target}), so these are the target's own numbers.")
    else:
        parts[0] += f": they are {host}'s numbers, not {target}'s"
        parts.append(f"Figures marked (est.) are roofline estimates for {target}, not measurements.")
    parts.append(
        f"Sizes and parameter counts are counted from the files; MB = 10^6 bytes for files and memory alike. "
        f"Changes (Δ), ratios and speed-ups are against the reference variant {report.reference} in the same run; "
        "every Δ is this variant minus the reference, so + is up whatever the figure. n/a: not obtained (a failed step, "
        "or too few queries for that percentile)."
    )
    return ". ".join(part.rstrip(".") for part in parts) + "."


def recommendation_rule(report: Report) -> str:
    """The rule that chose the recommendation, so a reader can check it against the table."""
    rule = report.recommendation.rule
    return f"Objective {report.recommendation.objective}. {rule}" if rule else ""


def recommendation_line(report: Report) -> str:
    recommendation = report.recommendation
    reason = one_line(recommendation.reason)
    if recommendation.variant is None:
        return f"No variant to ship: {reason}"
    return f"Ship {recommendation.variant}: {reason}"


def versions_line(report: Report) -> str:
    versions = report.measurement.get("versions") or {}
    if not isinstance(versions, dict):
        return ""
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()) if version)


# --- cells ---------------------------------------------------------------------------------------


def figure_cell(figure: Figure | None, text: str | None = None) -> Cell:
    shown = format_figure(figure) if text is None else text
    return Cell(
        shown,
        tone="muted" if shown == NA else None,
        numeric=True,
        estimated=is_estimated(figure),
        hint=figure.source if figure is not None else "",
    )


def _figure(variant: Variant, key: str) -> Figure | None:
    return variant.figures.get(key)


def _value(variant: Variant | None, key: str) -> float | None:
    figure = variant.figures.get(key) if variant is not None else None
    return figure.value if figure is not None else None


def variant_label(report: Report, variant: Variant) -> str:
    """The seed's "Implementation": the variant's name, what it is, and which one is the yardstick."""
    label = variant.name
    if variant.kind and variant.kind != variant.name:
        label += f" · {variant.kind}"
    if variant.name == report.reference:
        label += " (reference)"
    return label


def _joined(*parts: str) -> str:
    shown = [part for part in parts if part and part != NA]
    return " · ".join(shown) if shown else NA


# --- the seed's implementation table --------------------------------------------------------------


def _size_text(variant: Variant) -> str:
    size = format_figure(_figure(variant, "size_mb"))
    ratio = _figure(variant, "size_ratio")
    if size == NA or ratio is None or ratio.value is None:
        return size
    return f"{size} · {format_figure(ratio)} ref"


def _speed_text(variant: Variant) -> str:
    """The bench's figures of the model alone, in its own process: a level, not a comparison."""
    p50 = _figure(variant, "model_p50_ms")
    if p50 is None or p50.value is None:
        return NA
    return _joined(f"{format_figure(p50)} p50", format_figure(_figure(variant, "throughput")))


def _speedup_text(variant: Variant) -> str:
    """The one speed figure that compares: side by side, interleaved with the reference, with its
    interval and verdict. It has its own column, so it never reads as the ratio of two bench p50s."""
    speedup = _figure(variant, "speedup")
    if speedup is None or speedup.value is None:
        return NA
    span = speedup.interval()
    interval = f" [{format_value(span[0], 'x')}, {format_value(span[1], 'x')}]" if span else ""
    verdict = f" · {speedup.verdict}" if speedup.verdict else ""
    return f"{format_figure(speedup)}{interval}{verdict}"


def _accuracy_text(variant: Variant, reference: Variant | None) -> str:
    """Accuracy with its change against the reference (variant minus reference, like every Δ)."""
    text = format_figure(_figure(variant, "accuracy"))
    if text == NA or reference is None or reference.name == variant.name:
        return text
    delta = format_delta(_value(variant, "accuracy"), _value(reference, "accuracy"), "pt")
    return f"{text} · Δ {delta} pt" if delta else text


def _auroc_text(variant: Variant, reference: Variant | None) -> str:
    """AUROC with its change against the reference: a compression that keeps accuracy but breaks the
    confidence head (the model's knowledge of its own errors) shows here and nowhere else."""
    figure = _figure(variant, "confidence_auroc")
    text = format_figure(figure)
    if text == NA or reference is None or reference.name == variant.name:
        return text
    delta = format_delta(_value(variant, "confidence_auroc"), _value(reference, "confidence_auroc"), "auroc")
    return f"{text} · Δ {delta}" if delta else text


def _status_cell(report: Report, variant: Variant) -> Cell:
    label = variant_label(report, variant)
    if variant.status == "ok":
        return Cell(label)
    return Cell(f"{label}: {variant.status.upper()}", tone="fail" if variant.status == "failed" else "unjudged")


def peak_text(fraction: Figure | None) -> str:
    """A fraction of peak in percent: small models reach 0.05 %, which must not read as 0.1 % or 0.0 %."""
    if fraction is None or fraction.value is None or not 0 < fraction.value < 1:
        return format_figure(fraction)
    return f"{significant(fraction.value, 2)} %"


def implementation_table(report: Report) -> Table:
    """The seed's "Optimization Results" table, one row per variant, every figure from this run."""
    reference = report.variant(report.reference)
    target = _name(report.target, "target")
    # The model alone, estimated beside the model alone measured; a report written before mc estimated
    # like with like holds model + pipeline under its older key, and says so.
    estimate_key = ("estimated_model_p50_ms" if any(_figure(variant, "estimated_model_p50_ms") for variant in report.variants)
                    else "estimated_p50_ms")
    with_estimate = any(_figure(variant, estimate_key) for variant in report.variants)
    with_fidelity = any(_figure(variant, "mean_cosine") for variant in report.variants)
    headers = ["Implementation", "Model size", "Speed-up vs ref (side by side)", "Model latency (bench)",
               "Memory (peak RSS)", "Accuracy (Δ ref)",
               "Agreement with ref", "Confidence AUROC (Δ ref)"]
    if with_fidelity:
        headers.append("Embedding cosine to ref (mean · min)")
    with_peak = any(_figure(variant, "peak_fraction") for variant in report.variants)
    if with_peak:
        headers.append("Of host peak (GOP/s · fraction)")
    if with_estimate:
        headers.append(f"Est. on {target} (model alone, p50)" if estimate_key == "estimated_model_p50_ms"
                       else f"Est. on {target} (model + pipeline)")
    rows: list[list[Cell]] = []
    for variant in report.variants:
        p50 = _figure(variant, "model_p50_ms")
        row = [
            _status_cell(report, variant),
            figure_cell(_figure(variant, "size_mb"), _size_text(variant)),
            figure_cell(_figure(variant, "speedup"), _speedup_text(variant)),
            figure_cell(p50, _speed_text(variant)),
            figure_cell(_figure(variant, "peak_rss_mb")),
            figure_cell(_figure(variant, "accuracy"), _accuracy_text(variant, reference)),
            figure_cell(_figure(variant, "agreement")),
            figure_cell(_figure(variant, "confidence_auroc"), _auroc_text(variant, reference)),
        ]
        if with_fidelity:
            mean = _figure(variant, "mean_cosine")
            row.append(figure_cell(mean, _joined(format_figure(mean), format_figure(_figure(variant, "min_cosine")))))
        if with_peak:
            fraction = _figure(variant, "peak_fraction")
            row.append(figure_cell(fraction, _joined(format_figure(_figure(variant, "gops")), peak_text(fraction))))
        if with_estimate:
            row.append(figure_cell(_figure(variant, estimate_key)))
        rows.append(row)
    notes = [(
        f"Speed-up: the one speed figure that compares variants: {report.reference}'s time over this one's, the "
        "model alone at batch 1, interleaved with the reference in one process, with its 95% interval "
        "(indistinguishable: the interval overlaps parity); the recommendation reads it. Model latency (bench): "
        "p50 and inferences per second of the model alone, each variant in its own process: a level on this host, "
        "not a comparison (two bench p50s need not agree with the speed-up). Accuracy: on the held-out set, Δ in points against the reference. "
        "Agreement: top-1 answers identical to the reference. Confidence AUROC: how well the confidence "
        "head separates right from wrong answers (0.5 is chance): a drop means the model no longer knows "
        "when it is wrong."
        + (" Of host peak: the model's ops per second at its bench p50, and the time its ops would take at this "
           "host's measured GEMM peak (fp32, or int8 for int8 ops) over the time they took: the gap to the "
           "machine's limit." if with_peak else "")
        + (" Embedding cosine (text models): each text's embedding against the reference's on real text, "
           "the mean and the worst text." if with_fidelity else "")
    )]
    return Table("implementations", "Optimization results", headers, rows, notes, frozenset(range(1, len(headers))))


# --- the seed's hardware table --------------------------------------------------------------------


def hardware_table(report: Report) -> Table:
    rows = []
    for row in report.hardware:
        variant = report.variant(row.variant)
        model_type = variant_label(report, variant) if variant is not None else row.variant
        speed = _joined(format_figure(row.speed), format_figure(row.latency))
        rows.append([
            Cell(row.hardware),
            Cell(model_type),
            Cell(speed, tone="muted" if speed == NA else None, numeric=True,
                 estimated=is_estimated(row.speed) or is_estimated(row.latency),
                 hint=row.speed.source or row.latency.source),
            Cell(row.suitable_for),
        ])
        power = _joined(format_figure(row.power), format_figure(row.energy) + ("/inference" if row.energy and row.energy.value is not None else ""))
        rows[-1].append(Cell(power, tone="muted" if power == NA else None, numeric=True,
                             estimated=is_estimated(row.power) or is_estimated(row.energy),
                             hint=(row.power.source if row.power else "") or (row.energy.source if row.energy else "")))
    notes = [] if rows else ["No hardware rows in this run."]
    if rows:
        notes.append("Power and energy at the real-time rate (20 Hz): estimated from each profile's published idle and loaded "
                     "watts (utilisation = service time x rate), measured only where this host exposes RAPL counters.")
    return Table("hardware", "Hardware", ["Hardware", "Model type", "Inference speed", "Suitable for", "Power · energy"],
                 rows, notes, frozenset({2, 4}))


# --- real-time statistics -------------------------------------------------------------------------


def _ms(value: float | None) -> Cell:
    text = format_value(None if value is None else float(value), "ms")
    return Cell(text, tone="muted" if text == NA else None, numeric=True)


def _count(value: int, of: int, bad: bool = True) -> Cell:
    """A count with its share of requests: "3 (1.5 %)" says more than "3" when runs differ in length."""
    share = f" ({format_number(100.0 * value / of, '%')} %)" if of and value else ""
    return Cell(f"{value:,}{share}", tone="fail" if bad and value else None, numeric=True)


def bench_summary(bench: dict[str, Any]) -> str:
    """The settings that decide what the real-time numbers mean: rate, arrivals, duration, warm-up."""
    if not bench:
        return "settings not recorded"
    rate = bench.get("rate", bench.get("rate_hz"))
    parts = [f"{float(rate):g} Hz" if rate else "the pipeline's default rate"]
    if bench.get("arrivals"):
        parts.append(f"{bench['arrivals']} arrivals")
    duration = bench.get("duration", bench.get("duration_s"))
    if duration:
        parts.append(f"{format_setting(float(duration), 's')} per variant")
    if bench.get("warmup") is not None:
        parts.append(f"{bench['warmup']} warm-up requests")
    return ", ".join(parts)


def realtime_table(report: Report) -> Table:
    headers = ["Variant", "Requests", "Completed", "Dropped", "p50", "p90", "p99", "max"]
    sample = next((variant.realtime for variant in report.variants if variant.realtime), None)
    target_ms = format_setting(sample.target_ms, "ms") if sample else "50 ms"
    limit_ms = format_setting(sample.limit_ms, "ms") if sample else "100 ms"
    headers += [f"Over {target_ms}", f"Over {limit_ms}", "Final quality level"]
    target = _name(report.target, "target")
    with_estimate = any(_figure(variant, "estimated_realtime_p50_ms") for variant in report.variants)
    if with_estimate:
        headers += [f"Est. p50 on {target}", f"Est. p99 on {target}"]
    rows = []
    for variant in report.variants:
        stats = variant.realtime
        if stats is None:
            continue
        latency = stats.latency_ms
        rows.append([
            Cell(variant.name),
            Cell(f"{stats.requests:,}", numeric=True),
            Cell(f"{stats.completed:,}", numeric=True),
            _count(stats.dropped, stats.requests),
            _ms(latency.get("p50")),
            _ms(latency.get("p90")),
            _ms(latency.get("p99")),
            _ms(latency.get("max")),
            _count(stats.misses_over_target, stats.requests),
            _count(stats.misses_over_limit, stats.requests),
            Cell(stats.final_quality_level or NA, tone=None if stats.final_quality_level else "muted"),
        ] + ([figure_cell(_figure(variant, "estimated_realtime_p50_ms")), figure_cell(_figure(variant, "estimated_realtime_p99_ms"))]
             if with_estimate else []))
    notes = [(
        f"The meta pipeline driven open loop ({bench_summary(report.bench)}); latency runs from each "
        "request's scheduled arrival, so queueing behind a slow frame counts. Misses include dropped requests. "
        "Percentiles are nearest rank; n/a where the run had too few requests for that percentile "
        "(p90 needs 64, p99 needs 662). " + quality_levels_note()
    )]
    if with_estimate:
        notes.append(f"Est. on {target}: the same scenario simulated for {target}, not measured: its arrivals replayed "
                     "through a first-come-first-served queue whose service time is the model's roofline estimate plus "
                     "the pipeline's own cost measured here, with the same deadline and quality controller; so queueing "
                     "is in the estimate as it is in the measurement beside it.")
    if not rows:
        notes.append("No variant ran the real-time scenario.")
    return Table("realtime", "Real-time scenario", headers, rows, notes, frozenset(range(1, len(headers))) - {10})


def quality_levels_note() -> str:
    """The meta pipeline's quality levels, from the pipeline's own table, where a level is shown."""
    from mc.pipeline.quality import QUALITY_LEVELS

    levels = ", ".join(f"{level.name} ({level.recursion_depth} level{'s' if level.recursion_depth > 1 else ''} of recursive "
                       f"awareness, {level.alternatives} alternative{'s' if level.alternatives > 1 else ''} reported)"
                       for level in QUALITY_LEVELS)
    return ("Final quality level: where the meta pipeline's adaptive controller ended; the levels, cheapest first: "
            f"{levels}. It steps down one level when a window of requests averages over the deadline and up when it "
            "averages well under the target, so ending below the starting level (standard, by default) means the "
            "variant could not keep up at full depth.")


# --- gates ----------------------------------------------------------------------------------------


def _gate_names(report: Report) -> list[str]:
    names: list[str] = []
    for variant in report.variants:
        names += [gate.name for gate in variant.gates if gate.name not in names]
    return names


def gate_limit_text(gate: Gate) -> str:
    return f"{gate_relation(gate.name)} {format_setting(gate.limit, gate.unit)}"


def _gate_header(report: Report, name: str) -> str:
    limits = {gate_limit_text(gate) for variant in report.variants for gate in variant.gates if gate.name == name}
    return f"{name} {limits.pop()}" if len(limits) == 1 else name


def gate_cell(gate: Gate | None, show_limit: bool) -> Cell:
    """A verdict and the figure it was judged on; a gate that could not be judged says so, because
    "no figure" must not read as "passed"."""
    if gate is None:
        return Cell("not gated", tone="muted")
    value = format_value(gate.value, gate.unit)
    if gate.name.endswith("_drop") and gate.value is not None:
        # A drop gate judges reference minus variant; the cell shows the change as every Δ reads
        # (variant minus reference), so an AUROC that went up is +, not a "−0.011" drop.
        label = unit_label(gate.unit)
        delta = format_delta(-gate.value, 0.0, gate.unit)
        value = f"Δ {delta}" + (f" {label}" if label else "")
    limit = f" ({gate_limit_text(gate)})" if show_limit else ""
    note = f"; {one_line(gate.note)}" if gate.note else ""
    if gate.passed is None:
        return Cell(f"not judged: {value}{limit}{note}", tone="unjudged")
    verdict = "pass" if gate.passed else "FAIL"
    return Cell(f"{verdict}: {value}{limit}{note}", tone="pass" if gate.passed else "fail")


def overall_gate_cell(variant: Variant) -> Cell:
    if variant.status != "ok":
        return Cell(f"not run ({variant.status})", tone="unjudged")
    if variant.passes_gates():
        return Cell("pass", tone="pass")
    if any(gate.passed is False for gate in variant.gates):
        return Cell("FAIL", tone="fail")
    return Cell("not judged", tone="unjudged")


def gates_table(report: Report) -> Table:
    names = _gate_names(report)
    headers = ["Variant"] + [_gate_header(report, name) for name in names] + ["All gates"]
    rows = []
    for variant in report.variants:
        by_name = {gate.name: gate for gate in variant.gates}
        row = [Cell(variant.name)]
        for name, header in zip(names, headers[1:]):
            gate = by_name.get(name)
            if gate is None and variant.status != "ok":
                row.append(Cell(NA, tone="muted"))
            else:
                row.append(gate_cell(gate, show_limit=header == name))
        row.append(overall_gate_cell(variant))
        rows.append(row)
    notes = [] if names else ["The recipe defines no gates."]
    if any(name.endswith("_drop") for name in names):
        notes.append("A *_drop gate limits the reference minus this variant; its cells show the change as every Δ in "
                     "this report reads, this variant minus the reference (+ is up): Δ −0.30 pt is a drop of 0.30 pt.")
    return Table("gates", "Gates", headers, rows, notes)


# --- variants that did not run --------------------------------------------------------------------


def problems_table(report: Report) -> Table:
    rows = [
        [
            Cell(variant.name),
            Cell(variant.status, tone="fail" if variant.status == "failed" else "unjudged"),
            Cell(variant.failed_step or NA, tone=None if variant.failed_step else "muted"),
            Cell(one_line(variant.error) or "no reason recorded"),
        ]
        for variant in report.variants
        if variant.status != "ok"
    ]
    return Table("problems", "Failed and unavailable variants", ["Variant", "Status", "Step", "Reason"], rows)


def all_tables(report: Report) -> list[Table]:
    """The tables in reading order; a table with nothing to say (no failures) is left out."""
    tables = [implementation_table(report), hardware_table(report), realtime_table(report), gates_table(report)]
    problems = problems_table(report)
    return tables + ([problems] if problems.rows else [])
