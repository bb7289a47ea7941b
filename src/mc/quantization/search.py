"""`--mode auto`: measure candidates, keep the fastest one within the accuracy budget.

On CPUs without int8 dot-product instructions, quantizing every op is often slower than fp32,
while quantizing the right ops is faster. So the search measures, on this machine under the
target's thread count, each candidate's latency (interleaved with fp32, as a ratio) and its
accuracy on held-out data:
  1. op-type choices (static QDQ of convolutions, dynamic int8 of weight MatMuls, both, all);
  2. for the fast candidates: calibration methods and per-channel;
  3. per-node fallback to fp32 of the nodes that lose the most SQNR (float vs quantized activations).
It keeps the fastest candidate within budget and says plainly when none beats fp32.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mc.errors import InputError
from mc.progress import Progress
from mc.quantization.apply import apply_plan, preprocess
from mc.quantization.evaluate import ReferenceOutputs, reference_outputs, score
from mc.quantization.precision import precision_table, summary_line
from mc.quantization.scheme import DynamicStep, QuantizeConfig, StaticStep
from mc.quantization.sensitivity import rank_sensitive_nodes
from mc.timing import onnx_latency_ms

FASTER_MARGIN = 0.97  # a candidate must be at least 3% faster than fp32 to be worth int8's risks
CONFIRM_CANDIDATES = 3  # the fastest few within budget are timed again, longer, before one is kept
CONFIRM_ROUNDS = 25


class SearchBudget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_accuracy_drop: float = Field(0.5, ge=0, le=100, description="percentage points on the selection data")
    min_agreement: float = Field(0.99, ge=0, le=1, description="top-1 agreement with fp32")
    max_auroc_drop: float = Field(0.01, ge=0, le=1, description="confidence AUROC drop")
    fallback_steps: tuple[int, ...] = (1, 2, 4, 8)


@dataclass
class Candidate:
    label: str
    config: QuantizeConfig | None  # None: the fp32 reference
    path: Path
    stage: str
    latency_ms: float | None = None
    ratio_to_fp32: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    size_bytes: int = 0
    precision: str = ""
    within_budget: bool = False
    confirmed: bool = False  # timed again in the final, longer run
    reason: str = ""
    error: str | None = None

    def as_row(self) -> dict[str, Any]:
        return {
            "label": self.label, "short_label": self.config.short_label() if self.config else "fp32", "stage": self.stage,
            "config": self.config.model_dump(mode="json") if self.config else None,
            "latency_ms": self.latency_ms, "ratio_to_fp32": self.ratio_to_fp32,
            "accuracy": self.metrics.get("accuracy"), "top1_agreement": self.metrics.get("top1_agreement"),
            "confidence_auroc": self.metrics.get("confidence_auroc"), "max_abs_diff": self.metrics.get("max_abs_diff"),
            "size_bytes": self.size_bytes, "precision": self.precision,
            "within_budget": self.within_budget, "confirmed": self.confirmed, "reason": self.reason, "error": self.error,
        }


@dataclass
class SearchResult:
    best: Candidate
    fp32: Candidate
    candidates: list[Candidate]
    sensitivity: list[dict]
    verdict: str

    def table(self) -> list[dict[str, Any]]:
        return [candidate.as_row() for candidate in self.candidates]


def structure_candidates(preset: StaticStep) -> list[QuantizeConfig]:
    """Stage 1: which ops to quantize, and how. `preset` carries the target's int8 scheme."""
    dynamic = DynamicStep(op_types=("MatMul", "Gemm"), reduce_range=preset.reduce_range, per_channel=False)
    conv = preset.model_copy(update={"op_types": ("Conv",)})
    weights = preset.model_copy(update={"op_types": ("Conv", "MatMul", "Gemm")})
    return [
        QuantizeConfig(steps=(conv,)),
        QuantizeConfig(steps=(dynamic,)),
        QuantizeConfig(steps=(conv, dynamic)),
        QuantizeConfig(steps=(weights,)),
        QuantizeConfig(steps=(preset.model_copy(update={"op_types": None}),)),
    ]


def _with_exclusions(config: QuantizeConfig, nodes: tuple[str, ...]) -> QuantizeConfig:
    steps = tuple(step.model_copy(update={"exclude_nodes": nodes}) for step in config.steps)
    return config.model_copy(update={"steps": steps})


def _judge(candidate: Candidate, fp32: Candidate, budget: SearchBudget) -> None:
    m, base = candidate.metrics, fp32.metrics
    problems = []
    if "accuracy" in m and "accuracy" in base:
        drop = (base["accuracy"] - m["accuracy"]) * 100
        if drop > budget.max_accuracy_drop:
            problems.append(f"accuracy -{drop:.2f} pt")
    if m.get("top1_agreement") is not None and m["top1_agreement"] < budget.min_agreement:
        problems.append(f"agreement {m['top1_agreement']:.1%}")
    if m.get("confidence_auroc") is not None and base.get("confidence_auroc") is not None:
        if base["confidence_auroc"] - m["confidence_auroc"] > budget.max_auroc_drop:
            problems.append(f"AUROC -{base['confidence_auroc'] - m['confidence_auroc']:.3f}")
    candidate.within_budget = not problems
    candidate.reason = ", ".join(problems) if problems else "within budget"


class _Searcher:
    def __init__(self, source: Path, calibration: np.ndarray | None, reference: ReferenceOutputs,
                 timing_sample: np.ndarray, threads: int, budget: SearchBudget, workdir: Path, progress: Progress):
        self.source, self.calibration, self.reference = source, calibration, reference
        self.timing_sample, self.threads, self.budget, self.workdir, self.progress = timing_sample, threads, budget, workdir, progress
        self.candidates: list[Candidate] = []
        import onnx

        self.input_name = onnx.load(str(source)).graph.input[0].name

    def build(self, configs: list[QuantizeConfig], stage: str) -> list[Candidate]:
        built = []
        with self.progress.task(f"quantize search: {stage}", total=len(configs)) as task:
            for config in configs:
                path = self.workdir / f"candidate{len(self.candidates)}.onnx"
                candidate = Candidate(config.label(), config, path, stage)
                try:
                    report = apply_plan(config, self.source, path, self.calibration, self.input_name)
                    table = precision_table(path, report.modules)
                    candidate.precision = summary_line(table)
                    candidate.size_bytes = path.stat().st_size
                    candidate.metrics = score(path, self.reference, self.threads)
                except InputError as error:
                    candidate.error = str(error)
                    candidate.reason = "failed"
                self.candidates.append(candidate)
                built.append(candidate)
                task.advance(1, status=candidate.label[:60])
        return built

    def time(self, fp32: Candidate, batch: list[Candidate], rounds: int = 9) -> None:
        """Latency of a batch of candidates interleaved with fp32; ratios are what compare across batches."""
        measurable = [c for c in batch if c.error is None]
        paths = {"fp32": fp32.path, **{str(i): c.path for i, c in enumerate(measurable)}}
        times = onnx_latency_ms(paths, self.timing_sample, self.threads, rounds=rounds)
        for i, candidate in enumerate(measurable):
            candidate.latency_ms = times[str(i)]
            candidate.ratio_to_fp32 = times[str(i)] / times["fp32"]
            _judge(candidate, fp32, self.budget)
        if fp32.latency_ms is None:
            fp32.latency_ms, fp32.ratio_to_fp32 = times["fp32"], 1.0


def search(
    source: Path, preset: StaticStep, calibration: np.ndarray | None, selection_x: np.ndarray,
    selection_y: np.ndarray | None, threads: int, budget: SearchBudget, progress: Progress, workdir: Path,
) -> SearchResult:
    """Run the three stages; every candidate file stays in `workdir` for the caller to keep or drop."""
    fp32 = Candidate("fp32 (no quantization)", None, Path(source), "reference", size_bytes=Path(source).stat().st_size)
    reference = reference_outputs(Path(source), selection_x, selection_y, threads)
    fp32.metrics = score(Path(source), reference, threads)
    fp32.within_budget, fp32.reason, fp32.precision = True, "reference", "all fp32"
    searcher = _Searcher(Path(source), calibration, reference, selection_x[:1], threads, budget, workdir, progress)
    searcher.candidates.append(fp32)

    stage1 = searcher.build(structure_candidates(preset) if calibration is not None else
                            [QuantizeConfig(steps=(DynamicStep(op_types=("MatMul", "Gemm"), reduce_range=preset.reduce_range),))],
                            "op types")
    searcher.time(fp32, stage1)

    timed = [c for c in stage1 if c.ratio_to_fp32 is not None]
    fast = sorted(timed, key=lambda c: c.ratio_to_fp32)[:2]
    stage2_configs = []
    for candidate in fast:
        statics = [step for step in candidate.config.steps if isinstance(step, StaticStep)]  # type: ignore[union-attr]
        if not statics or candidate.within_budget:
            continue
        for method in ("percentile", "entropy"):
            steps = tuple(step.model_copy(update={"calibration_method": method}) if isinstance(step, StaticStep) else step
                          for step in candidate.config.steps)  # type: ignore[union-attr]
            stage2_configs.append(candidate.config.model_copy(update={"steps": steps}))  # type: ignore[union-attr]
    if stage2_configs:
        searcher.time(fp32, searcher.build(stage2_configs, "calibration"))

    sensitivity: list[dict] = []
    fastest_failing = sorted((c for c in searcher.candidates if c.ratio_to_fp32 is not None and not c.within_budget
                              and c.config is not None and c.ratio_to_fp32 < FASTER_MARGIN), key=lambda c: c.ratio_to_fp32)
    if fastest_failing and not any(c.within_budget and c.config is not None and c.ratio_to_fp32 is not None
                                   and c.ratio_to_fp32 <= fastest_failing[0].ratio_to_fp32 for c in searcher.candidates):
        target = fastest_failing[0]
        with tempfile.TemporaryDirectory(prefix="mc-pre-") as predir:
            float_pre = Path(predir) / "pre.onnx"
            preprocess(Path(source), float_pre)
            sensitivity = rank_sensitive_nodes(float_pre, target.path, selection_x[:128], threads)
        fallback_configs = [
            _with_exclusions(target.config, tuple(row["node"] for row in sensitivity[:count]))  # type: ignore[arg-type]
            for count in budget.fallback_steps if count <= len(sensitivity)
        ]
        if fallback_configs:
            searcher.time(fp32, searcher.build(fallback_configs, "fp32 fallback"))

    eligible = [c for c in searcher.candidates if c.config is not None and c.within_budget and c.ratio_to_fp32 is not None]
    finalists = sorted(eligible, key=lambda c: c.ratio_to_fp32)[:CONFIRM_CANDIDATES]  # type: ignore[arg-type, return-value]
    if finalists:
        # The minimum of single noisy measurements favours the lucky: time the finalists again,
        # together and longer, and decide on that measurement alone.
        searcher.time(fp32, finalists, rounds=CONFIRM_ROUNDS)
        for finalist in finalists:
            finalist.confirmed = True
    winner = min(finalists, key=lambda c: c.ratio_to_fp32, default=None)  # type: ignore[arg-type, return-value]
    if winner is not None and winner.ratio_to_fp32 <= FASTER_MARGIN:  # type: ignore[operator]
        verdict = f"kept {winner.label}: {1 / winner.ratio_to_fp32:.2f}x faster than fp32 within the accuracy budget"  # type: ignore[operator]
        best = winner
    else:
        reason = ("no int8 candidate stayed within the accuracy budget" if winner is None
                  else f"the fastest int8 candidate within budget is only {1 / winner.ratio_to_fp32:.2f}x fp32's speed")  # type: ignore[operator]
        verdict = f"kept fp32: {reason} on this machine"
        best = fp32
    return SearchResult(best, fp32, searcher.candidates, sensitivity, verdict)
