"""The real-time meta processor's settings: the seed's performance targets, as one validated config.

The seed's defaults (50 ms target, 100 ms hard limit, 20 Hz, recursion depth 3, 2 GB, quality
threshold 0.7, adaptive quality on) hold unless a target profile or the caller overrides them; an
inconsistent combination (a target above the hard limit) fails here, not as odd behaviour later.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ProcessorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target_latency_ms: float = Field(50.0, gt=0, description="latency the pipeline aims for (misses above it are counted)")
    max_latency_ms: float = Field(100.0, gt=0, description="hard limit: each request's deadline after its arrival")
    target_rate_hz: float = Field(20.0, gt=0, le=1000, description="the frame rate the real-time scenario drives")
    recursion_depth: int = Field(3, ge=1, le=4, description="the seed's max_recursion_depth; picks the starting quality level")
    memory_limit_mb: float = Field(2048.0, gt=0, description="memory budget; the monitor alerts at 85 % of it")
    quality_threshold: float = Field(0.7, ge=0, le=1, description="overall quality a frame must reach to count as good")
    adaptive_quality: bool = Field(True, description="let the controller step the quality level down and up")
    cache_size: int = Field(1000, ge=1, description="entries in the recursive-awareness cache (LRU)")
    cache_levels: int = Field(255, ge=2, le=255, description="quantization steps of a state in the cache key")
    quality_budget_ms: float = Field(5.0, gt=0, description="time the quality assessor may take per frame")
    controller_window: int = Field(10, ge=1, description="requests per quality-controller decision")
    headroom_fraction: float = Field(0.7, gt=0, lt=1, description="step up when mean latency < this x the target")
    deadline_margin_ms: float = Field(10.0, ge=0, description="recursion stops when less than this is left (seed: 10 ms)")

    @model_validator(mode="after")
    def _target_within_limit(self) -> ProcessorSettings:
        if self.target_latency_ms > self.max_latency_ms:
            raise ValueError(
                f"target_latency_ms ({self.target_latency_ms:g}) exceeds max_latency_ms ({self.max_latency_ms:g})"
            )
        return self

    @classmethod
    def for_target(cls, profile: Any, **overrides: Any) -> ProcessorSettings:
        """Settings under a target profile's budgets (latency, target latency, RAM), then `overrides`."""
        values: dict[str, Any] = {
            "target_latency_ms": profile.budgets.target_latency_ms,
            "max_latency_ms": profile.budgets.latency_ms,
            "memory_limit_mb": profile.budgets.ram_mb,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)
