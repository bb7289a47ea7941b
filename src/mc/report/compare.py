"""`mc report compare BASE NEW`: the CI gate between two reports of the same recipe.

Deterministic figures gate hard with small tolerances: artifact size, accuracy, confidence AUROC,
and whether a variant still builds and passes its recipe gates. Times never gate as absolute
numbers across machines or runs: only each variant's latency *ratio* to its reference, measured
side by side within one run, is compared, with a tolerance for noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mc.errors import InputError
from mc.report.format import format_value
from mc.report.schema import Figure, Report, Variant

CHECKS = ("status", "gates", "size", "accuracy", "auroc", "fidelity", "latency")
Verdict = Literal["regression", "warning", "ok", "improved", "new", "skipped"]


class Tolerances(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    size: float = Field(0.01, ge=0, description="relative growth of the artifact size allowed")
    accuracy: float = Field(0.2, ge=0, description="accuracy points that may be lost")
    auroc: float = Field(0.01, ge=0, description="confidence AUROC that may be lost")
    fidelity: float = Field(0.005, ge=0, description="text models: mean embedding cosine that may be lost")
    latency: float = Field(0.25, ge=0, description="relative growth of the latency ratio beyond its interval (run-to-run drift)")


@dataclass
class Finding:
    variant: str
    check: str
    base: str
    new: str
    verdict: Verdict
    note: str = ""


@dataclass
class Comparison:
    base_label: str
    new_label: str
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.verdict == "regression"]

    @property
    def passed(self) -> bool:
        return not self.regressions


def parse_fail_on(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset(CHECKS)
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(chosen - set(CHECKS))
    if unknown:
        raise InputError(f"--fail-on {','.join(unknown)}: unknown check; choose from {','.join(CHECKS)}")
    return frozenset(chosen)


def _value(variant: Variant, key: str) -> float | None:
    figure = variant.figures.get(key)
    return figure.value if figure is not None else None


def _verdict(failed: bool, improved: bool, check: str, fail_on: frozenset[str]) -> Verdict:
    if failed:
        return "regression" if check in fail_on else "warning"
    return "improved" if improved else "ok"


CHOSEN_BY_TIMING = "chosen by a measured search: near-tied candidates may swap with timing noise"
TRAINED_ELSEWHERE = "trained on a different CPU, which no CPU reproduces bit for bit"


def chosen_by_timing(variant: Variant) -> bool:
    """True when timing on the host chose what the artifact is (quantize auto, prune to a speed-up):
    near-tied candidates can swap between runs even on one machine, so its size and accuracy are
    reported, not gated (its own budget and the recipe's gates still hold it)."""
    return any(step.chosen_by_timing for step in variant.steps)


def trained(variant: Variant) -> bool:
    """True when the variant was trained (fine-tuning after pruning, distillation): the same on one
    CPU, but not bit for bit on another."""
    return any(step.trains for step in variant.steps)


def same_cpu(base: Report, new: Report) -> bool:
    def cpu(report: Report) -> tuple:
        facts = report.measurement.get("cpu") or {}
        return facts.get("machine"), facts.get("model"), tuple(sorted((facts.get("isa") or {}).items()))

    return cpu(base) == cpu(new) and cpu(base)[1] is not None


def _compare_variant(base: Variant, new: Variant, tolerances: Tolerances, fail_on: frozenset[str], reference: str,
                     comparable_cpu: bool = True) -> list[Finding]:
    """Findings for one variant. Not gated, only reported: what a measured search chose (size and
    accuracy), and across different CPUs the latency ratios (int8 kernels differ by ISA) and what
    training produced there."""
    reasons: dict[str, str] = {}
    if chosen_by_timing(base) or chosen_by_timing(new):
        reasons.update(dict.fromkeys(("size", "accuracy", "auroc", "fidelity"), CHOSEN_BY_TIMING))
    if not comparable_cpu:
        reasons["latency"] = "different CPU: ratios depend on its int8 kernels"
        if trained(base) or trained(new):
            reasons.update({check: reasons.get(check, TRAINED_ELSEWHERE) for check in ("size", "accuracy", "auroc", "fidelity")})
    findings = _findings(base, new, tolerances, fail_on - set(reasons), reference)
    for finding in findings:
        if finding.check in fail_on and finding.check in reasons:
            finding.note = (finding.note + "; " if finding.note else "") + reasons[finding.check]
    return findings


NOT_OBTAINED = "not obtained in the new report, so the check cannot be judged"


def _lost(name: str, check: str, old: float, unit: str, fail_on: frozenset[str]) -> Finding:
    """A gated figure the base had and the new report lacks: passing it unseen would let a broken
    measurement through the gate, so it counts as failing the check (as an unjudged gate does)."""
    return Finding(name, check, format_value(old, unit), "n/a", _verdict(True, False, check, fail_on), NOT_OBTAINED)


def _findings(base: Variant, new: Variant, tolerances: Tolerances, fail_on: frozenset[str], reference: str) -> list[Finding]:
    name = base.name
    if new.status == "unavailable" and base.status != "unavailable":
        return [Finding(name, "status", base.status, new.status, "skipped", new.error or "")]
    if base.status == "ok" and new.status != "ok":
        return [Finding(name, "status", "ok", new.status, _verdict(True, False, "status", fail_on), new.error or "")]
    if base.status != "ok" and new.status == "ok":
        return [Finding(name, "status", base.status, "ok", "improved")]
    if new.status != "ok":
        return [Finding(name, "status", base.status, new.status, "skipped", "did not run in either report")]
    findings = []
    base_gates, new_gates = base.passes_gates(), new.passes_gates()
    failing = ", ".join(f"{gate.name} ({'n/a' if gate.value is None else format(gate.value, '.4g')} vs {gate.limit:g} {gate.unit})"
                        for gate in new.gates if not gate.passed)
    findings.append(Finding(name, "gates", "pass" if base_gates else "fail", "pass" if new_gates else "fail",
                            _verdict(base_gates and not new_gates, new_gates and not base_gates, "gates", fail_on), failing))

    size_base, size_new = _value(base, "size_mb"), _value(new, "size_mb")
    if size_base is not None and size_new is None:
        findings.append(_lost(name, "size", size_base, "MB", fail_on))
    if size_base is not None and size_new is not None:
        grew = size_new > size_base * (1 + tolerances.size)
        findings.append(Finding(name, "size", format_value(size_base, "MB"), format_value(size_new, "MB"),
                                _verdict(grew, size_new < size_base * (1 - tolerances.size), "size", fail_on),
                                f"tolerance +{tolerances.size:.0%}"))
    for check, key, unit, tolerance in (("accuracy", "accuracy", "%", tolerances.accuracy),
                                        ("auroc", "confidence_auroc", "auroc", tolerances.auroc),
                                        ("fidelity", "mean_cosine", "cosine", tolerances.fidelity)):
        old, now = _value(base, key), _value(new, key)
        if old is not None and now is None:
            findings.append(_lost(name, check, old, unit, fail_on))
        if old is None or now is None:
            continue
        findings.append(Finding(name, check, format_value(old, unit), format_value(now, unit),
                                _verdict(now < old - tolerance, now > old + tolerance, check, fail_on),
                                f"tolerance -{tolerance:g}{' pt' if unit == '%' else ''}"))
    if name != reference:
        old, now = _value(base, "latency_ratio"), _value(new, "latency_ratio")
        if old is not None and now is None:
            findings.append(_lost(name, "latency", old, "x", fail_on))
        if old is not None and now is not None:
            findings.append(_latency_finding(name, base.figures["latency_ratio"], new.figures["latency_ratio"],
                                             tolerances.latency, fail_on, reference))
    return findings


def _latency_finding(name: str, base: Figure, new: Figure, tolerance: float, fail_on: frozenset[str],
                     reference: str) -> Finding:
    """With intervals on both sides, a regression only when the new interval lies wholly above the
    base's widened by the tolerance (new.low > base.high * (1 + tolerance)): two runs of one checkout
    overlap, a real slow-down clears both the noise the intervals measured and the run-to-run drift
    the tolerance allows. Without (an older report), the point ratios as before."""
    old, now = base.value, new.value
    assert old is not None and now is not None
    base_span, new_span = _consistent_interval(base), _consistent_interval(new)
    if base_span and new_span:
        worse = new_span[0] > base_span[1] * (1 + tolerance)
        better = new_span[1] < base_span[0] * (1 - tolerance)
        shown = (f"{format_value(old, 'x')} [{base_span[0]:.3g}, {base_span[1]:.3g}]",
                 f"{format_value(now, 'x')} [{new_span[0]:.3g}, {new_span[1]:.3g}]")
        note = (f"ratio to {reference} in the same run, 95% intervals; a regression when the new interval lies above the "
                f"base's widened by {tolerance:.0%}")
    else:
        worse, better = now > old * (1 + tolerance), now < old * (1 - tolerance)
        shown = (format_value(old, "x"), format_value(now, "x"))
        note = f"ratio to {reference} in the same run (no interval in a report); tolerance +{tolerance:.0%}"
    if worse:
        note = f"{name} is slower against {reference}: " + note
    return Finding(name, "latency", shown[0], shown[1], _verdict(worse, better, "latency", fail_on), note)


def _consistent_interval(figure: Figure) -> tuple[float, float] | None:
    """The figure's interval when its value lies inside it; a value edited without its interval must
    not hide behind the stale interval, so it is compared as a point."""
    span = figure.interval()
    if span is None or figure.value is None or not span[0] - 1e-9 <= figure.value <= span[1] + 1e-9:
        return None
    return span


def _usable(variant: Variant) -> bool:
    return any(figure.value is not None for figure in variant.figures.values())


def check_usable(report: Report, role: str, label: str) -> None:
    """Refuse a report that cannot be compared, before it is: every check skips a figure that is
    not there, so a report of nothing (all NaN, all null, figures removed) would otherwise PASS.

    A variant that failed or is unavailable is legitimate (it is compared by its status), and so
    is one with only some figures n/a; a variant that says it ran but carries no figure at all is
    not, and neither is a report without its reference, which every drop and ratio is taken from.
    """
    if report.variant(report.reference) is None:
        raise InputError(f"{role} {label}: its reference variant {report.reference!r} is not in the report: every drop and ratio "
                         "is measured against it; rerun mc run")
    ran = [variant for variant in report.variants if variant.status == "ok"]
    empty = [variant.name for variant in ran if not _usable(variant)]
    if ran and len(empty) == len(ran):
        raise InputError(f"{role} {label} has no usable figures for any variant (all missing, null or NaN): "
                         "was it written by a failed run? rerun mc run")
    if empty:
        which = "reference variant" if empty == [report.reference] else "variant(s)"
        raise InputError(f"{role} {label}: {which} {', '.join(empty)} ran (status ok) but has no usable figures (all missing, "
                         "null or NaN): rerun mc run to write the report again")


def compare_reports(base: Report, new: Report, fail_on: frozenset[str] = frozenset(CHECKS),
                    tolerances: Tolerances = Tolerances(), base_label: str = "base", new_label: str = "new") -> Comparison:
    check_usable(base, "BASE", base_label)
    check_usable(new, "NEW", new_label)
    if base.reference != new.reference:
        raise InputError(f"the reports measure against different references ({base.reference!r} vs {new.reference!r}): "
                         "their ratios cannot be compared; rerun with the same recipe")
    comparison = Comparison(base_label, new_label)
    comparable_cpu = same_cpu(base, new)
    if not comparable_cpu:
        cpus = [str((report.measurement.get("cpu") or {}).get("model") or "unknown") for report in (base, new)]
        comparison.warnings.append(
            f"different CPUs ({cpus[0]} vs {cpus[1]}): latency ratios, and what a measured search or training made, are reported, not gated; "
            "for a latency gate, produce the base on the same machine (see .github/workflows/mc-bench.yml)")
    if base.recipe.get("name") != new.recipe.get("name"):
        comparison.warnings.append(f"different recipes: {base.recipe.get('name')} vs {new.recipe.get('name')}")
    if base.target.get("name") != new.target.get("name"):
        comparison.warnings.append(f"different targets: {base.target.get('name')} vs {new.target.get('name')}")
    for variant in base.variants:
        other = new.variant(variant.name)
        if other is None:
            comparison.findings.append(Finding(variant.name, "status", variant.status, "missing",
                                               _verdict(True, False, "status", fail_on), "the variant is gone from the new report"))
            continue
        comparison.findings.extend(_compare_variant(variant, other, tolerances, fail_on, base.reference, comparable_cpu))
    for variant in new.variants:
        if base.variant(variant.name) is None:
            comparison.findings.append(Finding(variant.name, "status", "absent", variant.status, "new", "not in the base report"))
    return comparison


MARKS = {"regression": "❌ regression", "warning": "⚠️ worse (not gated)", "ok": "✅ ok", "improved": "✅ improved",
         "new": "🆕 new", "skipped": "⏭️ skipped"}


def render_comparison(comparison: Comparison, fail_on: frozenset[str]) -> str:
    """Markdown for a pull-request comment or $GITHUB_STEP_SUMMARY."""
    regressions = comparison.regressions
    headline = ("**mc report compare: PASS**" if comparison.passed
                else f"**mc report compare: FAIL**: {len(regressions)} regression(s)")
    lines = [f"### {headline}", "",
             f"Base `{comparison.base_label}` against new `{comparison.new_label}`. Gated checks: {', '.join(sorted(fail_on))}. "
             "Latency is compared only as each variant's ratio to its reference measured side by side in the same run.", ""]
    lines += [f"> warning: {warning}" for warning in comparison.warnings]
    if comparison.warnings:
        lines.append("")
    lines += ["| variant | check | base | new | verdict | note |", "|---|---|---|---|---|---|"]
    order = {"regression": 0, "warning": 1, "new": 2, "skipped": 3, "improved": 4, "ok": 5}
    for finding in sorted(comparison.findings, key=lambda f: (order[f.verdict], f.variant, CHECKS.index(f.check))):
        note = finding.note.replace("|", "\\|")
        lines.append(f"| {finding.variant} | {finding.check} | {finding.base} | {finding.new} | {MARKS[finding.verdict]} | {note} |")
    return "\n".join(lines) + "\n"
