"""Passes register their handler keyed by their config type (torchao-style); `run_pass` dispatches.

The registry imports none of the passes: `mc.passes` imports each pass module, whose
`@register_pass` fills it. Recipes name a pass by its config's `pass_name`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mc.artifact import Artifact
from mc.passes._contract import PassConfig

if TYPE_CHECKING:
    from mc.passes._context import PassContext

ConfigT = TypeVar("ConfigT", bound=PassConfig)
Handler = Callable[[PassConfig, Artifact, Path, "PassContext"], Artifact]
_HANDLERS: dict[type[PassConfig], Handler] = {}
_BY_NAME: dict[str, type[PassConfig]] = {}


def register_pass(config_type: type[ConfigT]) -> Callable[[Callable[..., Artifact]], Callable[..., Artifact]]:
    def decorate(handler: Callable[..., Artifact]) -> Callable[..., Artifact]:
        if config_type in _HANDLERS or config_type.pass_name in _BY_NAME:
            raise ValueError(f"a pass named {config_type.pass_name!r} is already registered")
        _HANDLERS[config_type] = handler
        _BY_NAME[config_type.pass_name] = config_type
        return handler

    return decorate


def run_pass(config: PassConfig, source: Artifact, output: Path, ctx: "PassContext") -> Artifact:
    """Run the pass `config` belongs to: `source` in, the published artifact at `output` out."""
    handler = _HANDLERS.get(type(config))
    if handler is None:
        raise TypeError(f"no pass registered for {type(config).__name__}")
    problem = config.refusal(source.kind)
    if problem:
        from mc.errors import InputError

        raise InputError(f"{source.location}: {problem}")
    return handler(config, source, output, ctx)


def pass_types() -> dict[str, type[PassConfig]]:
    """Pass name (as recipes write it) -> its config type."""
    return dict(_BY_NAME)
