"""The compile-backend registry: what `mc compile --backend NAME` can build, one entry per backend module.

Each backend module (tensorrt, aoti, ort, executorch, openvino) describes itself with a
`CompileBackend` and registers it at import; `mc.compilation`'s `__init__` imports them all (as timm
does), so the compile pass, `mc doctor` and `mc optimize` read this table and never switch on a
backend's name. `runtime` names the runtime in `mc.runtimes` that opens the artifact, which is how a
target profile's `runtimes:` list maps to backends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from mc.data.evaluation import EvaluationData
    from mc.models.source import OnnxModel, TorchModel
    from mc.runtimes import Predictor


@dataclass(frozen=True)
class BuildRequest:
    """Everything a backend's `build` may use. `module` is a private copy of a torch source (None for
    ONNX): the backend may move, cast or quantize it; `source` stays the parity reference."""

    source: "TorchModel | OnnxModel"
    module: "nn.Module | None"
    output: Path  # the staged file: any name, its final name is the config's output
    precision: str
    device: str
    opt_batch: int
    max_batch: int
    calibration: "np.ndarray | None"
    evaluation: "EvaluationData"
    int8_mode: str = "static"  # static (calibrated activations) | dynamic (activations quantized per call)
    fp32_modules: tuple[str, ...] = ()  # modules kept in fp32 (by qualified name), where the backend can
    max_accuracy_drop: float | None = None  # an accuracy budget (points), where the backend can search within one
    selection: "EvaluationData | None" = None  # what a search within that budget selects on (never the test set)


@dataclass(frozen=True)
class Built:
    """A backend's result: the staged artifact loaded back as the bench will load it, and the settings
    for the sidecar. Files that travel with an artifact (OpenVINO's .bin) are written beside the
    staged file, named as `mc.artifact.companion_files` says; the pass publishes them with it."""

    predictor: "Predictor"
    settings: dict[str, Any]


@dataclass(frozen=True)
class CompileBackend:
    name: str
    runtime: str  # the runtime (mc.runtimes) that opens the artifact: a target's `runtimes:` names these
    suffix: str  # the artifact's file suffix
    kind: str  # the sidecar's kind
    precisions: tuple[str, ...]
    devices: tuple[str, ...]  # the first is the default
    extra: str  # how to install it: "pip install 'mc[...]'"
    check_available: Callable[[str, str], str | None]  # (precision, device) -> None, or one line: what is missing
    build: Callable[[BuildRequest], Built]
    takes: str = "torch"  # what `build` compiles: "torch", or "onnx" (a torch source is exported first)
    description: str = ""
    # (precision, device, int8_mode) -> None, or why this combination is refused (beyond precisions/devices)
    refuse: Callable[[str, str, str], str | None] | None = field(default=None)
    int8_modes: tuple[str, ...] = ("static",)
    artifact_kind: str = "compiled"  # the mc.artifact Kind of what it builds (its own opener row in mc.runtimes)
    # optional compile settings it honours: "fp32_modules", "max_accuracy_drop", "batch_one" (max_batch 1:
    # a static batch-1 program, larger batches run a sample at a time)
    options: tuple[str, ...] = ()

    @property
    def accepts(self) -> tuple[str, ...]:
        """Artifact kinds the compile pass takes for this backend."""
        return ("torch", "onnx") if self.takes == "onnx" else ("torch",)


_BACKENDS: dict[str, CompileBackend] = {}


def register_backend(backend: CompileBackend) -> CompileBackend:
    if backend.name in _BACKENDS and _BACKENDS[backend.name] != backend:
        raise ValueError(f"compile backend {backend.name!r} is registered twice")
    _BACKENDS[backend.name] = backend
    return backend


def compile_backends() -> tuple[CompileBackend, ...]:
    """Every registered backend, in registration order."""
    return tuple(_BACKENDS.values())


def get_backend(name: str) -> CompileBackend:
    """The backend called `name`; ValueError listing the known ones otherwise."""
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(_BACKENDS)}") from None


def backends_for_runtime(runtime: str) -> tuple[CompileBackend, ...]:
    """The backends whose artifacts `runtime` opens (how a target's `runtimes:` list becomes backends)."""
    return tuple(backend for backend in _BACKENDS.values() if backend.runtime == runtime)
