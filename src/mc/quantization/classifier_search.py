"""The auto search for classifiers (MNIST-1D-style models returning (logits, confidence)): the
candidate space and the judge `mc.quantization.search` runs with.

Space, in stages, each chosen after the previous one was measured:
  1. op types: static QDQ of the convolutions, dynamic int8 of the weight MatMuls, both, all
     weights, everything (dynamic MatMuls only without a calibration set);
  2. for the two fastest that miss the budget: other calibration methods;
  3. the fastest candidate that still misses the budget, with its most SQNR-sensitive nodes
     kept in fp32 (1, 2, 4, 8 of them).
Judge: task accuracy drop, top-1 agreement and confidence-AUROC drop against fp32 on held-out data.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mc.quantization.apply import preprocess
from mc.quantization.evaluate import reference_outputs, score
from mc.quantization.scheme import DynamicStep, QuantizePlan, StaticStep
from mc.quantization.search import FASTER_MARGIN, Searcher
from mc.quantization.sensitivity import rank_sensitive_nodes


class ClassifierBudget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_accuracy_drop: float = Field(0.5, ge=0, le=100, description="percentage points on the selection data")
    min_agreement: float = Field(0.99, ge=0, le=1, description="top-1 agreement with fp32")
    max_auroc_drop: float = Field(0.01, ge=0, le=1, description="confidence AUROC drop")
    fallback_steps: tuple[int, ...] = (1, 2, 4, 8)


def within_classifier_budget(budget: ClassifierBudget, metrics: dict[str, Any], reference: dict[str, Any]) -> tuple[bool, str]:
    """(accepted, why) for a classifier's figures (accuracy, top-1 agreement, confidence AUROC, as
    fractions) against its fp32 reference's: every search of mc judges a candidate by this."""
    problems = []
    if metrics.get("accuracy") is not None and reference.get("accuracy") is not None:
        drop = (reference["accuracy"] - metrics["accuracy"]) * 100
        if drop > budget.max_accuracy_drop:
            problems.append(f"accuracy -{drop:.2f} pt")
    if metrics.get("top1_agreement") is not None and metrics["top1_agreement"] < budget.min_agreement:
        problems.append(f"agreement {metrics['top1_agreement']:.1%}")
    if metrics.get("confidence_auroc") is not None and reference.get("confidence_auroc") is not None:
        if reference["confidence_auroc"] - metrics["confidence_auroc"] > budget.max_auroc_drop:
            problems.append(f"AUROC -{reference['confidence_auroc'] - metrics['confidence_auroc']:.3f}")
    return (not problems, ", ".join(problems) if problems else "within budget")


class ClassifierJudge:
    def __init__(self, x: np.ndarray, y: np.ndarray | None, selection: str, budget: ClassifierBudget, threads: int,
                 reference_path: Path):
        self.x, self.budget, self.threads, self.selection = x, budget, threads, selection
        self.reference = reference_outputs(reference_path, x, y, threads)

    def score(self, path: Path) -> dict[str, Any]:
        found = score(path, self.reference, self.threads)
        return {key: found.get(key) for key in ("accuracy", "top1_agreement", "confidence_auroc", "max_abs_diff")}

    def within_budget(self, metrics: dict[str, Any], reference: dict[str, Any]) -> tuple[bool, str]:
        return within_classifier_budget(self.budget, metrics, reference)

    def latency_ms(self, paths: dict[str, Path], rounds: int) -> dict[str, float]:
        from mc.timing import onnx_latency_ms

        return onnx_latency_ms(paths, self.x[:1], self.threads, rounds=rounds)

    def latency_ratios(self, paths: dict[str, Path], reference: str, min_rounds: int, max_seconds: float):
        from mc.ratios import onnx_latency_ratios

        return onnx_latency_ratios(paths, reference, self.threads, self.x[:1], min_rounds=min_rounds, max_seconds=max_seconds)


def structure_plans(preset: StaticStep) -> list[QuantizePlan]:
    """Stage 1: which ops to quantize, and how. `preset` carries the target's int8 scheme."""
    dynamic = DynamicStep(op_types=("MatMul", "Gemm"), reduce_range=preset.reduce_range, per_channel=False)
    conv = preset.model_copy(update={"op_types": ("Conv",)})
    weights = preset.model_copy(update={"op_types": ("Conv", "MatMul", "Gemm")})
    return [
        QuantizePlan(steps=(conv,)),
        QuantizePlan(steps=(dynamic,)),
        QuantizePlan(steps=(conv, dynamic)),
        QuantizePlan(steps=(weights,)),
        QuantizePlan(steps=(preset.model_copy(update={"op_types": None}),)),
    ]


def _with_exclusions(plan: QuantizePlan, nodes: tuple[str, ...]) -> QuantizePlan:
    steps = tuple(step.model_copy(update={"exclude_nodes": nodes}) for step in plan.steps)
    return plan.model_copy(update={"steps": steps})


def classifier_space(preset: StaticStep, has_calibration: bool, budget: ClassifierBudget, sensitivity_x: np.ndarray,
                     threads: int):
    def stages(searcher: Searcher) -> Iterator[tuple[str, list[QuantizePlan]]]:
        if not has_calibration:
            yield "op types", [QuantizePlan(steps=(DynamicStep(op_types=("MatMul", "Gemm"), reduce_range=preset.reduce_range),))]
        else:
            yield "op types", structure_plans(preset)
        timed = [c for c in searcher.candidates if c.plan is not None and c.ratio_to_fp32 is not None]
        calibration_plans = []
        for candidate in sorted(timed, key=lambda c: c.ratio_to_fp32)[:2]:  # type: ignore[arg-type, return-value]
            statics = [step for step in candidate.plan.steps if isinstance(step, StaticStep)]  # type: ignore[union-attr]
            if not statics or candidate.within_budget:
                continue
            for method in ("percentile", "entropy"):
                steps = tuple(step.model_copy(update={"calibration_method": method}) if isinstance(step, StaticStep) else step
                              for step in candidate.plan.steps)  # type: ignore[union-attr]
                calibration_plans.append(candidate.plan.model_copy(update={"steps": steps}))  # type: ignore[union-attr]
        yield "calibration", calibration_plans
        failing = sorted((c for c in searcher.candidates if c.plan is not None and c.ratio_to_fp32 is not None
                          and not c.within_budget and c.ratio_to_fp32 < FASTER_MARGIN), key=lambda c: c.ratio_to_fp32)  # type: ignore[arg-type, return-value]
        if not failing or any(c.within_budget and c.plan is not None and c.ratio_to_fp32 is not None
                              and c.ratio_to_fp32 <= failing[0].ratio_to_fp32 for c in searcher.candidates):  # type: ignore[operator]
            return
        target = failing[0]
        with tempfile.TemporaryDirectory(prefix="mc-pre-") as predir:
            float_pre = Path(predir) / "pre.onnx"
            preprocess(searcher.source, float_pre)
            sensitivity = rank_sensitive_nodes(float_pre, target.path, sensitivity_x, threads)
        searcher.details["sensitivity"] = sensitivity
        yield "fp32 fallback", [_with_exclusions(target.plan, tuple(row["node"] for row in sensitivity[:count]))  # type: ignore[arg-type]
                                for count in budget.fallback_steps if count <= len(sensitivity)]

    return stages
