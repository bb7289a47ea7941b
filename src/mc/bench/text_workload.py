"""The text workload: an embedding model benched in its own worker process (mc.bench.worker opened
it under the thread limit). torch is never imported on this path, so the peak RSS the worker reports
is the runtime's, the model's and the tokenizer's.

Latency is closed loop, batch 1, at each sequence length: real paragraphs truncated to exactly that
many tokens, cycled so that no single input is timed over and over. Embeddings of the fidelity texts
go to an .npy file for the parent to compare with the reference's (cosine per text): a memory model
first remembers the memory texts, as it would in use.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from mc.bench.config import TextRequest, WorkerRequest
from mc.percentiles import summarize
from mc.resident import peak_resident_mb
from mc.runtimes import OpenedModel
from mc.runtimes.text import TextSession, TextSet, embed_all, encode

TIMING_PARAGRAPHS = 8


def middle_length(lengths: list[int]) -> int:
    """The length whose latency stands for the model's (64 of 16/64/128)."""
    ordered = sorted(lengths)
    return ordered[(len(ordered) - 1) // 2]


def _corpus_texts(text: TextRequest) -> tuple[Any, list[str], list[str], list[str]]:
    """(corpus, memory texts, fidelity texts, timing paragraphs): disjoint memory and fidelity parts."""
    from pathlib import Path

    from mc.data.text import load_corpus

    corpus = load_corpus(Path(text.corpus) if text.corpus else None)
    memory_texts, fidelity_texts = corpus.split(text.memory_texts, text.fidelity_texts)
    timing_texts = corpus.long_paragraphs(max(text.lengths) * 8, TIMING_PARAGRAPHS)
    return corpus, memory_texts, fidelity_texts, timing_texts


def _embeddings(request: WorkerRequest, model: OpenedModel, memory_texts: list[str], fidelity_texts: list[str]) -> np.ndarray:
    session: TextSession = model.predictor  # type: ignore[assignment]
    memory = TextSet.of(model.tokenizer, memory_texts, request.text.max_length)
    texts = TextSet.of(model.tokenizer, fidelity_texts, request.text.max_length)
    return embed_all(session, texts, memory)


def compute_reference(request: WorkerRequest, model: OpenedModel) -> dict[str, Any]:
    """The reference's embeddings of the fidelity texts, saved for the variants' fidelity."""
    if request.output_array is None:
        raise ValueError("a reference request needs output_array")
    corpus, memory_texts, fidelity_texts, _ = _corpus_texts(request.text)
    embeddings = _embeddings(request, model, memory_texts, fidelity_texts)
    np.save(request.output_array, embeddings)
    return {"description": model.description, "data": corpus.description, "samples": int(len(embeddings))}


def bench_variant(request: WorkerRequest, model: OpenedModel, began: float) -> dict[str, Any]:
    """`began`: when the worker started opening the model (load_s counts the opening)."""
    text = request.text
    session: TextSession = model.predictor  # type: ignore[assignment]
    load_s = time.perf_counter() - began
    loaded_rss = peak_resident_mb()
    corpus, memory_texts, fidelity_texts, timing_texts = _corpus_texts(text)
    latency = {}
    for length in text.lengths:
        feeds = [session.feeds(encode(model.tokenizer, [paragraph], length, pad_to_max=True)) for paragraph in timing_texts]
        for index in range(text.warmup):
            session.predict(feeds[index % len(feeds)])
        times = []
        for index in range(text.queries):
            start = time.perf_counter()
            session.predict(feeds[index % len(feeds)])
            times.append((time.perf_counter() - start) * 1e3)
        latency[str(length)] = summarize(times)
    timed_rss = peak_resident_mb()
    if request.output_array is None:
        raise ValueError("a text variant request needs output_array (its embeddings)")
    embeddings = _embeddings(request, model, memory_texts, fidelity_texts)
    np.save(request.output_array, embeddings)
    return {
        "description": model.description,
        "runtime": model.runtime,
        "size_bytes": model.size_bytes,
        "data": corpus.description,
        "load_s": load_s,
        "model_latency_ms": latency[str(middle_length(text.lengths))],
        "latency_by_length_ms": latency,
        "fidelity_texts": int(len(embeddings)),
        "has_memory": session.memory is not None,
        "peak_rss_mb_after": {"load": loaded_rss, "latency": timed_rss},
        "torch_imported": "torch" in sys.modules,
        "device": model.device,
        "vmhwm_mb": peak_resident_mb(),
        "worker_s": time.perf_counter() - began,
    }
