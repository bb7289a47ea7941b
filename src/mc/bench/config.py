"""What a bench is asked to do: the user's options (validated, named like the CLI flags) and the
request one worker process receives.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mc.bench.scenarios import ScenarioConfig
from mc.percentiles import min_queries
from mc.pipeline.settings import ProcessorSettings

BENCH_SCHEMA = "mc.bench/1"


class BenchConfig(BaseModel):
    """The bench options; field names match the CLI flags so a range error names its flag."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scenario: Literal["realtime", "latency", "throughput"] = "realtime"
    duration: float = Field(10.0, gt=0, le=3600, description="seconds of measurement per variant")
    rate: float | None = Field(None, gt=0, le=1000, description="arrivals per second [default: the processor's 20 Hz]")
    arrivals: Literal["fixed", "poisson"] = "fixed"
    seed: int = Field(0, ge=0, description="seed of the Poisson arrivals")
    batch_size: int = Field(32, ge=1, le=4096, description="samples per batch in the throughput scenario")
    queries: int = Field(min_queries(99), ge=1, le=1_000_000, description="minimum queries of the latency scenario")
    warmup: int = Field(32, ge=0, le=100_000, description="untimed requests before measuring")
    adaptive_quality: bool = True


class WorkerRequest(BaseModel):
    """One worker's job: bench a variant, or compute the reference model's logits."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["variant", "reference"]
    artifact: str
    target: str
    threads: int = Field(ge=1)
    input_shape: list[int] | None = None
    scenario: ScenarioConfig
    settings: ProcessorSettings
    reference_logits: str | None = None  # .npy written by the reference worker
    output_logits: str | None = None  # where a reference worker writes its logits
    model_queries: int = Field(100, ge=1, description="bare-model calls at batch 1 (the roofline's calibration)")
    overhead_queries: int = Field(min_queries(99), ge=1, description="control-runtime calls that price the pipeline itself")
