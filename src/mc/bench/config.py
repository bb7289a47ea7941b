"""What a bench is asked to do (the user's options, validated, named like the CLI flags; the request
one worker process receives) and what it answers: the `mc.bench/2` result.

`mc.bench/2` is one document for both workloads. Top level: schema, created, target, measurement,
scenario, settings, reference, variants, summary (as in `mc.bench/1`). Every variant entry has
"artifact", "status", "error", "failure_kind", "workload", "peak_rss_mb", "worker", and, when ok:
- workload "pipeline" (a classifier inside the real-time meta pipeline): exactly the fields of
  `mc.bench/1`: description, runtime, size_bytes, data, measured {label, threads, scenario,
  model_latency_ms, pipeline_overhead, load_s, first_call_s, device, gpu_memory, worker_vmhwm_mb},
  estimated, accuracy, pipeline_quality, budgets; and, added within mc.bench/2 (optional to readers):
  costs {ops, flops, bytes, flops_by_precision, notes} (or None) and, on a CPU, measured.peak {ops,
  gops, fraction, peak_gops, peak_precision, latency_ms, threads, int8_kernel}: GOP/s at the bare
  model's p50 and the fraction of this host's measured GEMM peak (mc.bench.peak; the peak itself is
  measurement.host_peak);
- workload "text" (an embedding model, closed loop at batch 1): description, runtime, size_bytes,
  data (the corpus), measured {label, threads, model_latency_ms (the summary at the middle length,
  64 tokens by default), latency_by_length_ms {"16": summary, ...}, load_s}, fidelity {mean_cosine,
  min_cosine, texts, reference} (cosine of each text's embedding to the reference's), accuracy None,
  estimated None, budgets (p99 from model_latency_ms).
A summary is `mc.percentiles.summarize` output. An entry has "notes" when the opener noted something
(an artifact whose runtime the target does not list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mc.bench.scenarios import ScenarioConfig
from mc.errors import InputError
from mc.percentiles import min_queries
from mc.pipeline.settings import ProcessorSettings
from mc.targets import TargetProfile

BENCH_SCHEMA = "mc.bench/2"
UPGRADABLE_SCHEMAS = ("mc.bench/1",)  # read_bench_result upgrades these
WorkloadChoice = Literal["auto", "pipeline", "text"]


class BenchConfig(BaseModel):
    """The bench options; field names match the CLI flags so a range error names its flag."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    workload: WorkloadChoice = Field("auto", description="auto: each artifact's own (text models embed text, the rest classify)")
    scenario: Literal["realtime", "latency", "throughput"] = "realtime"
    duration: float = Field(10.0, gt=0, le=3600, description="seconds of measurement per variant")
    rate: float | None = Field(None, gt=0, le=1000, description="arrivals per second [default: the processor's 20 Hz]")
    arrivals: Literal["fixed", "poisson"] = "fixed"
    seed: int = Field(0, ge=0, description="seed of the Poisson arrivals")
    batch_size: int = Field(32, ge=1, le=4096, description="samples per batch in the throughput scenario")
    queries: int = Field(min_queries(99), ge=1, le=1_000_000, description="minimum queries of the latency scenario")
    warmup: int = Field(32, ge=0, le=100_000, description="untimed requests before measuring")
    adaptive_quality: bool = True
    remeasure_peak: bool = Field(False, description="measure this host's GEMM peak again instead of reading the cached one")
    timing_seconds: float = Field(30.0, gt=0, le=3600, description="recipes: the most seconds of side-by-side timing rounds "
                                  "per workload (rounds stop sooner once every ratio's interval is within +-3%)")
    # The text workload: closed loop, batch 1, at each length; fidelity on real text.
    lengths: tuple[int, ...] = Field((16, 64, 128), min_length=1, description="sequence lengths (tokens) a text model is timed at")
    text_queries: int = Field(200, ge=1, le=100_000, description="timed calls per sequence length (p90 needs 64, p99 662)")
    fidelity_texts: int = Field(128, ge=8, le=10_000, description="texts whose embeddings are compared with the reference's")
    memory_texts: int = Field(32, ge=0, le=10_000, description="texts a memory model remembers before it is judged")
    max_length: int = Field(128, ge=8, le=4096, description="tokens per fidelity text")
    corpus: Path | None = Field(None, description="a UTF-8 text file, paragraphs separated by blank lines [default: Python's reference docs]")
    # On the device over SSH (`mc bench --remote`, a recipe's `bench: {remote: ...}`, or a target profile's `remote:`).
    remote: str | None = Field(None, description="[user@]host[:port]: bench on the device itself over SSH")
    ssh_options: tuple[str, ...] = Field((), description="passed to ssh and scp as -o, e.g. IdentityFile=~/.ssh/pi")
    remote_python: str = Field("python3", min_length=1, description="the device's interpreter that has mc installed")


class TextRequest(BaseModel):
    """The text workload's part of a worker request."""

    model_config = ConfigDict(extra="forbid")
    lengths: list[int]
    queries: int = Field(ge=1)
    warmup: int = Field(ge=0)
    fidelity_texts: int = Field(ge=1)
    memory_texts: int = Field(ge=0)
    max_length: int = Field(ge=1)
    corpus: str | None = None

    @classmethod
    def of(cls, config: BenchConfig) -> TextRequest:
        return cls(lengths=list(config.lengths), queries=config.text_queries, warmup=config.warmup,
                   fidelity_texts=config.fidelity_texts, memory_texts=config.memory_texts, max_length=config.max_length,
                   corpus=str(config.corpus) if config.corpus else None)


class WorkerRequest(BaseModel):
    """One worker's job: bench a variant, or compute the reference's outputs (a classifier's logits on
    the held-out set, a text model's embeddings of the fidelity texts) for the variants to compare with."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["variant", "reference"]
    artifact: str
    target: TargetProfile  # resolved once, by the parent: the worker runs under exactly that profile
    threads: int = Field(ge=1)
    workload: WorkloadChoice = "auto"
    input_shape: list[int] | None = None
    scenario: ScenarioConfig
    settings: ProcessorSettings
    text: TextRequest
    reference_logits: str | None = None  # .npy written by a pipeline reference worker
    output_array: str | None = None  # where this worker writes its .npy: reference logits, or text embeddings
    model_queries: int = Field(100, ge=1, description="bare-model calls at batch 1 (the roofline's calibration)")
    overhead_queries: int = Field(min_queries(99), ge=1, description="control-runtime calls that price the pipeline itself")
    data: str | None = Field(None, description="classifiers: labelled .npz or a built-in setting (mnist1d-hard) [default: MNIST-1D test set]")


def read_bench_result(data: Any) -> dict[str, Any]:
    """A bench result as `mc.bench/2`: a `mc.bench/1` document is upgraded (its variants are all
    pipeline variants); anything else is refused with a line naming its schema."""
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == BENCH_SCHEMA:
        return data
    if schema in UPGRADABLE_SCHEMAS:
        variants = [{**variant, "workload": variant.get("workload", "pipeline")} for variant in data.get("variants", [])]
        return {**data, "schema": BENCH_SCHEMA, "variants": variants}
    if isinstance(schema, str) and schema.startswith("mc.bench"):
        raise InputError(f"a bench result of schema {schema!r} was written by an older mc: re-run mc bench")
    raise InputError(f"not a bench result (schema {schema!r}, expected {BENCH_SCHEMA}): was it written by `mc bench --json`?")
