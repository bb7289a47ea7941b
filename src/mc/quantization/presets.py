"""A target's int8 scheme as a static step: the starting point that CLI flags may override."""

from __future__ import annotations

from mc.quantization.scheme import StaticStep
from mc.targets import TargetProfile


def static_preset(target: TargetProfile, **overrides) -> StaticStep:
    return StaticStep(**static_preset_values(target, **overrides))


def static_preset_values(target: TargetProfile, **overrides) -> dict:
    """The preset as plain values, so the CLI can validate user overrides and name the bad option."""
    preset = target.quantization
    values = {
        "format": preset.format, "activation_type": preset.activation_type, "weight_type": preset.weight_type,
        "per_channel": preset.per_channel, "reduce_range": preset.reduce_range,
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    return values
