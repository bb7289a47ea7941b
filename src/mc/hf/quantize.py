"""Quantizing text models so that their embeddings stay faithful.

Dynamic int8 (weights offline, activations per call: no calibration set to choose) of the weight
MatMul/Gemm nodes and, optionally, of the embedding table's Gather: in a small encoder the word
embedding table is about half of the weights, so a file near a quarter of fp32 needs it quantized.
Per-channel scales and reduce_range come from the target profile (7-bit weights on x86 without
VNNI, where u8 x s8 products can saturate). Fidelity is measured, never assumed: cosine
similarity of each text's embedding to the fp32 model's on real text.

`--mode auto` builds the candidates (op sets x per-tensor/per-channel), measures on this machine
their fidelity on the selection texts and their latency interleaved with fp32, and keeps the
fastest within the fidelity budget (candidates within 3% of the fastest count as tied, and the
smallest of those wins: timing noise must not decide a 2x difference in size), or fp32 when no
candidate is both faithful and faster. Final figures come from the evaluation texts.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mc.artifact import ArtifactRecord, Lineage, read_record
from mc.atomic import staged_directory
from mc.errors import InputError
from mc.hf.embeddings import TextSession, TextSet, cosine_fidelity, embed_all, encode
from mc.hf.export import _publish, check_output_directory, hf_versions
from mc.hf.source import MODEL_FILE, TextArtifact, copy_tokenizer
from mc.hf.text import TextCorpus
from mc.passes._registry import register_pass
from mc.progress import Progress
from mc.quantization.scheme import DynamicStep, QuantizeConfig
from mc.targets import TargetProfile

EMBEDDING_OPS = ("MatMul", "Gemm", "Gather")
LINEAR_OPS = ("MatMul", "Gemm")
SELECTION_TEXTS = 64
EVALUATION_TEXTS = 128
MEMORY_TEXTS = 32
TIMING_TOKENS = 64
TIE_MARGIN = 1.03  # within 3% of the fastest: tied on speed
FASTER_MARGIN = 0.97  # int8 must be at least 3% faster than fp32 to be kept


class FidelityBudget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_mean_cosine: float = Field(0.99, ge=0, le=1, description="mean cosine similarity to fp32 embeddings")
    min_cosine: float = Field(0.98, ge=0, le=1, description="smallest cosine similarity to fp32 over the texts")

    def accepts(self, fidelity: dict[str, float]) -> bool:
        return fidelity["mean_cosine"] >= self.min_mean_cosine and fidelity["min_cosine"] >= self.min_cosine


class TextQuantizeConfig(BaseModel):
    """The `hf-quantize` pass: one dynamic int8 step over a text model, judged on real text."""

    pass_name: ClassVar[str] = "hf-quantize"
    model_config = ConfigDict(extra="forbid", frozen=True)
    plan: QuantizeConfig
    max_length: int = Field(128, ge=8, le=4096, description="tokens per text when measuring fidelity")
    evaluation_texts: int = Field(EVALUATION_TEXTS, ge=8, le=10_000)


def dynamic_plan(target: TargetProfile, op_types: tuple[str, ...] = EMBEDDING_OPS, per_channel: bool | None = None,
                 reduce_range: bool | None = None, weight_type: str | None = None, exclude_nodes: tuple[str, ...] = ()) -> QuantizeConfig:
    """The target's dynamic int8 scheme (its per-channel and reduce_range unless overridden)."""
    preset = target.quantization
    step = DynamicStep(op_types=op_types, per_channel=preset.per_channel if per_channel is None else per_channel,
                       reduce_range=preset.reduce_range if reduce_range is None else reduce_range,
                       weight_type=weight_type or preset.weight_type, exclude_nodes=exclude_nodes)
    return QuantizeConfig(steps=(step,))


@dataclass
class TextQuantizeOutcome:
    directory: Path
    record: ArtifactRecord
    summary: str
    fidelity: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def quantized_embeddings(path: Path) -> dict[str, Any]:
    """Which embedding tables were stored in int8 (ORT's dynamic Gather: int8 table + DequantizeLinear)."""
    import onnx
    from onnx import TensorProto

    model = onnx.load(str(path), load_external_data=False)
    initializers = {init.name: init for init in model.graph.initializer}
    gathers = [node for node in model.graph.node if node.op_type == "Gather" and node.input[0] in initializers]
    int8 = [node for node in gathers if initializers[node.input[0]].data_type in (TensorProto.INT8, TensorProto.UINT8)]
    return {"tables": len(gathers), "int8": len(int8), "nodes": [node.name for node in int8]}


def describe(path: Path, fp32_bytes: int) -> tuple[dict[str, Any], str]:
    from mc.quantization.precision import precision_table, summary_line

    table = precision_table(path, {})
    tables = quantized_embeddings(path)
    table["embedding_tables"] = tables
    size = path.stat().st_size
    return table, f"{summary_line(table)}; embedding tables {tables['int8']}/{tables['tables']} int8; {size / fp32_bytes:.2f}x fp32 size"


def fidelity_sets(tokenizer, corpus: TextCorpus, max_length: int, selection: int = SELECTION_TEXTS,
                  evaluation: int = EVALUATION_TEXTS) -> tuple[TextSet, TextSet, TextSet]:
    """(memory, selection, evaluation) texts: disjoint parts of the corpus, tokenized once."""
    chosen, reported = corpus.split(selection + MEMORY_TEXTS, evaluation)
    return (TextSet.of(tokenizer, chosen[selection:], max_length), TextSet.of(tokenizer, chosen[:selection], max_length),
            TextSet.of(tokenizer, reported, max_length))


def measure_fidelity(parent: Path, child: Path, texts: TextSet, memory: TextSet, threads: int,
                     reference: np.ndarray | None = None) -> tuple[dict[str, float], np.ndarray]:
    """Each model with its own memory filled from the same texts (as each would be when deployed)."""
    if reference is None:
        reference = embed_all(TextSession(parent, threads), texts, memory)
    return cosine_fidelity(reference, embed_all(TextSession(child, threads), texts, memory)), reference


def _apply(plan: QuantizeConfig, source: Path, target: Path) -> str:
    from mc.quantization.apply import apply_plan

    return apply_plan(plan, source, target, None, "input_ids").preprocess


def _parent_info(artifact: TextArtifact) -> dict[str, Any]:
    record = read_record(artifact.model_path)
    info = dict(record.model) if record else {"inputs": artifact.input_names, "outputs": artifact.output_names}
    info["libraries"] = hf_versions()
    return info


def _finish(artifact: TextArtifact, staged: Path, output: Path, pass_name: str, pass_config: dict, metrics: dict) -> ArtifactRecord:
    copy_tokenizer(artifact.directory, staged)
    return _publish(staged, output, _parent_info(artifact), Lineage(source=str(artifact.model_path), sha256=artifact.sha256),
                    pass_name, pass_config, metrics)


@register_pass(TextQuantizeConfig)
def run(config: TextQuantizeConfig, artifact: TextArtifact, output: Path, corpus: TextCorpus, threads: int,
        progress: Progress, extra_metrics: dict[str, Any] | None = None) -> TextQuantizeOutcome:
    check_output_directory(output, artifact.directory)
    tokenizer = artifact.load_tokenizer()
    memory, _, evaluation = fidelity_sets(tokenizer, corpus, config.max_length, evaluation=config.evaluation_texts)
    with progress.task("quantize", total=2) as task, staged_directory(output) as staged:
        model_path = staged / MODEL_FILE
        preprocessed = _apply(config.plan, artifact.model_path, model_path)
        fp32_bytes = artifact.model_path.stat().st_size
        table, summary = describe(model_path, fp32_bytes)
        if not any(row["precision"] == "int8" for row in table["nodes"]) and not table["embedding_tables"]["int8"]:
            raise InputError(f"nothing in {artifact.model_path} was quantized (asked for {config.plan.label()}); pick other --op-types")
        task.advance(1, status="fidelity on real text")
        fidelity, _ = measure_fidelity(artifact.model_path, model_path, evaluation, memory, threads)
        fidelity["data"] = f"{corpus.description}, {evaluation.count} texts (evaluation part), up to {config.max_length} tokens"
        size = model_path.stat().st_size
        metrics = {"plan": config.plan.label(), "precision": table, "precision_summary": summary, "preprocess": preprocessed,
                   "size": {"bytes": size, "fp32_bytes": fp32_bytes, "ratio": size / fp32_bytes}, "fidelity": fidelity,
                   **(extra_metrics or {})}
        record = _finish(artifact, staged, output, TextQuantizeConfig.pass_name, config.model_dump(mode="json"), metrics)
        task.advance(1, status="done")
    return TextQuantizeOutcome(output, record, summary, fidelity)


def keep_float(artifact: TextArtifact, output: Path, search_metrics: dict[str, Any]) -> TextQuantizeOutcome:
    """Auto found no int8 candidate both faithful and faster: the output is the fp32 model, and says why."""
    check_output_directory(output, artifact.directory)
    with staged_directory(output) as staged:
        shutil.copyfile(artifact.model_path, staged / MODEL_FILE)
        size = artifact.model_path.stat().st_size
        fidelity = {"mean_cosine": 1.0, "min_cosine": 1.0, "texts": 0, "data": "fp32 kept: identical to the parent"}
        metrics = {"plan": "fp32 (kept)", "precision_summary": "fp32 (kept)", "size": {"bytes": size, "fp32_bytes": size, "ratio": 1.0},
                   "fidelity": fidelity, **search_metrics}
        record = _finish(artifact, staged, output, "hf-quantize-auto", {"kept": "fp32"}, metrics)
    return TextQuantizeOutcome(output, record, "fp32 (kept)", fidelity)


# --- --mode auto ---------------------------------------------------------------------------------


@dataclass
class TextCandidate:
    label: str
    plan: QuantizeConfig | None
    path: Path
    latency_ms: float | None = None
    ratio_to_fp32: float | None = None
    fidelity: dict[str, float] = field(default_factory=dict)
    size_bytes: int = 0
    within_budget: bool = False
    reason: str = ""
    error: str | None = None

    def as_row(self) -> dict[str, Any]:
        return {"label": self.label, "plan": self.plan.model_dump(mode="json") if self.plan else None,
                "latency_ms": self.latency_ms, "ratio_to_fp32": self.ratio_to_fp32, **self.fidelity,
                "size_bytes": self.size_bytes, "within_budget": self.within_budget, "reason": self.reason, "error": self.error}


@dataclass
class TextSearchResult:
    best: TextCandidate
    candidates: list[TextCandidate]
    verdict: str

    def table(self) -> list[dict[str, Any]]:
        return [candidate.as_row() for candidate in self.candidates]


class _Timed:
    """A session with fixed feeds, in the shape mc.timing's interleaved timer expects."""

    def __init__(self, session: TextSession, encoded: dict[str, np.ndarray]):
        self.name = "onnxruntime"
        self._session, self._feeds = session, session.feeds(encoded)

    def predict(self, _batch: np.ndarray) -> list[np.ndarray]:
        return self._session.session.run(None, self._feeds)


def candidate_plans(target: TargetProfile, overrides: dict[str, Any]) -> list[tuple[str, QuantizeConfig]]:
    """Op sets x scale granularity; reduce_range and the weight type are the target's (or the user's)."""
    plans = []
    granularities = [overrides["per_channel"]] if overrides.get("per_channel") is not None else [False, True]
    for ops in (LINEAR_OPS, EMBEDDING_OPS):
        for per_channel in granularities:
            plan = dynamic_plan(target, ops, per_channel, overrides.get("reduce_range"), overrides.get("weight_type"))
            label = f"dynamic {'+'.join(ops)} {'per-channel' if per_channel else 'per-tensor'}" + (
                " reduce_range" if plan.steps[0].reduce_range else "")
            plans.append((label, plan))
    return plans


def search(artifact: TextArtifact, target: TargetProfile, corpus: TextCorpus, threads: int, budget: FidelityBudget,
           progress: Progress, workdir: Path, overrides: dict[str, Any], max_length: int = 128, rounds: int = 9) -> TextSearchResult:
    from mc.timing import interleaved_ms

    tokenizer = artifact.load_tokenizer()
    memory, selection, _ = fidelity_sets(tokenizer, corpus, max_length)
    timing_text = corpus.long_paragraphs(TIMING_TOKENS * 8, 1)
    timing_input = encode(tokenizer, timing_text, TIMING_TOKENS, pad_to_max=True)
    fp32 = TextCandidate("fp32", None, artifact.model_path, fidelity={"mean_cosine": 1.0, "min_cosine": 1.0}, within_budget=True,
                         size_bytes=artifact.model_path.stat().st_size)
    candidates = [fp32]
    reference = None
    plans = candidate_plans(target, overrides)
    with progress.task("auto search", total=len(plans) + 1) as task:
        for index, (label, plan) in enumerate(plans):
            candidate = TextCandidate(label, plan, workdir / f"candidate{index}.onnx")
            candidates.append(candidate)
            task.advance(1, status=label)
            try:
                _apply(plan, artifact.model_path, candidate.path)
            except InputError as error:
                candidate.error = str(error)
                continue
            candidate.size_bytes = candidate.path.stat().st_size
            candidate.fidelity, reference = measure_fidelity(artifact.model_path, candidate.path, selection, memory, threads, reference)
            candidate.within_budget = budget.accepts(candidate.fidelity)
        built = [c for c in candidates if c.error is None]
        predictors = {c.label: _Timed(TextSession(c.path, threads), timing_input) for c in built}
        latency = interleaved_ms(predictors, np.empty(0), rounds=rounds, calls=10, warmup=5)
        # Finalists (faithful, within 10% of the fastest faithful one) are timed again, longer, with fp32:
        # a one-off stall on a shared machine must not decide between near-equal candidates.
        faithful_ms = [latency[c.label] for c in built if c.plan is not None and c.within_budget]
        finalists = [c.label for c in built if c.plan is not None and c.within_budget and latency[c.label] <= min(faithful_ms, default=0) * 1.10]
        if finalists:
            task.advance(0, status="confirming finalists")
            latency.update(interleaved_ms({label: predictors[label] for label in ["fp32", *finalists]}, np.empty(0),
                                          rounds=2 * rounds, calls=10, warmup=5))
        task.advance(1, status="timed")
    for candidate in built:
        candidate.latency_ms = latency[candidate.label]
        candidate.ratio_to_fp32 = latency[candidate.label] / latency["fp32"]
    faithful = [c for c in built if c.plan is not None and c.within_budget and c.ratio_to_fp32 <= FASTER_MARGIN]
    for candidate in built:
        if candidate.plan is None:
            candidate.reason = "reference"
        elif not candidate.within_budget:
            candidate.reason = (f"fidelity below budget (mean >= {budget.min_mean_cosine}, min >= {budget.min_cosine})")
        elif candidate.ratio_to_fp32 > FASTER_MARGIN:
            candidate.reason = "not faster than fp32"
    if not faithful:
        verdict = "kept fp32: no int8 candidate was both within the fidelity budget and faster than fp32 here"
        fp32.reason = "kept"
        return TextSearchResult(fp32, candidates, verdict)
    fastest = min(c.latency_ms for c in faithful)
    tied = [c for c in faithful if c.latency_ms <= fastest * TIE_MARGIN]
    best = min(tied, key=lambda c: (c.size_bytes, c.latency_ms))
    for candidate in faithful:
        candidate.reason = "kept" if candidate is best else ("as fast, larger" if candidate in tied else "slower")
    verdict = (f"kept {best.label}: {1 / best.ratio_to_fp32:.2f}x fp32 speed, mean cosine {best.fidelity['mean_cosine']:.4f}, "
               f"min {best.fidelity['min_cosine']:.4f}, {best.size_bytes / fp32.size_bytes:.2f}x fp32 size")
    return TextSearchResult(best, candidates, verdict)


def auto(artifact: TextArtifact, output: Path, target: TargetProfile, corpus: TextCorpus, threads: int, budget: FidelityBudget,
         progress: Progress, overrides: dict[str, Any], max_length: int = 128) -> tuple[TextQuantizeOutcome, TextSearchResult]:
    from mc.passes import run_pass

    check_output_directory(output, artifact.directory)
    with tempfile.TemporaryDirectory(prefix="mc-hf-auto-") as workdir:
        result = search(artifact, target, corpus, threads, budget, progress, Path(workdir), overrides, max_length)
    search_metrics = {"search": {"verdict": result.verdict, "target": target.name, "threads": threads,
                                 "budget": budget.model_dump(mode="json"), "candidates": result.table(),
                                 "selection_data": f"{corpus.description} (selection part)", "timing_tokens": TIMING_TOKENS}}
    if result.best.plan is None:
        return keep_float(artifact, output, search_metrics), result
    config = TextQuantizeConfig(plan=result.best.plan, max_length=max_length)
    return run_pass(config, artifact, output, corpus, threads, progress, search_metrics), result
