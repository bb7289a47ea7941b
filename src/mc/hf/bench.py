"""The text bench: latency at sequence lengths 16/64/128, memory, and fidelity to the fp32 model.

Each variant runs in a fresh worker process under the target's thread limit (mc.hf.bench_worker),
which reports its own peak RSS (VmHWM: model, runtime, tokenizer and the activations at 128 tokens). Fidelity is the cosine similarity of each
text's mean-pooled embedding to the reference variant's (`--reference`, else the first variant),
on real text: mean and minimum over the texts. Times are measured on this host (a target that is
not this host is noted, as in `mc bench`); compare variants as ratios measured in one run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mc.errors import InputError
from mc.hf.embeddings import cosine_fidelity
from mc.hf.source import TextArtifact, open_text_artifact
from mc.hf.text import TextCorpus
from mc.progress import Progress
from mc.targets import TargetProfile
from mc.versions import host_description, library_versions

TEXT_BENCH_SCHEMA = "mc.bench.text/1"
WORKER_TIMEOUT_S = 900.0


class TextBenchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lengths: tuple[int, ...] = Field((16, 64, 128), min_length=1)
    queries: int = Field(200, ge=10, le=100_000, description="timed calls per sequence length (p90 needs 64, p99 662)")
    warmup: int = Field(20, ge=0)
    fidelity_texts: int = Field(128, ge=8, le=10_000)
    memory_texts: int = Field(32, ge=0, le=10_000, description="texts a memory model remembers before it is judged")
    max_length: int = Field(128, ge=8, le=4096, description="tokens per fidelity text")


def _run_worker(request: dict, workdir: Path, name: str, threads: int) -> dict:
    from mc.bench.worker import thread_environment

    request_path, result_path, log_path = workdir / f"{name}.json", workdir / f"{name}.result.json", workdir / f"{name}.log"
    request_path.write_text(json.dumps(request))
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "mc.hf.bench_worker", str(request_path), str(result_path)],
                                   env={**os.environ, **thread_environment(threads)}, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            process.wait(timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return {"status": "failed", "error": f"timed out after {WORKER_TIMEOUT_S:.0f} s and was killed"}
        except BaseException:  # Ctrl-C: no orphan left running
            process.kill()
            process.wait()
            raise
    if result_path.exists():
        return json.loads(result_path.read_text())
    tail = log_path.read_text(errors="replace").strip().splitlines()
    return {"status": "failed", "error": f"worker exit status {process.returncode}" + (f": {tail[-1][:200]}" if tail else "")}


def run_text_bench(specs: list[str], target: TargetProfile, config: TextBenchConfig, corpus: TextCorpus, progress: Progress,
                   reference: str | None = None) -> dict[str, Any]:
    artifacts: list[TextArtifact] = [open_text_artifact(spec) for spec in specs]
    reference_artifact = open_text_artifact(reference) if reference else artifacts[0]
    order = artifacts if reference is None else [reference_artifact, *artifacts]
    threads = target.host_threads()
    memory_texts, fidelity_texts = corpus.split(config.memory_texts, config.fidelity_texts)
    timing_texts = corpus.long_paragraphs(max(config.lengths) * 8, 8)
    variants, embeddings = [], {}
    with tempfile.TemporaryDirectory(prefix="mc-text-bench-") as workdir, progress.task("text bench", total=len(order)) as task:
        for index, artifact in enumerate(order):
            name = f"variant{index}"
            request = {"model_path": str(artifact.model_path), "threads": threads, "lengths": list(config.lengths),
                       "queries": config.queries, "warmup": config.warmup, "timing_texts": timing_texts,
                       "memory_texts": memory_texts, "fidelity_texts": fidelity_texts, "max_length": config.max_length,
                       "embeddings_path": str(Path(workdir) / f"{name}.npy")}
            task.advance(0, status=str(artifact.directory))
            began = time.perf_counter()
            result = _run_worker(request, Path(workdir), name, threads)
            variant = {"artifact": str(artifact.directory), "model": str(artifact.model_path), "peak_rss_mb": None,
                       "wall_s": time.perf_counter() - began, **result}
            if result["status"] == "ok":
                embeddings[index] = np.load(request["embeddings_path"])
            variants.append(variant)
            task.advance(1, status="done")
    reference_index = 0
    if reference_index not in embeddings:
        raise InputError(f"the reference {reference_artifact.directory} failed to run ({variants[0].get('error')}); fidelity needs it")
    for index, variant in enumerate(variants):
        variant["fidelity"] = cosine_fidelity(embeddings[reference_index], embeddings[index]) if index in embeddings else None
        variant["is_reference"] = index == reference_index
    fp32_size = variants[reference_index].get("size_bytes")
    for variant in variants:
        variant["size_ratio"] = variant["size_bytes"] / fp32_size if fp32_size and variant.get("size_bytes") else None
    return {
        "schema": TEXT_BENCH_SCHEMA,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "target": {"name": target.name, "threads": threads, "is_host": target.is_host()},
        "measurement": "measured" if target.is_host() else f"measured on this host, not on {target.name}",
        "settings": config.model_dump(mode="json"),
        "data": {"corpus": corpus.description, "fidelity_texts": len(fidelity_texts), "memory_texts": len(memory_texts),
                 "timing": f"{len(timing_texts)} paragraphs truncated to each length"},
        "reference": str(reference_artifact.directory),
        "variants": variants,
        "versions": library_versions(),
        "host": host_description(),
    }
