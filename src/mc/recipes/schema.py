"""A recipe as typed data: the model, the data, the target, named variants (each a chain of passes
with their configs), the bench scenario and the gates every variant must pass.

The loader (`mc.recipes.loader`) turns YAML into this and reports errors with file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mc.bench.config import BenchConfig
from mc.passes import PassConfig
from mc.percentiles import min_queries
from mc.recipes.containment import NAME_RULE, SAFE_NAME, safe_name

# Recipe and variant names become folder and file names: one path component, never `..`.
NAME_PATTERN = f"^{SAFE_NAME.pattern}$"


class Gates(BaseModel):
    """What a variant must meet to be recommended; each is checked against this run's figures."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_accuracy_drop: float | None = Field(None, ge=0, le=100, description="points below the reference's accuracy")
    min_agreement: float | None = Field(None, ge=0, le=1, description="top-1 agreement with the reference")
    max_auroc_drop: float | None = Field(None, ge=0, le=1, description="confidence AUROC below the reference's")
    max_size_mb: float | None = Field(None, gt=0, description="artifact size, MB (10^6 bytes)")
    max_p99_ms: float | None = Field(None, gt=0, description="real-time latency p99 in the pipeline, ms (measured)")
    max_latency_ratio: float | None = Field(None, gt=0, description="model p50 against the reference's, same run")
    max_peak_rss_mb: float | None = Field(None, gt=0, description="peak resident memory of the worker, MB (10^6 bytes)")
    min_mean_cosine: float | None = Field(None, ge=0, le=1, description="text models: mean embedding cosine to the reference")
    min_cosine: float | None = Field(None, ge=0, le=1, description="text models: smallest embedding cosine to the reference")
    max_power_w: float | None = Field(None, gt=0, description="mean device power at the real-time rate, W (the seed's edge budget: 5)")


@dataclass(frozen=True)
class Step:
    """One pass of a variant: its recipe key and its validated config."""

    pass_name: str
    config: PassConfig

    def config_json(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    model: str = Field(description="zoo name, checkpoint, file.py:factory, module:factory, .onnx or a Hugging Face directory")
    input_shape: str | None = Field(None, description="batch first, e.g. 1,1,40 (factories only)")
    data: str | None = Field(None, description="labelled held-out data (.npz with x, y) or a built-in setting (mnist1d, mnist1d-hard) [default: MNIST-1D test set]")
    calibration: str | None = Field(None, description="calibration samples [default: the shipped MNIST-1D set]")
    corpus: str | None = Field(None, description="text models: a UTF-8 text file [default: Python's own reference docs]")
    target: str = "x86-cpu"
    reference: str | None = Field(None, description="the variant drops and ratios are measured against [default: the first]")
    variants: dict[str, tuple[Step, ...]]
    inputs: tuple[str, ...] = Field((), description="files the model's source reads (a factory's weights), relative to "
                                    "the recipe: their content goes into every step's cache key")
    bench: BenchConfig = BenchConfig()
    gates: Gates = Gates()
    objective: Literal["latency", "size", "accuracy"] = Field(
        "latency", description="what the recommendation optimizes among variants that pass every gate (see the report's rule)")
    source: str = ""  # the file it was read from (set by the loader)

    @field_validator("variants")
    @classmethod
    def _variant_names_are_safe(cls, variants: dict[str, tuple[Step, ...]]) -> dict[str, tuple[Step, ...]]:
        for name in variants:
            if not safe_name(name):
                raise ValueError(f"variant name {name!r}: {NAME_RULE}")
        return variants

    @property
    def is_factory(self) -> bool:
        """A model built by user code (`file.py:build`), which may read files mc cannot see."""
        return ":" in self.model and not self.model.endswith((".onnx", ".pt", ".pth"))

    def problems(self) -> list[tuple[tuple[str, ...], str]]:
        """Rules across fields, as (path in the file, message) so the loader can name the line."""
        found: list[tuple[tuple[str, ...], str]] = []
        if not self.variants:
            found.append((("variants",), "a recipe needs at least one variant"))
        if self.reference is not None and self.reference not in self.variants:
            found.append((("reference",), f"{self.reference!r} is not one of the variants ({', '.join(self.variants)})"))
        if self.gates.max_p99_ms is not None and self.bench.scenario == "realtime":
            rate = self.bench.rate or 20.0
            needed = min_queries(99)
            if self.bench.duration * rate < needed:
                found.append((("gates", "max_p99_ms"),
                              f"a p99 needs at least {needed} requests, but bench.duration {self.bench.duration:g} s at "
                              f"{rate:g} Hz gives {int(self.bench.duration * rate)}: set bench.duration to "
                              f"{needed / rate:.0f} or more, or drop the gate"))
        return found

    @property
    def reference_variant(self) -> str:
        return self.reference or next(iter(self.variants))
