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
Every candidate is timed on this machine interleaved with fp32: a ratio with a 95% interval
(mc.ratios). The best few within budget by the objective are timed again, together and longer, and
the decision reads that measurement alone:
- latency (default): a candidate is faster than fp32 only when its whole interval lies below
  FASTER_MARGIN; among those, the ones whose intervals overlap the fastest's are one speed, and the
  smallest of them wins (timing noise must not decide a 2x difference in size);
- size: the smallest candidate not significantly slower than fp32 (its interval reaches down into
  the parity band or below);
- accuracy: the most accurate (accuracy, or embedding cosine) of the candidates faster than fp32.
Otherwise fp32 is kept, and the verdict says why. Every candidate row says whether it is on the
Pareto front of latency ratio x size x quality (no other candidate is at least as good on all three
and better on one). The winner's file stays in the work directory for the pass to publish as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from mc.errors import InputError
from mc.fanout import FanOut, PortableFile, SerialFanOut, scratch_path
from mc.progress import Progress
from mc.quantization.apply import apply_plan
from mc.quantization.precision import precision_table, summary_line
from mc.quantization.scheme import QuantizePlan

Objective = Literal["latency", "size", "accuracy"]
FASTER_MARGIN = 0.97  # a candidate's whole interval must lie 3% below fp32 to be worth int8's risks
SLOWER_MARGIN = 1.03  # an interval wholly above this: significantly slower than fp32
TIE_MARGIN = 1.03  # a judge without intervals: within 3% of the fastest is one speed on a shared machine
CONFIRM_CANDIDATES = 3  # the best few within budget are timed again, longer, before one is kept
ROUNDS = 9
SECONDS = 10.0  # a stage's timing stops at +-3% intervals or this
CONFIRM_ROUNDS = 25
CONFIRM_SECONDS = 30.0


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

    # Optional (mc.ratios.RatioTiming): ratios to `reference` with intervals; without it the search
    # falls back to latency_ms, point ratios and the TIE_MARGIN.
    # def latency_ratios(self, paths, reference, min_rounds, max_seconds) -> RatioTiming


@dataclass
class Candidate:
    label: str
    plan: QuantizePlan | None  # None: the fp32 reference
    path: Path
    stage: str
    latency_ms: float | None = None
    ratio_to_fp32: float | None = None
    ratio_low: float | None = None  # the 95% interval of ratio_to_fp32 (None: a judge without intervals)
    ratio_high: float | None = None
    speed: str | None = None  # faster | slower | indistinguishable, against fp32
    pareto: bool = False  # on the front of latency ratio x size x quality
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
            "latency_ms": self.latency_ms, "ratio_to_fp32": self.ratio_to_fp32, "ratio_low": self.ratio_low,
            "ratio_high": self.ratio_high, "speed": self.speed, "pareto": self.pareto, **self.metrics,
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


@dataclass(frozen=True)
class BuildInputs:
    """What every candidate build of one stage shares (it may travel to another machine)."""

    source: PortableFile
    calibration: Any
    input_name: str
    judge: Judge
    reference_metrics: dict[str, Any]


@dataclass(frozen=True)
class Built:
    """A candidate made and judged where `build_candidate` ran: its file, or why it failed."""

    model: PortableFile | None = None
    precision: str = ""
    size_bytes: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    within_budget: bool = False
    reason: str = ""
    error: str | None = None


def build_candidate(inputs: BuildInputs, plan: QuantizePlan) -> Built:
    """One plan applied to the source and judged against fp32 (a fan-out item: it may run elsewhere)."""
    path = scratch_path("candidate.onnx")
    try:
        report = apply_plan(plan, inputs.source.path, path, inputs.calibration, inputs.input_name)
        metrics = inputs.judge.score(path)
        within, reason = inputs.judge.within_budget(metrics, inputs.reference_metrics)
        return Built(PortableFile(path), summary_line(precision_table(path, report.modules)), path.stat().st_size,
                     metrics, within, reason)
    except InputError as error:
        return Built(error=str(error), reason="failed")
    finally:
        inputs.source.release()  # this task's copy, where it arrived as one (never the original)


def time_candidates(judge: Judge, paths: dict[str, Path], rounds: int, seconds: float) -> tuple[dict[str, float], dict[str, tuple]]:
    """(median ms, (ratio, low, high)) of each path against "fp32", interleaved in one process (run
    with the node to itself)."""
    if hasattr(judge, "latency_ratios"):
        found = judge.latency_ratios(paths, "fp32", rounds, seconds)
        return found.median_ms, {name: (r.ratio, r.low, r.high) for name, r in found.ratios.items()}
    times = judge.latency_ms(paths, rounds)
    return times, {name: (times[name] / times["fp32"], None, None) for name in paths}


class Searcher:
    """Builds, scores and times candidates; a candidate space reads `candidates` between stages.
    The candidates of a stage are built through `fan_out` (at once, where it has room), each stage's
    timing runs with the node to itself."""

    def __init__(self, source: Path, judge: Judge, calibration: Any, input_name: str, workdir: Path, progress: Progress,
                 fan_out: FanOut | None = None):
        self.source, self.judge, self.calibration, self.input_name = source, judge, calibration, input_name
        self.workdir, self.progress, self.fan_out = workdir, progress, fan_out or SerialFanOut()
        self.fp32 = Candidate("fp32 (no quantization)", None, source, "reference", size_bytes=source.stat().st_size,
                              within_budget=True, reason="reference", precision="all fp32")
        self.fp32.metrics = judge.score(source)
        self.candidates: list[Candidate] = [self.fp32]
        self.details: dict[str, Any] = {}

    def build(self, plans: list[QuantizePlan], stage: str) -> list[Candidate]:
        inputs = BuildInputs(PortableFile(self.source), self.calibration, self.input_name, self.judge, self.fp32.metrics)
        with self.progress.task(f"quantize search: {stage}", total=len(plans)) as task:
            results = self.fan_out.map(build_candidate, plans, inputs,
                                       on_result=lambda index, _: task.advance(1, status=plans[index].label()[:60]))
        built = []
        for plan, result in zip(plans, results):
            candidate = Candidate(plan.label(), plan, self.workdir / f"candidate{len(self.candidates)}.onnx", stage)
            if result.model is None:
                candidate.error, candidate.reason = result.error, result.reason
            else:
                result.model.copy_to(candidate.path)
                result.model.release()
                candidate.precision, candidate.size_bytes, candidate.metrics = result.precision, result.size_bytes, result.metrics
                candidate.within_budget, candidate.reason = result.within_budget, result.reason
            self.candidates.append(candidate)
            built.append(candidate)
        return built

    def time(self, batch: list[Candidate], rounds: int = ROUNDS, seconds: float = SECONDS) -> None:
        """Latency of a batch of candidates interleaved with fp32; ratios (with their intervals where
        the judge gives them) are what compare across batches."""
        from mc.ratios import verdict

        measurable = [candidate for candidate in batch if candidate.error is None]
        if not measurable:
            return
        paths = {"fp32": self.fp32.path, **{str(i): c.path for i, c in enumerate(measurable)}}
        times, spans = self.fan_out.exclusive(time_candidates, self.judge, paths, rounds, seconds)
        for i, candidate in enumerate(measurable):
            candidate.latency_ms = times[str(i)]
            candidate.ratio_to_fp32, candidate.ratio_low, candidate.ratio_high = spans[str(i)]
            low, high = candidate.ratio_low or candidate.ratio_to_fp32, candidate.ratio_high or candidate.ratio_to_fp32
            candidate.speed = verdict(low, high, 1 - FASTER_MARGIN)
        if self.fp32.latency_ms is None:
            self.fp32.latency_ms, self.fp32.ratio_to_fp32 = times["fp32"], 1.0


CandidateSpace = Callable[[Searcher], Iterator[tuple[str, list[QuantizePlan]]]]


def search(source: Path, space: CandidateSpace, judge: Judge, calibration: Any, input_name: str,
           progress: Progress, workdir: Path, objective: Objective = "latency", fan_out: FanOut | None = None) -> SearchResult:
    """Run every stage the space yields, then keep the winner by `objective` (see the module's docstring)."""
    searcher = Searcher(Path(source), judge, calibration, input_name, workdir, progress, fan_out)
    for stage, plans in space(searcher):
        if plans:
            searcher.time(searcher.build(plans, stage))
    eligible = [c for c in searcher.candidates if c.plan is not None and c.within_budget and c.ratio_to_fp32 is not None]
    finalists = _finalists(eligible, objective)
    if finalists:
        # The minimum of single noisy measurements favours the lucky: time the finalists again,
        # together and longer, and decide on that measurement alone.
        searcher.time(finalists, rounds=CONFIRM_ROUNDS, seconds=CONFIRM_SECONDS)
        for finalist in finalists:
            finalist.confirmed = True
    mark_pareto(searcher.candidates)
    fp32 = searcher.fp32
    faster = [c for c in finalists if _high(c) < FASTER_MARGIN]
    if objective == "size":
        pool = [c for c in finalists if _low(c) <= SLOWER_MARGIN]
    else:
        pool = faster
    if not pool:
        if not finalists:
            reason = "no int8 candidate stayed within the budget"
        elif objective == "size":
            reason = "every int8 candidate within budget is significantly slower than fp32"
        else:
            best_ratio = min(finalists, key=lambda c: c.ratio_to_fp32)  # type: ignore[arg-type, return-value]
            reason = (f"the fastest int8 candidate within budget is {1 / best_ratio.ratio_to_fp32:.2f}x fp32's speed"  # type: ignore[operator]
                      f"{_span_text(best_ratio)}, not faster beyond timing noise")
        fp32.reason = "kept"
        return SearchResult(fp32, fp32, searcher.candidates, f"kept fp32: {reason} on this machine", searcher.details)
    if objective == "latency":
        fastest = min(pool, key=lambda c: c.ratio_to_fp32)  # type: ignore[arg-type, return-value]
        tied = [c for c in pool if _overlap(_tie_span(c), _tie_span(fastest))]
        best = min(tied, key=lambda c: (c.size_bytes, c.ratio_to_fp32))
        how = f"the smallest of {len(tied)} indistinguishable on speed from the fastest" if len(tied) > 1 else "the fastest"
    elif objective == "size":
        tied = []
        best = min(pool, key=lambda c: (c.size_bytes, -_quality(c), c.ratio_to_fp32))
        how = "the smallest not significantly slower than fp32"
    else:
        tied = []
        best = min(pool, key=lambda c: (-_quality(c), c.size_bytes, c.ratio_to_fp32))
        how = "the most accurate of those faster than fp32"
    for candidate in finalists:
        candidate.reason = "kept" if candidate is best else ("as fast, larger" if candidate in tied else candidate.reason)
    speed = "faster than fp32" if _high(best) < FASTER_MARGIN else "fp32's speed"
    verdict = (f"kept {best.label}: {1 / best.ratio_to_fp32:.2f}x{_span_text(best)} {speed} within the budget "  # type: ignore[operator]
               f"(objective {objective}: {how}; {best.size_bytes / fp32.size_bytes:.2f}x fp32 size)")
    return SearchResult(best, fp32, searcher.candidates, verdict, searcher.details)


def _finalists(eligible: list[Candidate], objective: Objective) -> list[Candidate]:
    """The few worth a longer timing, by what the objective ranks them on."""
    if objective == "size":
        ranked = sorted((c for c in eligible if _low(c) <= SLOWER_MARGIN), key=lambda c: (c.size_bytes, c.ratio_to_fp32))
    elif objective == "accuracy":
        ranked = sorted((c for c in eligible if _high(c) < FASTER_MARGIN), key=lambda c: (-_quality(c), c.ratio_to_fp32))
    else:
        ranked = sorted(eligible, key=lambda c: c.ratio_to_fp32)  # type: ignore[arg-type, return-value]
    return ranked[:CONFIRM_CANDIDATES]


def _low(candidate: Candidate) -> float:
    return candidate.ratio_low if candidate.ratio_low is not None else candidate.ratio_to_fp32  # type: ignore[return-value]


def _high(candidate: Candidate) -> float:
    return candidate.ratio_high if candidate.ratio_high is not None else candidate.ratio_to_fp32  # type: ignore[return-value]


def _tie_span(candidate: Candidate) -> tuple[float, float]:
    """The interval; for a judge without one, the point widened by TIE_MARGIN (the old fixed tie)."""
    if candidate.ratio_low is not None and candidate.ratio_high is not None:
        return candidate.ratio_low, candidate.ratio_high
    return candidate.ratio_to_fp32, candidate.ratio_to_fp32 * TIE_MARGIN  # type: ignore[operator, return-value]


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _span_text(candidate: Candidate) -> str:
    if candidate.ratio_low is None or candidate.ratio_high is None:
        return ""
    return f" [{1 / candidate.ratio_high:.2f}, {1 / candidate.ratio_low:.2f}]"


def _quality(candidate: Candidate) -> float:
    """Higher is better: task accuracy for classifiers, mean embedding cosine for text encoders."""
    for key in ("accuracy", "mean_cosine"):
        if candidate.metrics.get(key) is not None:
            return float(candidate.metrics[key])
    return float("-inf")


def mark_pareto(candidates: list[Candidate]) -> None:
    """`pareto` on every timed candidate no other beats: as fast or faster (point ratio), as small or
    smaller and as good or better, strictly better on one. Failed or untimed candidates are off it."""
    timed = [c for c in candidates if c.error is None and c.ratio_to_fp32 is not None]

    def key(c: Candidate) -> tuple[float, float, float]:
        return c.ratio_to_fp32, float(c.size_bytes), -_quality(c)  # type: ignore[return-value]

    for candidate in candidates:
        mine = key(candidate) if candidate in timed else None
        candidate.pareto = mine is not None and not any(
            all(a <= b for a, b in zip(key(other), mine)) and key(other) != mine for other in timed if other is not candidate)
