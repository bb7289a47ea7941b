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


# --- the auto search's objective, on a fake judge (no model is quantized or timed) ----------------

CANDIDATES = {  # op type -> (ratio, low, high, size in bytes, accuracy)
    "MatMul": (0.50, 0.48, 0.52, 300, 0.970),
    "Gemm": (0.51, 0.49, 0.53, 200, 0.960),  # overlaps MatMul's interval: one speed, and smaller
    "Conv": (0.98, 0.95, 1.01, 100, 0.975),  # indistinguishable from fp32, smallest
    "Gather": (0.90, 0.88, 0.92, 350, 0.950),  # dominated by MatMul on all three
}


class FakeJudge:
    selection = "fake"

    def __init__(self, candidates: dict[str, tuple]):
        self.candidates, self.op_of = candidates, {}

    # a candidate is known by its size (each op type's file has its own): the search builds it under
    # one name and keeps it under another
    def score(self, path):
        op = self.op_of.get(Path(path).stat().st_size)
        return {"accuracy": 0.98 if op is None else self.candidates[op][4]}

    def within_budget(self, metrics, reference):
        return True, "within budget"

    def latency_ms(self, paths, rounds):
        raise AssertionError("the search asks for ratios with intervals when the judge has them")

    def latency_ratios(self, paths, reference, min_rounds, max_seconds):
        from mc.ratios import RatioInterval, RatioTiming, verdict

        ratios = {}
        for name, path in paths.items():
            ratio, low, high = (1.0, 1.0, 1.0) if name == reference else self.candidates[self.op_of[Path(path).stat().st_size]][:3]
            ratios[name] = RatioInterval(ratio, low, high, verdict(low, high), min_rounds)
        return RatioTiming(reference, {name: r.ratio for name, r in ratios.items()}, ratios, min_rounds, 0.1)


def _search(tmp_path, monkeypatch, objective, candidates=CANDIDATES):
    from types import SimpleNamespace

    import mc.quantization.search as search_module
    from mc.progress import SilentProgress
    from mc.quantization.scheme import DynamicStep, QuantizePlan

    judge = FakeJudge(candidates)

    def fake_apply(plan, source, path, calibration, input_name):
        op = plan.steps[0].op_types[0]
        judge.op_of[candidates[op][3]] = op
        Path(path).write_bytes(b"\0" * candidates[op][3])
        return SimpleNamespace(modules={})

    monkeypatch.setattr(search_module, "apply_plan", fake_apply)
    monkeypatch.setattr(search_module, "precision_table", lambda path, modules: {})
    monkeypatch.setattr(search_module, "summary_line", lambda table: "fake")
    source = tmp_path / "fp32.onnx"
    source.write_bytes(b"\0" * 400)
    plans = [QuantizePlan(steps=(DynamicStep(op_types=(op,)),)) for op in candidates]

    def space(searcher):
        yield "op types", plans

    return search_module.search(source, space, judge, None, "x", SilentProgress(), tmp_path, objective=objective)


def test_search_latency_objective_takes_the_smallest_of_the_overlapping_fastest(tmp_path, monkeypatch):
    result = _search(tmp_path, monkeypatch, "latency")
    assert result.best.plan.steps[0].op_types == ("Gemm",) and "objective latency" in result.verdict
    rows = {row["short_label"]: row for row in result.table()}
    assert {row["speed"] for row in rows.values() if row["plan"]} == {"faster", "indistinguishable"}
    pareto = {tuple(row["plan"]["steps"][0]["op_types"]) if row["plan"] else "fp32": row["pareto"] for row in result.table()}
    assert pareto == {"fp32": True, ("MatMul",): True, ("Gemm",): True, ("Conv",): True, ("Gather",): False}


def test_search_size_objective_takes_the_smallest_not_significantly_slower(tmp_path, monkeypatch):
    assert _search(tmp_path, monkeypatch, "size").best.plan.steps[0].op_types == ("Conv",)


def test_search_accuracy_objective_takes_the_most_accurate_of_the_faster(tmp_path, monkeypatch):
    assert _search(tmp_path, monkeypatch, "accuracy").best.plan.steps[0].op_types == ("MatMul",)


def test_search_keeps_fp32_when_no_interval_clears_parity(tmp_path, monkeypatch):
    result = _search(tmp_path, monkeypatch, "latency", {"Conv": CANDIDATES["Conv"]})
    assert result.best is result.fp32 and "not faster beyond timing noise" in result.verdict


def test_an_unknown_objective_is_a_one_line_error(mc):
    from conftest import assert_one_line_error

    assert_one_line_error(mc("run", "quickstart", "--objective", "fastest"), 2, "--objective fastest")
    assert_one_line_error(mc("quantize", "mobile-tiny", "--mode", "auto", "--objective", "fastest"), 2, "--objective")


def test_a_recipe_takes_an_objective():
    from mc.recipes.schema import Recipe

    recipe = Recipe(name="r", model="mobile-tiny", variants={"fp32": ()}, objective="size")
    assert recipe.objective == "size"
