"""Optional extras (`mc[hf]`, ...): a missing library is one line naming it and the install command."""

from __future__ import annotations

import importlib
import importlib.util
import sys

from mc.errors import BackendUnavailable

HF_INSTALL = "pip install 'mc[hf]'"


def require(*modules: str, feature: str = "Hugging Face models", install: str = HF_INSTALL) -> None:
    """Import each module or raise BackendUnavailable naming the first one missing."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            missing = getattr(error, "name", None) or name
            raise BackendUnavailable(
                f"{feature} need the Python package {missing.split('.')[0]!r}, which is not installed: {install}"
            ) from None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__


def present(module: str) -> bool:
    """Whether `module` can be imported, without importing it (a module blocked in sys.modules is absent)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
