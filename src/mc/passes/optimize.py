"""The `optimize` pass: every runtime the target lists x precision, built, judged and timed side by
side on this host; the best by the objective within the accuracy budget is published with the
whole candidate table.

The config is the search space (runtimes, precisions), the budget (accuracy drop, agreement,
confidence AUROC: what every mc search judges) and the objective. Candidates are built through the
existing passes, never a second path: fp32 ONNX by `export`; ONNX Runtime int8 by `quantize --mode
auto` (mc's own measured search with per-node fp32 fallback) and fp16 by `quantize --mode fp16`
where the target has fp16 arithmetic; torch int8 by `quantize --backend torch`; any other runtime by
the compile backends that run on it (`compile`). A candidate whose library is missing is listed as
unavailable with how to install it, not a failure.

Decision (the rule of `mc run`'s recommendation and of `--mode auto`): every candidate within the
budget is timed interleaved with the reference (the target's first runtime in fp32) in one process,
each ratio with its 95% interval (mc.ratios). The fastest is found; a candidate whose interval
overlaps the fastest's cannot be told apart from it on this machine, and among those the objective
decides: latency -> the fastest point ratio (ties: smallest), size -> the smallest, accuracy -> the
most accurate. Every row says whether it is on the accuracy x latency Pareto front.

Threads: with more than one thread, the winner is then timed interleaved at the target's count and
at fewer (1, 2, 4, ... below it), each count in a worker process of its own (mc.runtimes.isolated:
ExecuTorch's pool is one per process). At a fraction of a millisecond a frame, a pool's hand-offs
can cost more than the work they share. Of the counts measured significantly faster (the whole
interval past the parity band), the fastest is kept (ties: the fewer threads): `artifact.json`
records it and the one opener runs the folder's model on it, with a note. Olive's session-parameter tuning turns the same knob.

Output: a folder holding the winner's own file (`model.<suffix>`) and its sidecar, `optimize.json`
(the whole candidate table, the verdict, the thread check) and `artifact.json` naming the model
file, so `mc bench DIR` and a recipe's next step open the winner. An existing folder is refused
before any work.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from mc.artifact import ARTIFACT_INDEX, Artifact, ArtifactRecord, Kind, Lineage, build_record, copy_artifact, sidecar_path
from mc.atomic import publish_directory, staged_directory
from mc.errors import BackendUnavailable, InputError, McError
from mc.fanout import PortableFile, scratch_path
from mc.passes._context import PassContext
from mc.passes._contract import PassConfig
from mc.passes._registry import register_pass, run_pass

Precision = Literal["fp32", "int8", "fp16"]
OPTIMIZE_SCHEMA = "mc.optimize/1"
BLOCK_MS = 20.0  # at most about this much of each candidate per interleaved round


class OptimizeConfig(PassConfig):
    """`mc optimize` options and a recipe's `optimize:` step: the search space, budget and objective."""

    pass_name: ClassVar[str] = "optimize"
    accepts_kinds: ClassVar[tuple[Kind, ...]] = ("torch", "onnx")

    runtimes: tuple[str, ...] | None = Field(None, description="runtimes to try [default: every one the target lists]")
    precisions: tuple[Precision, ...] = Field(("fp32", "int8", "fp16"), min_length=1,
                                              description="fp16 only where the target has fp16 arithmetic")
    max_accuracy_drop: float = Field(0.5, ge=0, le=100, description="percentage points below fp32 on the selection data")
    min_agreement: float = Field(0.99, ge=0, le=1, description="top-1 agreement with fp32")
    max_auroc_drop: float = Field(0.02, ge=0, le=1, description="confidence AUROC drop against fp32")
    objective: Literal["latency", "size", "accuracy"] = "latency"
    max_seconds: float = Field(20.0, gt=0, le=3600, description="side-by-side timing budget (stops earlier once intervals are narrow)")
    tune_threads: bool = Field(True, description="time the winner on fewer threads than the target's too; keep the fastest count significantly faster")
    max_batch: int = Field(1, ge=1, le=65536, description=(
        "largest batch a compiled candidate is built for: 1, the real-time pipeline's one frame a call, makes a "
        "static program where the backend builds one (executorch), larger batches then run a sample at a time; "
        "backends without batch-1 programs keep their default batch range"))

    @field_validator("precisions")
    @classmethod
    def _fp32_is_the_yardstick(cls, precisions: tuple[str, ...]) -> tuple[str, ...]:
        if "fp32" not in precisions:
            raise ValueError(f"fp32 is missing: every candidate is judged against the fp32 one (its accuracy budget and "
                             f"speed-up); give fp32,{','.join(precisions)}")
        return precisions

    def produces(self, given: Kind) -> Kind:
        return "compiled"  # the winner may be any runtime's format: nothing chains after it but a bench

    def reads(self, given: Kind):
        return frozenset({"data", "calibration", "target", "host"})

    def chosen_by_timing(self) -> bool:
        return True

    def output_name(self, kind: Kind) -> str:
        return "optimized"

    def check_output(self, output: Path, kind: Kind) -> None:
        if Path(output).exists():
            raise InputError(f"-o {output} already exists; give a new folder (mc optimize never overwrites)")

    def summary(self) -> str:
        return f"optimize ({self.objective})"

    def budget(self):
        from mc.quantization.classifier_search import ClassifierBudget

        return ClassifierBudget(max_accuracy_drop=self.max_accuracy_drop, min_agreement=self.min_agreement,
                                max_auroc_drop=self.max_auroc_drop)


@dataclass
class Candidate:
    runtime: str
    precision: str
    how: str  # the passes that built it
    status: str = "pending"  # ok | unavailable | failed | over budget | duplicate
    reason: str = ""
    path: Path | None = None
    size_bytes: int | None = None
    accuracy: float | None = None
    top1_agreement: float | None = None
    confidence_auroc: float | None = None
    latency_ms: float | None = None
    ratio: float | None = None  # latency / the reference's, median over interleaved rounds
    low: float | None = None
    high: float | None = None
    speed: str | None = None  # faster | slower | indistinguishable, against the reference
    pareto: bool = False
    kept: bool = False
    build_s: float | None = None
    cached: bool = False  # taken from the run's cache (built by an earlier run: build_s is that build's)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.runtime} {self.precision}"

    def row(self) -> dict[str, Any]:
        row = asdict(self)
        row["name"] = self.name
        row["path"] = None if self.path is None else self.path.name
        return row


# --- building candidates -----------------------------------------------------------------------

class Builds:
    """What candidates share: the fp32 ONNX export is made once and reused by every ONNX candidate."""

    def __init__(self, config: OptimizeConfig, source: Artifact, ctx: PassContext, workdir: Path,
                 onnx: Artifact | None = None, onnx_error: str | None = None):
        self.config, self.source, self.ctx, self.workdir = config, source, ctx, workdir
        self._onnx: Artifact | None = onnx  # made already (carried to a fan-out item), or on first use
        self.onnx_error: str | None = onnx_error  # why the export failed, once it has

    @cached_property
    def unit_inputs(self) -> dict[str, Any]:
        """What every candidate's key in the run's cache covers besides its settings: the inputs
        optimize reads (data, calibration, target, host), hashed once for all of them."""
        return self.ctx.input_digests(self.config.reads(self.source.kind))

    def onnx(self) -> Artifact:
        if self.source.kind == "onnx":
            return self.source
        if self.onnx_error is not None:
            raise McError(self.onnx_error)
        if self._onnx is None:
            from mc.passes.export import ExportConfig

            try:
                self._onnx = run_pass(ExportConfig(), self.source, self.workdir / "fp32.onnx", self.ctx)
            except McError as error:
                self.onnx_error = f"the fp32 ONNX export failed: {str(error).splitlines()[0][:300]}"
                raise
        return self._onnx

    def torch(self) -> Artifact:
        if self.source.kind != "torch" or self.source.path is None:
            raise BackendUnavailable(f"needs a torch checkpoint (a zoo name or .pt); the model given is {self.source.kind}")
        return self.source

    def run(self, config: PassConfig, parent: Artifact, name: str) -> Artifact:
        return run_pass(config, parent, self.workdir / name, self.ctx)


Builder = Callable[[Builds, str], tuple[Artifact, str]]


def _ort(builds: Builds, precision: str) -> tuple[Artifact, str]:
    from mc.passes.quantize import QuantizeConfig

    fp32 = builds.onnx()
    if precision == "fp32":
        return fp32, "export" if builds.source.kind == "torch" else "the ONNX model as given"
    if precision == "fp16":
        return builds.run(QuantizeConfig(mode="fp16"), fp32, "ort-fp16.onnx"), "export -> quantize fp16"
    config = builds.config
    quantize = QuantizeConfig(mode="auto", max_accuracy_drop=config.max_accuracy_drop, min_agreement=config.min_agreement,
                              max_auroc_drop=config.max_auroc_drop, objective=config.objective)
    artifact = builds.run(quantize, fp32, "ort-int8.onnx")
    return artifact, "export -> quantize auto (per-node fp32 fallback)"


def _torch(builds: Builds, precision: str) -> tuple[Artifact, str]:
    from mc.passes.quantize import QuantizeConfig

    source = builds.torch()
    if precision == "fp32":
        return source, "the torch checkpoint (eager)"
    if precision == "int8":
        return builds.run(QuantizeConfig(backend="torch", mode="dynamic"), source, "torch-int8.pt"), "quantize --backend torch (dynamic int8)"
    raise BackendUnavailable("torch fp16 on a CPU: no fast fp16 arithmetic here")


# The runtimes mc's own passes build for (ONNX Runtime on the CPU: export and quantize; torch eager:
# the checkpoint and torch dynamic int8). Every other runtime is built by the compile backends
# registered for it (`_compile_builders`): a new backend is found there without an edit here.
OWN_BUILDERS: dict[str, Builder] = {"onnxruntime": _ort, "torch": _torch}


def _compile_candidates(runtime: str, precision: str, target_cuda: bool, max_accuracy_drop: float,
                        max_batch: int = 1) -> list[tuple[PassConfig, str]]:
    """(compile config, how) for every compile backend whose artifacts `runtime` opens, at `precision`:
    on the device the target has (CUDA where it has CUDA, else the CPU where the backend builds for it);
    int8 within the accuracy budget where the backend can search within one (per-module fp32 fallback
    for ExecuTorch, NNCF's accuracy control for OpenVINO); for batches up to `max_batch`, where the
    backend builds batch-1 programs when that is 1 (else its default range)."""
    from mc.compilation import backends_for_runtime
    from mc.passes.compile import CompileConfig

    found: list[tuple[PassConfig, str]] = []
    for backend in backends_for_runtime(runtime):
        if precision not in backend.precisions:
            continue
        device = "cuda" if target_cuda and "cuda" in backend.devices else ("cpu" if "cpu" in backend.devices else backend.devices[0])
        budget = max_accuracy_drop if precision == "int8" and "max_accuracy_drop" in backend.options else None
        batch = max_batch if max_batch > 1 or "batch_one" in backend.options else None
        found.append((CompileConfig(backend=backend.name, precision=precision, device=device, max_accuracy_drop=budget,
                                    **({"max_batch": batch} if batch is not None else {})),
                      f"compile --backend {backend.name} --precision {precision} --device {device}"
                      + (f" --max-accuracy-drop {budget:g}" if budget is not None else "")
                      + (f" --max-batch {batch}" if batch is not None else "")))
    return found


def _build(builds: Builds, runtime: str, precision: str) -> Candidate:
    began = time.perf_counter()
    if runtime in OWN_BUILDERS:
        candidate = Candidate(runtime, precision, "")
        try:
            artifact, candidate.how = OWN_BUILDERS[runtime](builds, precision)
        except BackendUnavailable as error:
            candidate.status, candidate.reason = "unavailable", str(error)
            return candidate
    else:
        options = _compile_candidates(runtime, precision, builds.ctx.target.isa.cuda, builds.config.max_accuracy_drop,
                                      builds.config.max_batch)
        if not options:
            return Candidate(runtime, precision, "", "unavailable", f"no compile backend of this mc builds {runtime} {precision}")
        config, how = options[0]
        candidate = Candidate(runtime, precision, how)
        try:
            config.check_available()
            parent = builds.source if "torch" in config.accepts() and builds.source.kind == "torch" else builds.onnx()
            suffix = config.output_name("compiled")
            artifact = builds.run(config, parent, f"{runtime}-{precision}-{suffix}")
        except BackendUnavailable as error:
            candidate.status, candidate.reason = "unavailable", str(error)
            return candidate
    candidate.path = Path(artifact.location)
    candidate.size_bytes = _size(candidate.path)
    candidate.build_s = time.perf_counter() - began
    record = artifact.record
    if record is not None and record.metrics.get("plan") == "fp32 (kept)":
        candidate.status, candidate.reason = "duplicate", "the int8 search kept fp32 (no int8 plan was faster within budget)"
    else:
        candidate.status = "ok"
    if record is not None and record.metrics.get("precision_summary"):
        candidate.details["precision"] = record.metrics["precision_summary"]
    return candidate


@dataclass(frozen=True)
class CompileInputs:
    """What every compile-backend candidate shares, portable to another machine (mc.fanout)."""

    config: OptimizeConfig
    source: Artifact  # its path a PortableFile's (or None: a factory, opened by its spec)
    source_file: PortableFile | None
    onnx: Artifact | None
    onnx_file: PortableFile | None
    onnx_error: str | None
    target: Any
    threads: int
    input_shape: tuple[int, ...] | None
    data: PortableFile | Path | None
    calibration: PortableFile | Path | None


def _portable(path: Path | None) -> PortableFile | Path | None:
    """A file the candidates read, carried with them; a built-in setting's name stays a name."""
    return PortableFile(path) if path is not None and Path(path).is_file() else path


def _arrived(artifact: Artifact | None, file: PortableFile | None) -> Artifact | None:
    if artifact is None or file is None:
        return artifact
    spec = str(file.path) if artifact.spec == str(artifact.path) else artifact.spec
    return Artifact(artifact.kind, spec, artifact.sha256, file.path, artifact.record)


def build_compiled(inputs: CompileInputs, item: tuple[str, str]) -> tuple[Candidate, PortableFile | None]:
    """One compile-backend candidate built where this runs (a fan-out item): the candidate, its file apart."""
    runtime, precision = item

    def local(value: PortableFile | Path | None) -> Path | None:
        return value.path if isinstance(value, PortableFile) else value

    ctx = PassContext(target=inputs.target, threads=inputs.threads, data_path=local(inputs.data),
                      calibration_path=local(inputs.calibration), input_shape=inputs.input_shape)
    source = _arrived(inputs.source, inputs.source_file)
    assert source is not None
    builds = Builds(inputs.config, source, ctx, scratch_path("build"), _arrived(inputs.onnx, inputs.onnx_file), inputs.onnx_error)
    builds.workdir.mkdir()
    try:
        candidate = _build_here(builds, runtime, precision)
    finally:
        for carried in (inputs.source_file, inputs.onnx_file, inputs.data, inputs.calibration):
            if isinstance(carried, PortableFile):
                carried.release()  # this task's copies, where they arrived as copies (never the originals)
    made = PortableFile(candidate.path) if candidate.path is not None else None
    candidate.path = None
    return candidate, made


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    from mc.onnx_file import model_bytes

    return model_bytes(path) if path.suffix == ".onnx" else path.stat().st_size


def plan_candidates(config: OptimizeConfig, ctx: PassContext) -> list[tuple[str, str, str | None]]:
    """(runtime, precision, why not) over the space: fp16 only where the target computes in fp16."""
    runtimes = list(config.runtimes or ctx.target.runtimes)
    if not runtimes:
        raise InputError(f"the target {ctx.target.name} lists no runtimes to try")
    plan = []
    for runtime in dict.fromkeys(runtimes):
        for precision in config.precisions:
            why = None
            if precision == "fp16" and not (ctx.target.isa.fp16_arithmetic or ctx.target.isa.cuda):
                why = f"{ctx.target.name} has no fp16 arithmetic"
            plan.append((runtime, precision, why))
    return plan


def _build_here(builds: Builds, runtime: str, precision: str) -> Candidate:
    try:
        return _build(builds, runtime, precision)
    except McError as error:  # this candidate cannot be built (a check failed): the others go on
        return Candidate(runtime, precision, "", "failed", str(error).splitlines()[0][:300])


# --- candidates as units of the run's cache ------------------------------------------------------

CANDIDATE_UNIT = "optimize-candidate"


def candidate_key(builds: Builds, runtime: str, precision: str) -> str | None:
    """A candidate's key in the run's cache (`ctx.cache`, where `mc run` has one): the source's content,
    the runtime and precision, every setting its build reads (an int8 build the budget and objective;
    none reads the search space or the final timing's budget) and the inputs optimize reads. None
    where there is no cache, or the source has no content hash (a factory's code can change under
    the same name)."""
    cache = builds.ctx.cache
    if cache is None or builds.source.sha256.startswith("unhashed:"):
        return None
    unread = {"runtimes", "precisions", "max_seconds", "tune_threads"}  # the search space and the timing: no build reads them
    if precision != "int8":  # only an int8 build searches within the budget (and ORT's search by the objective)
        unread |= {"max_accuracy_drop", "min_agreement", "max_auroc_drop", "objective"}
    if runtime in OWN_BUILDERS:  # mc's own passes build ONNX and torch files, whose batch axis stays dynamic
        unread.add("max_batch")
    settings = builds.config.model_dump(mode="json", exclude=unread)
    return cache.key(builds.source.sha256, CANDIDATE_UNIT, {"runtime": runtime, "precision": precision, **settings}, builds.unit_inputs)


def cached_candidate(builds: Builds, runtime: str, precision: str, key: str | None) -> Candidate | None:
    """The candidate an earlier run built and kept under `key`, its file in the cache (read, never written)."""
    hit = builds.ctx.cache.lookup(key) if key is not None else None
    row = hit.entry.get("candidate") if hit is not None else None
    if hit is None or not isinstance(row, dict):
        return None
    candidate = Candidate(runtime, precision, str(row.get("how", "")), str(row.get("status", "ok")), str(row.get("reason", "")),
                          build_s=row.get("build_s"), cached=True, details=dict(row.get("details") or {}))
    candidate.path, candidate.size_bytes = hit.path, _size(hit.path)
    return candidate


def keep_candidate(builds: Builds, candidate: Candidate, key: str | None) -> None:
    """Publish a candidate built here into the run's cache (a failed or unavailable one is tried again next time)."""
    path = candidate.path
    if key is None or candidate.status not in ("ok", "duplicate") or path is None or path.parent != builds.workdir:
        return  # the source itself (a checkpoint, an ONNX file as given) is no unit of this search
    row = {"how": candidate.how, "status": candidate.status, "reason": candidate.reason, "build_s": candidate.build_s,
           "details": candidate.details}
    with builds.ctx.cache.produce(key, path.name, {"pass": CANDIDATE_UNIT, "candidate": row, "parent": builds.source.sha256}) as output:
        copy_artifact(path, output)


def build_candidates(plan: list[tuple[str, str, str | None]], builds: Builds, ctx: PassContext) -> list[Candidate]:
    """Every candidate of the plan, in its order. mc's own passes build here (their int8 search fans
    its own candidates out); the compile backends' candidates are fan-out items (ctx.fan_out), built
    at once where there is room, from the source and the fp32 ONNX carried to them. In a run with a
    cache each candidate is a unit of it: one an earlier run built (same source, settings and inputs)
    is taken from there, and each one built is kept there, so a recipe that changes the objective,
    the search space or the timing rebuilds nothing."""
    slots: list[Candidate | None] = []
    compiled: list[tuple[int, tuple[str, str], str | None]] = []
    with ctx.progress.task("optimize: build", total=len(plan)) as task:
        for runtime, precision, why_not in plan:
            key = None if why_not else candidate_key(builds, runtime, precision)
            if why_not:
                slots.append(Candidate(runtime, precision, "", "unavailable", why_not))
            elif (cached := cached_candidate(builds, runtime, precision, key)) is not None:
                slots.append(cached)
                task.advance(1, status=f"{runtime} {precision} (cached)")
                continue
            elif runtime in OWN_BUILDERS:
                task.advance(0, status=f"{runtime} {precision}")
                slots.append(_build_here(builds, runtime, precision))
                keep_candidate(builds, slots[-1], key)  # type: ignore[arg-type]
            else:
                compiled.append((len(slots), (runtime, precision), key))
                slots.append(None)
                continue
            task.advance(1)
        if compiled:
            source = builds.source
            onnx = None
            if source.kind == "torch":
                try:
                    onnx = builds.onnx()
                except McError:
                    pass  # the ONNX-fed candidates say why (builds.onnx_error); the torch-fed ones go on
            inputs = CompileInputs(builds.config, source, PortableFile(source.path) if source.path is not None else None,
                                   onnx, PortableFile(onnx.path) if onnx is not None and onnx.path is not None else None,
                                   builds.onnx_error, ctx.target, ctx.threads, ctx.input_shape, _portable(ctx.data_path),
                                   _portable(ctx.calibration_path))
            items = [item for _, item, _ in compiled]
            results = ctx.fan_out.map(build_compiled, items, inputs,
                                      on_result=lambda index, _: task.advance(1, status=" ".join(items[index])))
            for (slot, _, key), (candidate, made) in zip(compiled, results):
                if made is not None:
                    candidate.path = made.copy_to(builds.workdir / made.path.name)
                    made.release()
                keep_candidate(builds, candidate, key)
                slots[slot] = candidate
    return [candidate for candidate in slots if candidate is not None]


# --- judging and timing ------------------------------------------------------------------------

def _open(candidate: Candidate, ctx: PassContext, shared: bool):
    from mc.runtimes import open_model

    return open_model(candidate.path, ctx.target, threads=ctx.threads, input_shape=ctx.input_shape, shared_cores=shared)


def _score(candidates: list[Candidate], ctx: PassContext, config: OptimizeConfig, reference: Candidate) -> str:
    """Accuracy, agreement with the reference's top-1 and confidence AUROC on the selection data;
    candidates outside the budget are marked so."""
    from mc.metrics import classification_report
    from mc.quantization.classifier_search import within_classifier_budget
    from mc.runtimes import predict_all

    opened = _open(reference, ctx, shared=False)
    chosen = ctx.selection(opened.sample_shape)
    x, y, selection = chosen.x, chosen.y, chosen.description
    if y is None:
        raise InputError("optimize judges candidates on labelled data: pass --data with labels (x, y)")

    def figures(model) -> tuple[dict[str, Any], np.ndarray]:
        outputs = predict_all(model.predictor, x)
        logits = np.asarray(outputs[0], dtype=np.float64).reshape(len(x), -1)
        if len(outputs) > 1:
            confidence = np.asarray(outputs[1], dtype=np.float64).reshape(len(x), -1)[:, 0]
        else:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            confidence = (shifted / shifted.sum(axis=1, keepdims=True)).max(axis=1)
        return classification_report(logits, confidence, y, reference_logits), logits

    reference_logits = None
    base, reference_logits = figures(opened)
    del opened
    budget = config.budget()
    for candidate in candidates:
        if candidate.status != "ok":
            continue
        try:
            report = base if candidate is reference else figures(_open(candidate, ctx, shared=False))[0]
        except McError as error:
            candidate.status, candidate.reason = "failed", f"does not run: {error}"
            continue
        except Exception as error:  # a runtime that builds but cannot run this model here
            candidate.status, candidate.reason = "failed", f"does not run: {type(error).__name__}: {str(error)[:200]}"
            continue
        candidate.accuracy = report.get("accuracy")
        candidate.top1_agreement = 1.0 if candidate is reference else report.get("top1_agreement")
        candidate.confidence_auroc = report.get("confidence_auroc")
        ok, why = within_classifier_budget(budget, report, base)
        if not ok:
            candidate.status, candidate.reason = "over budget", why
    return selection


def time_side_by_side(paths: dict[str, Path], reference: str, target: Any, threads: int, input_shape: tuple[int, ...] | None,
                      sample: np.ndarray, max_seconds: float):
    """The candidates timed interleaved in one process (`mc.ratios.RatioTiming`): run with the node to itself."""
    from mc.ratios import interleaved_ratios
    from mc.runtimes import open_model

    predictors = {name: open_model(path, target, threads=threads, input_shape=input_shape, shared_cores=threads > 1).predictor
                  for name, path in paths.items()}
    # block_ms: a slow candidate (torch eager is ~100x ORT on the small models) gets fewer calls a
    # round, so it cannot stretch the whole measurement past the budget
    return interleaved_ratios(predictors, sample, reference, max_seconds=max_seconds, block_ms=BLOCK_MS)


def _time(survivors: list[Candidate], reference: Candidate, ctx: PassContext, config: OptimizeConfig, sample: np.ndarray) -> dict[str, Any]:
    paths = {candidate.name: candidate.path for candidate in survivors}
    timing = ctx.fan_out.exclusive(time_side_by_side, paths, reference.name, ctx.target, ctx.threads, ctx.input_shape,
                                   sample, config.max_seconds)
    for candidate in survivors:
        interval = timing.ratios[candidate.name]
        candidate.latency_ms = timing.median_ms[candidate.name]
        candidate.ratio, candidate.low, candidate.high, candidate.speed = interval.ratio, interval.low, interval.high, interval.verdict
    return {"reference": reference.name, "rounds": timing.rounds, "seconds": timing.seconds, "threads": ctx.threads}


def fewer_threads(threads: int) -> list[int]:
    """The counts the thread check tries below the target's: 1, 2, 4, ... under it."""
    return [count for count in (2 ** power for power in range(threads.bit_length())) if count < threads]


def time_thread_counts(path: Path, target: Any, threads: int, input_shape: tuple[int, ...] | None, sample: np.ndarray,
                       max_seconds: float):
    """One model at the target's thread count and at each fewer count, each in a worker process of its
    own, timed interleaved against the target's count (`mc.ratios.RatioTiming`, keyed by the count as
    text): run with the node to itself."""
    from contextlib import ExitStack

    from mc.ratios import interleaved_ratios
    from mc.runtimes.isolated import IsolatedPredictor

    with ExitStack() as workers:
        predictors = {str(count): workers.enter_context(IsolatedPredictor(path, target, count, input_shape))
                      for count in (threads, *fewer_threads(threads))}
        return interleaved_ratios(predictors, sample, str(threads), max_seconds=max_seconds, block_ms=BLOCK_MS)


def check_threads(best: Candidate, ctx: PassContext, config: OptimizeConfig, sample: np.ndarray) -> dict[str, Any] | None:
    """The winner at the target's thread count and at fewer (see the module docstring); None where
    there is nothing to check (one thread, or the check is off)."""
    if not config.tune_threads or ctx.threads < 2:
        return None
    timing = ctx.fan_out.exclusive(time_thread_counts, best.path, ctx.target, ctx.threads, ctx.input_shape, sample,
                                   config.max_seconds / 2)  # one model against itself: half the candidates' budget
    tried = {int(name): interval for name, interval in timing.ratios.items()}
    faster = [count for count, interval in tried.items() if interval.verdict == "faster"]
    chosen = min(faster, key=lambda count: (tried[count].ratio, count)) if faster else ctx.threads
    return {"target_threads": ctx.threads, "chosen": chosen, "rounds": timing.rounds,
            "tried": {str(count): {"ratio": interval.ratio, "low": interval.low, "high": interval.high, "verdict": interval.verdict,
                                   "median_ms": timing.median_ms[str(count)]} for count, interval in sorted(tried.items())},
            "rule": "latency at each count / at the target's count, each count in its own process; the fastest of "
                    "those significantly faster is kept"}


def _threads_verdict(check: dict[str, Any] | None) -> str:
    if check is None:
        return ""
    target, chosen = check["target_threads"], check["chosen"]
    if chosen == target:
        return f"; runs on all {target} threads (none fewer measured significantly faster)"
    row = check["tried"][str(chosen)]
    return (f"; runs on {chosen} of {target} threads: {1 / row['ratio']:.2f}x [{1 / row['high']:.2f}, {1 / row['low']:.2f}] "
            f"its speed on {target} here")


def decide(timed: list[Candidate], objective: str) -> tuple[Candidate, list[Candidate], str]:
    """(winner, the candidates indistinguishable from the fastest, how): see the module docstring."""
    from mc.ratios import overlaps

    fastest = min(timed, key=lambda c: c.ratio)  # type: ignore[arg-type, return-value]
    tied = [c for c in timed if overlaps((c.low, c.high), (fastest.low, fastest.high))]  # type: ignore[arg-type]
    if objective == "size":
        best = min(tied, key=lambda c: (c.size_bytes or 0, c.ratio))
        how = "the smallest"
    elif objective == "accuracy":
        best = min(tied, key=lambda c: (-(c.accuracy or 0.0), c.ratio))
        how = "the most accurate"
    else:
        best = min(tied, key=lambda c: (c.ratio, c.size_bytes or 0))
        how = "the fastest"
    if len(tied) > 1:
        how += f" of {len(tied)} indistinguishable on speed from the fastest ({', '.join(c.name for c in tied)})"
    else:
        how += ": significantly faster than every other candidate within budget" if len(timed) > 1 else ": the only candidate within budget"
    return best, tied, how


def mark_pareto(timed: list[Candidate]) -> None:
    from mc.report.pareto import Point, pareto_front

    front = {point.name for point in pareto_front([Point(c.name, c.ratio, c.accuracy or 0.0) for c in timed])}  # type: ignore[arg-type]
    for candidate in timed:
        candidate.pareto = candidate.name in front


def _verdict(best: Candidate, reference: Candidate, how: str, objective: str) -> str:
    if best is reference:
        return f"{best.name} (the reference) won; objective {objective}: {how}"
    speed = 1 / best.ratio if best.ratio else 1.0
    span = f" [{1 / best.high:.2f}, {1 / best.low:.2f}]" if best.low and best.high and best is not reference else ""
    drop = (reference.accuracy - best.accuracy) * 100 if reference.accuracy is not None and best.accuracy is not None else None
    accuracy = f", accuracy {drop:+.2f} pt vs {reference.name}".replace("+-", "-") if drop is not None else ""
    return (f"{best.name} won: {speed:.2f}x{span} the speed of {reference.name}{accuracy}; objective {objective}: {how}")


# --- the pass ----------------------------------------------------------------------------------

@register_pass(OptimizeConfig)
def run(config: OptimizeConfig, source: Artifact, output: Path, ctx: PassContext) -> Artifact:
    config.check_output(output, "compiled")
    plan = plan_candidates(config, ctx)
    with tempfile.TemporaryDirectory(prefix="mc-optimize-") as tmp:
        builds = Builds(config, source, ctx, Path(tmp))
        candidates = build_candidates(plan, builds, ctx)
        built = [c for c in candidates if c.status == "ok"]
        fp32 = [c for c in built if c.precision == "fp32"]
        if not fp32:
            problems = "; ".join(f"{c.name}: {c.reason}" for c in candidates if c.status != "ok")
            raise InputError(f"no fp32 candidate could be built to judge the others against ({problems})")
        reference = fp32[0]  # the target's first runtime that builds, in fp32: the yardstick
        with ctx.progress.task("optimize: judge", total=1) as task:
            selection = _score(candidates, ctx, config, reference)
            task.advance(1)
        if reference.status != "ok":
            raise InputError(f"the reference {reference.name} does not run here: {reference.reason}")
        survivors = [c for c in candidates if c.status == "ok"]
        sample = ctx.selection(_open(reference, ctx, shared=False).sample_shape).x[:1]
        with ctx.progress.task("optimize: time side by side", total=1) as task:
            timing = _time(survivors, reference, ctx, config, sample)
            task.advance(1)
        mark_pareto(survivors)
        best, tied, how = decide(survivors, config.objective)
        best.kept = True
        for candidate in survivors:
            candidate.reason = "kept" if candidate.kept else ("indistinguishable, not preferred by the objective"
                                                             if candidate in tied else "slower than the winner")
        with ctx.progress.task("optimize: thread check", total=1) as task:
            threads = check_threads(best, ctx, config, sample)
            task.advance(1)
        verdict = _verdict(best, reference, how, config.objective) + _threads_verdict(threads)
        result = {
            "schema": OPTIMIZE_SCHEMA, "target": ctx.target.name, "threads": ctx.threads, "objective": config.objective,
            "budget": config.budget().model_dump(mode="json"), "selection_data": selection, "timing": timing,
            "thread_check": threads,
            "rule": ("every candidate within the budget timed interleaved with the reference (95% bootstrap intervals); "
                     "among those indistinguishable from the fastest, the objective decides"),
            "verdict": verdict, "winner": best.name, "candidates": [c.row() for c in candidates],
        }
        return _publish(config, source, output, best, result)


def _publish(config: OptimizeConfig, source: Artifact, output: Path, best: Candidate, result: dict[str, Any]) -> Artifact:
    import json

    from mc.artifact import read_record

    assert best.path is not None
    name = "model" + "".join(best.path.suffixes[-1:]) if best.path.is_file() else "model"
    with staged_directory(output) as staged:
        model_path = staged / name
        copy_artifact(best.path, model_path, with_sidecar=False)  # its own sidecar is written below, renamed
        parent_record = read_record(best.path) if best.path.is_file() else None
        summary = {key: value for key, value in result.items() if key not in ("schema", "candidates")}
        optimized_for = {"runtime": best.runtime, "precision": best.precision, "target": result["target"]}
        if parent_record is not None:
            # the winner's own sidecar (its runtime reads what its pass recorded: input shape, settings),
            # renamed to its file here, with the decision added
            data = parent_record.to_json()
            data["file"] = name
            data["model"] = {**data["model"], "optimized_for": optimized_for}
            data["metrics"] = {**data["metrics"], "optimize": summary}
            record = ArtifactRecord.model_validate(data)
        else:  # a model file made outside mc passes (the torch checkpoint itself): a record of its own
            record = build_record(kind=best.runtime, file=model_path, final_name=name, model={"optimized_for": optimized_for},
                                  parent=Lineage(source=source.location, sha256=source.sha256), pass_name=OptimizeConfig.pass_name,
                                  pass_config=config.model_dump(mode="json"), metrics={"optimize": summary})
        sidecar_path(model_path).write_text(json.dumps(record.to_json(), indent=2) + "\n")
        (staged / "optimize.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        check = result.get("thread_check")
        fewer = {"threads": check["chosen"]} if check and check["chosen"] < check["target_threads"] else {}
        (staged / ARTIFACT_INDEX).write_text(json.dumps({"file": name, "by": OptimizeConfig.pass_name, **fewer}, indent=2) + "\n")
        publish_directory(staged, output)
    return Artifact("compiled", str(output), record.sha256, Path(output), record)
