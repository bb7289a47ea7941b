"""`--mode auto`: one measured search for every kind of model, judged by what matters for it.

On CPUs without int8 dot-product instructions, quantizing every op is often slower than fp32,
while quantizing the right ops is faster; and what "faithful" means depends on the model. So the
search takes:
- a candidate space: stages of plans, each stage chosen after the previous one was measured (for
  classifiers: op types, then calibration methods, then fp32 fallback of the nodes that lose the
  most SQNR; for text encoders: op sets x scale granularity);
- a judge: scores each candidate against fp32 on held-out data and says whether it is within the
  budget (task accuracy, agreement and confidence AUROC for classifiers; embedding cosine for text
  encoders), and gives the input latency is measured on.
Every candidate is timed on this machine interleaved with fp32 (a ratio); the fastest few within
budget are timed again, together and longer; among those at least FASTER_MARGIN faster than fp32,
the ones within TIE_MARGIN of the fastest count as one speed and the smallest of them wins (timing
noise must not decide a 2x difference in size). Otherwise fp32 is kept, and the verdict says why.
The winner's file stays in the work directory for the pass to publish as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mc.errors import InputError
from mc.progress import Progress
from mc.quantization.apply import apply_plan
from mc.quantization.precision import precision_table, summary_line
from mc.quantization.scheme import QuantizePlan

FASTER_MARGIN = 0.97  # a candidate must be at least 3% faster than fp32 to be worth int8's risks
TIE_MARGIN = 1.03  # within 3% of the fastest: one speed on a shared machine
CONFIRM_CANDIDATES = 3  # the fastest few within budget are timed again, longer, before one is kept
ROUNDS = 9
CONFIRM_ROUNDS = 25


class Judge(Protocol):
    """What "faithful" means for this model, and what its latency is measured on."""

    selection: str  # the data candidates are judged on, for people

    def score(self, path: Path) -> dict[str, Any]:
        """The candidate's figures against fp32 on the selection data (fp32's own when given fp32)."""
        ...

    def within_budget(self, metrics: dict[str, Any], reference: dict[str, Any]) -> tuple[bool, str]:
        """(accepted, why) for a candidate's figures against fp32's."""
        ...

    def latency_ms(self, paths: dict[str, Path], rounds: int) -> dict[str, float]:
        """Each model's latency on the timing input, interleaved in one process (ms, comparable as ratios)."""
        ...


@dataclass
class Candidate:
    label: str
    plan: QuantizePlan | None  # None: the fp32 reference
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
            "label": self.label, "short_label": self.plan.short_label() if self.plan else "fp32", "stage": self.stage,
            "plan": self.plan.model_dump(mode="json") if self.plan else None,
            "latency_ms": self.latency_ms, "ratio_to_fp32": self.ratio_to_fp32, **self.metrics,
            "size_bytes": self.size_bytes, "precision": self.precision,
            "within_budget": self.within_budget, "confirmed": self.confirmed, "reason": self.reason, "error": self.error,
        }


@dataclass
class SearchResult:
    best: Candidate
    fp32: Candidate
    candidates: list[Candidate]
    verdict: str
    details: dict[str, Any] = field(default_factory=dict)  # what a candidate space found on the way (sensitivity)

    def table(self) -> list[dict[str, Any]]:
        return [candidate.as_row() for candidate in self.candidates]


class Searcher:
    """Builds, scores and times candidates; a candidate space reads `candidates` between stages."""

    def __init__(self, source: Path, judge: Judge, calibration: Any, input_name: str, workdir: Path, progress: Progress):
        self.source, self.judge, self.calibration, self.input_name = source, judge, calibration, input_name
        self.workdir, self.progress = workdir, progress
        self.fp32 = Candidate("fp32 (no quantization)", None, source, "reference", size_bytes=source.stat().st_size,
                              within_budget=True, reason="reference", precision="all fp32")
        self.fp32.metrics = judge.score(source)
        self.candidates: list[Candidate] = [self.fp32]
        self.details: dict[str, Any] = {}

    def build(self, plans: list[QuantizePlan], stage: str) -> list[Candidate]:
        built = []
        with self.progress.task(f"quantize search: {stage}", total=len(plans)) as task:
            for plan in plans:
                path = self.workdir / f"candidate{len(self.candidates)}.onnx"
                candidate = Candidate(plan.label(), plan, path, stage)
                try:
                    report = apply_plan(plan, self.source, path, self.calibration, self.input_name)
                    candidate.precision = summary_line(precision_table(path, report.modules))
                    candidate.size_bytes = path.stat().st_size
                    candidate.metrics = self.judge.score(path)
                    candidate.within_budget, candidate.reason = self.judge.within_budget(candidate.metrics, self.fp32.metrics)
                except InputError as error:
                    candidate.error, candidate.reason = str(error), "failed"
                self.candidates.append(candidate)
                built.append(candidate)
                task.advance(1, status=candidate.label[:60])
        return built

    def time(self, batch: list[Candidate], rounds: int = ROUNDS) -> None:
        """Latency of a batch of candidates interleaved with fp32; ratios are what compare across batches."""
        measurable = [candidate for candidate in batch if candidate.error is None]
        if not measurable:
            return
        times = self.judge.latency_ms({"fp32": self.fp32.path, **{str(i): c.path for i, c in enumerate(measurable)}}, rounds)
        for i, candidate in enumerate(measurable):
            candidate.latency_ms = times[str(i)]
            candidate.ratio_to_fp32 = times[str(i)] / times["fp32"]
        if self.fp32.latency_ms is None:
            self.fp32.latency_ms, self.fp32.ratio_to_fp32 = times["fp32"], 1.0


CandidateSpace = Callable[[Searcher], Iterator[tuple[str, list[QuantizePlan]]]]


def search(source: Path, space: CandidateSpace, judge: Judge, calibration: Any, input_name: str,
           progress: Progress, workdir: Path) -> SearchResult:
    """Run every stage the space yields, then keep the winner (see the module's docstring)."""
    searcher = Searcher(Path(source), judge, calibration, input_name, workdir, progress)
    for stage, plans in space(searcher):
        if plans:
            searcher.time(searcher.build(plans, stage))
    eligible = [c for c in searcher.candidates if c.plan is not None and c.within_budget and c.ratio_to_fp32 is not None]
    finalists = sorted(eligible, key=lambda c: c.ratio_to_fp32)[:CONFIRM_CANDIDATES]  # type: ignore[arg-type, return-value]
    if finalists:
        # The minimum of single noisy measurements favours the lucky: time the finalists again,
        # together and longer, and decide on that measurement alone.
        searcher.time(finalists, rounds=CONFIRM_ROUNDS)
        for finalist in finalists:
            finalist.confirmed = True
    faster = [c for c in finalists if c.ratio_to_fp32 <= FASTER_MARGIN]  # type: ignore[operator]
    fp32 = searcher.fp32
    if not faster:
        reason = ("no int8 candidate stayed within the budget" if not finalists
                  else f"the fastest int8 candidate within budget is only {1 / min(c.ratio_to_fp32 for c in finalists):.2f}x "  # type: ignore[misc]
                       "fp32's speed")
        fp32.reason = "kept"
        return SearchResult(fp32, fp32, searcher.candidates, f"kept fp32: {reason} on this machine", searcher.details)
    fastest = min(c.ratio_to_fp32 for c in faster)  # type: ignore[type-var]
    tied = [c for c in faster if c.ratio_to_fp32 <= fastest * TIE_MARGIN]  # type: ignore[operator]
    best = min(tied, key=lambda c: (c.size_bytes, c.ratio_to_fp32))
    for candidate in finalists:
        candidate.reason = "kept" if candidate is best else ("as fast, larger" if candidate in tied else candidate.reason)
    how = f"the smallest of {len(tied)} within {TIE_MARGIN - 1:.0%} of the fastest" if len(tied) > 1 else "the fastest"
    verdict = (f"kept {best.label}: {1 / best.ratio_to_fp32:.2f}x faster than fp32 within the budget "  # type: ignore[operator]
               f"({how}; {best.size_bytes / fp32.size_bytes:.2f}x fp32 size)")
    return SearchResult(best, fp32, searcher.candidates, verdict, searcher.details)
