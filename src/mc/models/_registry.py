"""The model registry: `@register_model` on tiny factories that return a config (timm-style).

A model's architecture is data (a frozen dataclass config) so that checkpoints record it and reload
with `torch.load(weights_only=True)`, never by unpickling a class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mc.errors import InputError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class SequenceTask:
    """What every model config of the family shares: the input layout and the number of classes."""

    in_channels: int = 1
    seq_len: int = 40
    num_classes: int = 10

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.in_channels, self.seq_len)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    config_factory: Callable[[], Any]
    builder: Callable[[Any], "nn.Module"]
    modality: str = "mnist1d"  # "text": a Hugging Face text model (mc.hf), exported and benched on text
    describe: Callable[[Any], dict[str, Any]] | None = None  # catalog facts where building the model is too costly

    def default_config(self) -> Any:
        return self.config_factory()

    def build(self, config: Any | None = None) -> "nn.Module":
        config = config if config is not None else self.default_config()
        model = self.builder(config)
        model.mc_name = self.name  # type: ignore[assignment]
        model.mc_config = config  # type: ignore[assignment]
        return model

    def config_from_dict(self, values: dict[str, Any]) -> Any:
        """Rebuild a config from a checkpoint's dict; unknown keys mean a checkpoint from another version."""
        config_type = type(self.default_config())
        known = {field.name for field in dataclasses.fields(config_type)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(
                f"checkpoint config for {self.name!r} has unknown keys {unknown}: "
                "it was written by another mc version; retrain or re-save it with this one"
            )
        return config_type(**values)


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, description: str, builder: Callable[[Any], "nn.Module"], modality: str = "mnist1d",
                   describe: Callable[[Any], dict[str, Any]] | None = None):
    """Decorator for a zero-argument function returning the model's default config."""

    def decorate(config_factory: Callable[[], Any]) -> Callable[[], Any]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = ModelEntry(name, description, config_factory, builder, modality, describe)
        return config_factory

    return decorate


def model_names() -> list[str]:
    return list(_MODELS)


def get_model_entry(name: str) -> ModelEntry:
    if name not in _MODELS:
        import difflib

        close = difflib.get_close_matches(name, _MODELS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"unknown model {name!r}: {hint}`mc models` lists the family ({', '.join(_MODELS)})")
    return _MODELS[name]


def create_model(name: str, config: Any | None = None) -> "nn.Module":
    return get_model_entry(name).build(config)
