"""Quantizing text encoders so that their embeddings stay faithful: the judge and candidate space
`mc.quantization.search` runs with, and the fidelity figures the pass reports.

Dynamic int8 only (weights offline, activations per call: no calibration set to choose) of the
weight MatMul/Gemm nodes and, optionally, of the embedding table's Gather: in a small encoder the
word embedding table is about half of the weights, so a file near a quarter of fp32 needs it
quantized. Fidelity is measured, never assumed: the cosine similarity of each text's embedding to
the fp32 model's on real text, each model with its own memory filled from the same texts (as each
would be when deployed). Candidates are judged on the selection part of the corpus; the figures
reported come from its evaluation part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mc.quantization.scheme import DynamicStep, QuantizePlan
from mc.runtimes import open_text_session
from mc.runtimes.text import TextSet, cosine_fidelity, embed_all, encode

EMBEDDING_OPS = ("MatMul", "Gemm", "Gather")
LINEAR_OPS = ("MatMul", "Gemm")
SELECTION_TEXTS = 64
EVALUATION_TEXTS = 128
MEMORY_TEXTS = 32
TIMING_TOKENS = 64
TEXT_INPUT = "input_ids"


class FidelityBudget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_mean_cosine: float = Field(0.99, ge=0, le=1, description="mean cosine similarity to fp32 embeddings")
    min_cosine: float = Field(0.98, ge=0, le=1, description="smallest cosine similarity to fp32 over the texts")

    def accepts(self, fidelity: dict[str, float]) -> bool:
        return fidelity["mean_cosine"] >= self.min_mean_cosine and fidelity["min_cosine"] >= self.min_cosine


def fidelity_sets(tokenizer, corpus, max_length: int, selection: int = SELECTION_TEXTS,
                  evaluation: int = EVALUATION_TEXTS) -> tuple[TextSet, TextSet, TextSet]:
    """(memory, selection, evaluation) texts: disjoint parts of the corpus, tokenized once."""
    chosen, reported = corpus.split(selection + MEMORY_TEXTS, evaluation)
    return (TextSet.of(tokenizer, chosen[selection:], max_length), TextSet.of(tokenizer, chosen[:selection], max_length),
            TextSet.of(tokenizer, reported, max_length))


def fidelity(parent: Path, child: Path, texts: TextSet, memory: TextSet, threads: int) -> dict[str, float]:
    reference = embed_all(open_text_session(parent, threads=threads), texts, memory)
    return cosine_fidelity(reference, embed_all(open_text_session(child, threads=threads), texts, memory))


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
    """The precision table of a quantized text model (embedding tables included) and its one-line summary."""
    from mc.quantization.precision import precision_table, summary_line

    table = precision_table(path, {})
    tables = table["embedding_tables"] = quantized_embeddings(path)
    size = path.stat().st_size
    return table, f"{summary_line(table)}; embedding tables {tables['int8']}/{tables['tables']} int8; {size / fp32_bytes:.2f}x fp32 size"


class EmbeddingJudge:
    """Candidates judged by embedding cosine to fp32 on the selection texts; timed at 64 tokens."""

    def __init__(self, source: Path, tokenizer, corpus, budget: FidelityBudget, threads: int, max_length: int):
        self.budget, self.threads = budget, threads
        self.memory, self.texts, _ = fidelity_sets(tokenizer, corpus, max_length)
        self.selection = f"{corpus.description} (selection part, {self.texts.count} texts)"
        self.reference = embed_all(open_text_session(source, threads=threads), self.texts, self.memory)
        self.timing_input = encode(tokenizer, corpus.long_paragraphs(TIMING_TOKENS * 8, 1), TIMING_TOKENS, pad_to_max=True)

    def score(self, path: Path) -> dict[str, Any]:
        found = cosine_fidelity(self.reference, embed_all(open_text_session(path, threads=self.threads), self.texts, self.memory))
        return {"mean_cosine": found["mean_cosine"], "min_cosine": found["min_cosine"]}

    def within_budget(self, metrics: dict[str, Any], reference: dict[str, Any]) -> tuple[bool, str]:
        if self.budget.accepts(metrics):
            return True, "within budget"
        return False, f"fidelity below budget (mean >= {self.budget.min_mean_cosine}, min >= {self.budget.min_cosine})"

    def latency_ms(self, paths: dict[str, Path], rounds: int) -> dict[str, float]:
        from mc.timing import interleaved_ms

        return interleaved_ms(self._predictors(paths), np.empty(0), rounds=rounds, calls=10, warmup=5)

    def latency_ratios(self, paths: dict[str, Path], reference: str, min_rounds: int, max_seconds: float):
        from mc.ratios import interleaved_ratios

        return interleaved_ratios(self._predictors(paths), np.empty(0), reference, calls=10, warmup=5,
                                  min_rounds=min_rounds, max_seconds=max_seconds)

    def _predictors(self, paths: dict[str, Path]) -> dict[str, "FixedFeeds"]:
        return {name: FixedFeeds(open_text_session(path, threads=self.threads, shared_cores=len(paths) > 1), self.timing_input)
                for name, path in paths.items()}


class FixedFeeds:
    """A text session fed one tokenized input, in the shape the interleaved timer expects."""

    def __init__(self, session, encoded: dict[str, np.ndarray]):
        self.name = "onnxruntime"
        self._session, self._feeds = session, session.feeds(encoded)

    def predict(self, _batch: np.ndarray) -> list[np.ndarray]:
        return self._session.session.run(None, self._feeds)


def text_space(base: DynamicStep, per_channel_fixed: bool):
    """Op sets x scale granularity (both, unless the user fixed it); reduce_range and the weight
    type as `base` has them (the target's, or the user's)."""

    def stages(searcher):
        granularities = [base.per_channel] if per_channel_fixed else [False, True]
        yield "op sets x granularity", [QuantizePlan(steps=(base.model_copy(update={"op_types": ops, "per_channel": per_channel}),))
                                        for ops in (LINEAR_OPS, EMBEDDING_OPS) for per_channel in granularities]

    return stages
