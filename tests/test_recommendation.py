"""The recommendation rule (speed decided only where the intervals say so; the objective decides among
the indistinguishable; "keep the reference" is an answer) and `mc report compare` on intervals."""

from __future__ import annotations

import json
from pathlib import Path

from mc.report.build import RULES, recommend
from mc.report.schema import Figure, Variant

BASELINE = Path(__file__).resolve().parents[1] / "reports" / "baseline" / "quickstart.json"


def variant(name: str, ratio: float, low: float, high: float, size: float, accuracy: float = 97.0) -> Variant:
    figures = {
        "latency_ratio": Figure(value=ratio, unit="x", method="derived", source="side by side", low=low, high=high),
        "speedup": Figure(value=1 / ratio, unit="x", method="derived", source="side by side", low=1 / high, high=1 / low),
        "size_mb": Figure(value=size, unit="MB", method="counted", source="file"),
        "accuracy": Figure(value=accuracy, unit="%", method="measured", source="test set"),
    }
    return Variant(name=name, status="ok", figures=figures)


REFERENCE = variant("fp32", 1.0, 1.0, 1.0, 6.4)


def test_among_indistinguishable_variants_the_smallest_wins():
    chosen = recommend([REFERENCE, variant("a", 0.50, 0.48, 0.53, 3.0), variant("b", 0.52, 0.50, 0.55, 1.7)], "fp32")
    assert chosen.variant == "b" and "indistinguishable on speed" in chosen.reason and chosen.rule == RULES["latency"]


def test_a_significantly_faster_variant_wins_over_a_smaller_one():
    chosen = recommend([REFERENCE, variant("fast", 0.40, 0.38, 0.42, 3.0), variant("small", 0.60, 0.57, 0.63, 1.7)], "fp32")
    assert chosen.variant == "fast" and "significantly faster" in chosen.reason


def test_no_variant_is_better_than_the_reference_when_the_best_is_a_tie_and_not_smaller_or_more_accurate():
    chosen = recommend([REFERENCE, variant("pruned", 0.99, 0.95, 1.04, 6.4, accuracy=96.0)], "fp32")
    assert chosen.variant == "fp32" and "no variant is better than fp32" in chosen.reason


def test_a_tie_with_the_reference_that_is_smaller_is_shipped():
    chosen = recommend([REFERENCE, variant("int8", 0.99, 0.95, 1.04, 1.7)], "fp32")
    assert chosen.variant == "int8"


def test_objectives_size_and_accuracy_exclude_significantly_slower_variants():
    variants = [REFERENCE, variant("slow-tiny", 1.5, 1.4, 1.6, 0.5), variant("small", 0.9, 0.85, 0.95, 2.0, 96.5),
                variant("accurate", 0.8, 0.75, 0.85, 3.0, 97.5)]
    assert recommend(variants, "fp32", "size").variant == "small"
    assert recommend(variants, "fp32", "accuracy").variant == "accurate"


def _with_intervals(report: dict, scale: dict[str, float]) -> dict:
    for entry in report["variants"]:
        figure = entry["figures"].get("latency_ratio")
        if figure and figure["value"] is not None:
            figure["value"] *= scale.get(entry["name"], 1.0)
            figure["low"], figure["high"] = figure["value"] * 0.97, figure["value"] * 1.03
    return report


def test_compare_passes_overlapping_intervals_and_catches_a_one_and_a_half_times_slow_down(mc, tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps(_with_intervals(json.loads(BASELINE.read_text()), {})))
    same = tmp_path / "same.json"
    same.write_text(json.dumps(_with_intervals(json.loads(BASELINE.read_text()), {"int8-static": 1.15})))
    result = mc("report", "compare", base, same)
    assert result.exit_code == 0, result.stdout + result.stderr
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(_with_intervals(json.loads(BASELINE.read_text()), {"int8-static": 1.5})))
    result = mc("report", "compare", base, slow)
    assert result.exit_code == 1
    failing = [line for line in result.stdout.splitlines() if "❌ regression" in line and "| latency |" in line]
    assert len(failing) == 1 and failing[0].startswith("| int8-static |") and "int8-static is slower" in failing[0]
