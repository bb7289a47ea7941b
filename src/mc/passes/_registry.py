"""Passes register their handler keyed by their config type (torchao-style); `run_pass` dispatches.

Recipes name passes by the config's `pass_name`; the CLI subcommands call the same handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

ConfigT = TypeVar("ConfigT", bound=BaseModel)
_HANDLERS: dict[type[BaseModel], Callable[..., Any]] = {}


def register_pass(config_type: type[ConfigT]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        if config_type in _HANDLERS:
            raise ValueError(f"a handler for {config_type.__name__} is already registered")
        _HANDLERS[config_type] = handler
        return handler

    return decorate


def _ensure_passes_loaded() -> None:
    from mc.passes import compile, distill, export, prune, quantize, torch_quantize, train  # noqa: F401


def run_pass(config: BaseModel, *args: Any, **kwargs: Any) -> Any:
    _ensure_passes_loaded()
    handler = _HANDLERS.get(type(config))
    if handler is None:
        raise TypeError(f"no pass registered for {type(config).__name__}")
    return handler(config, *args, **kwargs)


def pass_config_types() -> dict[str, type[BaseModel]]:
    """Pass name (as recipes write it) -> its config type."""
    _ensure_passes_loaded()
    return {getattr(config_type, "pass_name"): config_type for config_type in _HANDLERS}
