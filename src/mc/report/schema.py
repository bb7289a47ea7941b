"""The `mc.report/1` schema: what one recipe run found, as data. Markdown, HTML and `mc report
compare` are pure functions of this (nothing they show is computed anywhere else).

Every figure carries its unit and how it was obtained: `measured` on this host (the label names the
host and threads), `estimated` for a target the host is not (a roofline, labelled so), `counted`
from the artifact itself (file size, parameters; the same on every machine), or `derived` from
other figures of the same run (a drop against the reference, a latency ratio).

A NaN (or infinite) value is read as not obtained (None): it is what a failed computation leaves in
JSON, and every comparison with it is false, so a NaN figure would pass any check it entered.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

REPORT_SCHEMA = "mc.report/1"

Method = Literal["measured", "estimated", "counted", "derived"]


def obtained(value: Any) -> Any:
    """None for a float that is NaN or infinite: no figure anyone obtained; anything else as it is."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


Value = Annotated[float | None, AfterValidator(obtained)]


class Figure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Value  # None: not obtained (too few queries for a percentile, a failed step, a NaN)
    unit: str  # "ms", "MB" (10^6 bytes; "MiB" only in older reports), "%", "pt", "x", "count", "Hz", "auroc", "1"
    method: Method
    source: str  # how exactly: "measured on vm, 2 threads", "file size", "roofline estimated for pi5"
    # A 95% confidence interval where the figure has one (latency ratios and speed-ups from the
    # side-by-side timing); None in reports written before mc measured intervals.
    low: Value = None
    high: Value = None
    verdict: Literal["faster", "slower", "indistinguishable"] | None = None  # against the reference

    def interval(self) -> tuple[float, float] | None:
        return None if self.low is None or self.high is None else (self.low, self.high)


class Step(BaseModel):
    """One pass of a variant's chain, as it ran (or came from the cache)."""

    model_config = ConfigDict(extra="forbid")
    pass_name: str
    config: dict[str, Any]
    cache_key: str
    sha256: str | None  # of the artifact it produced
    cached: bool
    seconds: float  # 0 when it came from the cache
    # What the pass declared (mc.passes.PassConfig); absent in reports written before mc recorded them.
    summary: str = ""
    trains: bool = False  # its output came out of training: no other CPU reproduces it bit for bit
    chosen_by_timing: bool = False  # timing on the host chose it: near-tied candidates may swap between runs


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str  # the recipe's key: max_accuracy_drop, max_p99_ms, max_size_mb, ...
    limit: float
    unit: str
    value: Value
    passed: bool | None  # None: the figure could not be obtained, so the gate could not be judged
    note: str = ""


class Realtime(BaseModel):
    """The real-time scenario of the meta pipeline (latency from the scheduled arrival)."""

    model_config = ConfigDict(extra="forbid")
    scenario: str
    requests: int
    completed: int
    dropped: int
    misses_over_target: int  # over 50 ms (the target), drops included
    misses_over_limit: int  # over 100 ms (the hard deadline), drops included
    target_ms: float
    limit_ms: float
    # count, mean, p50, p90, p95, p99, max (nearest rank), and since mc recorded it the
    # percentile_method: "exact", or "reservoir of N" when a long run's percentiles are estimated
    latency_ms: dict[str, float | int | str | None]
    latency_curve_ms: list[float]  # nearest-rank value at percentiles 0..100, for plots
    final_quality_level: str | None
    quality_changes: int
    pipeline_quality: float | None  # the quality assessor's overall score

    @field_validator("latency_ms")
    @classmethod
    def _nan_is_not_obtained(cls, latency: dict[str, Any]) -> dict[str, Any]:
        return {key: obtained(value) for key, value in latency.items()}


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    status: Literal["ok", "failed", "unavailable"]
    error: str | None = None  # one line: why it failed or why this host cannot run it
    failed_step: str | None = None
    kind: str | None = None  # the seed's "Implementation" row: "fp32", "int8 (static QDQ)", "pruned 50%", ...
    steps: list[Step] = Field(default_factory=list)
    artifact: str | None = None  # path relative to the run directory
    sha256: str | None = None
    runtime: str | None = None
    figures: dict[str, Figure] = Field(default_factory=dict)
    realtime: Realtime | None = None
    gates: list[Gate] = Field(default_factory=list)

    def passes_gates(self) -> bool:
        return self.status == "ok" and all(gate.passed for gate in self.gates)


class HardwareRow(BaseModel):
    """The seed's hardware table: what runs where, how fast, and what it is good for."""

    model_config = ConfigDict(extra="forbid")
    hardware: str
    variant: str
    speed: Figure  # inferences per second through the model alone
    latency: Figure  # the same, as ms per inference
    suitable_for: str
    power: Figure | None = None  # mean device power at the real-time rate
    energy: Figure | None = None  # energy per inference at that rate


class Recommendation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variant: str | None
    reason: str  # one line
    rule: str = ""  # the rule that chose it, in words (absent in reports written before mc stated it)
    objective: Literal["latency", "size", "accuracy"] = "latency"


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_: str = Field(REPORT_SCHEMA, alias="schema")
    recipe: dict[str, Any]  # name, path, sha256, description, model, data
    run: dict[str, Any]  # id, started, finished, seconds, mc version, command
    target: dict[str, Any]  # name, description, is_host, threads, budgets
    measurement: dict[str, Any]  # label, host, threads, thread_note, versions
    bench: dict[str, Any]  # the scenario's settings
    reference: str  # the variant every drop and ratio is measured against
    variants: list[Variant]
    hardware: list[HardwareRow] = Field(default_factory=list)
    recommendation: Recommendation

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, variants: list[Variant]) -> list[Variant]:
        """compare and every renderer look a variant up by name: with two of one name, which one
        was compared would be an accident of order."""
        repeated = sorted(name for name, count in Counter(variant.name for variant in variants).items() if count > 1)
        if repeated:
            raise ValueError(f"variant name {', '.join(map(repr, repeated))} appears more than once: "
                             "names must be unique; rerun mc run rather than editing reports by hand")
        return variants

    def variant(self, name: str) -> Variant | None:
        return next((variant for variant in self.variants if variant.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


# The figure keys a variant may carry, with their units; report renderers and compare read these.
FIGURE_UNITS: dict[str, str] = {
    "size_mb": "MB",
    "size_ratio": "x",
    "parameters": "count",
    "accuracy": "%",
    "accuracy_drop": "pt",
    "auroc_drop": "auroc",  # the reference's confidence AUROC minus this one's
    "agreement": "%",
    "confidence_auroc": "auroc",
    "calibration_error": "1",
    "model_p50_ms": "ms",
    "model_p90_ms": "ms",
    "latency_ratio": "x",  # side by side: median per-round ratio to the reference, with its 95% interval
    "speedup": "x",  # 1 / latency_ratio (interval inverted)
    "throughput": "Hz",  # 1000 / model p50
    "realtime_p50_ms": "ms",
    "realtime_p99_ms": "ms",
    "peak_rss_mb": "MB",  # 10^6 bytes, like every size in a report (reports before this held MiB, unit "MiB")
    "estimated_p50_ms": "ms",  # reports before mc estimated like with like: model + pipeline, for the target
    # Off the target (only where the host is not it), each beside the measurement of the same quantity:
    "estimated_model_p50_ms": "ms",  # the model alone, batch 1: roofline calibrated on this host
    "estimated_realtime_p50_ms": "ms",  # the real-time scenario simulated for the target (queueing included)
    "estimated_realtime_p99_ms": "ms",
    "gops": "GOP/s",  # the model's ops (2 per multiply-add) over its bench p50 at batch 1
    "peak_fraction": "%",  # time at this host's measured GEMM peak over the time taken (mc.bench.peak)
    "mean_cosine": "cosine",  # text models: mean cosine of each text's embedding to the reference's
    "min_cosine": "cosine",  # text models: the smallest such cosine over the texts
    "mean_power_w": "W",  # mean device power at the real-time rate: estimated from the profile, or measured (RAPL)
    "energy_mj": "mJ",  # energy per inference at the real-time rate (the device's draw shared among the frames)
}
