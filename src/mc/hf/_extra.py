"""The optional `hf` extra: a missing library is one line naming it and the install command."""

from __future__ import annotations

import importlib

from mc.errors import BackendUnavailable

INSTALL = "pip install 'mc[hf]'"


def require(*modules: str, feature: str = "Hugging Face models") -> None:
    """Import each module or raise BackendUnavailable naming the first one missing."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            missing = getattr(error, "name", None) or name
            raise BackendUnavailable(
                f"{feature} need the Python package {missing.split('.')[0]!r}, which is not installed: {INSTALL}"
            ) from None


def require_transformers() -> None:
    require("transformers", "tokenizers")


def require_optimum() -> None:
    require("transformers", "tokenizers", "optimum.exporters.onnx", feature="export through Optimum")
