"""Compiled torch programs (an AOTInductor package `.pt2`, a Torch-TensorRT exported program `.ep`)
as Predictors: loaded here, built in `mc.compilation`, so what `mc compile` verified is what is benched.

The sidecar `mc compile` writes gives a `.pt2`/`.ep` its input shape, backend and precision; a
host that lacks the backend gets BackendUnavailable (one line, with how to install it), not a crash.

On CUDA a call is timed twice: end to end by the caller (host to device copy, kernels, copy back:
what a frame pays) and on the device with CUDA events around the compiled call alone
(`last_device_ms`). Reading the outputs back to NumPy synchronizes, so the end-to-end time is true.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mc.errors import BackendUnavailable, InputError, root_cause

RUNTIME_OF_BACKEND = {"torch-compile": "torch-compile", "tensorrt": "tensorrt"}


class CompiledTorchPredictor:
    def __init__(self, program: Callable[..., Any], device: str, name: str, input_dtype: str = "float32"):
        import torch

        self.program = program
        self.device = torch.device(device)
        self.name = name
        self.input_dtype = getattr(torch, input_dtype)
        self.last_device_ms: float | None = None
        self._events = None
        if self.device.type == "cuda":
            self._events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device, self.input_dtype)
        with torch.inference_mode():
            if self._events is None:
                outputs = self.program(tensor)
            else:
                start, end = self._events
                start.record()
                outputs = self.program(tensor)
                end.record()
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        arrays = [output.detach().float().cpu().numpy() for output in outputs]
        if self._events is not None:
            self._events[1].synchronize()
            self.last_device_ms = self._events[0].elapsed_time(self._events[1])
        return arrays


@dataclass(frozen=True)
class CompiledProgram:
    """What the sidecar says about a compiled file."""

    backend: str
    precision: str
    device: str
    sample_shape: tuple[int, ...]

    @property
    def runtime(self) -> str:
        return RUNTIME_OF_BACKEND[self.backend]


def _load_program(path: Path, backend: str):
    """The program as a callable. Torch-TensorRT: importing it registers its engine ops; then
    torch.export.load directly, since torch_tensorrt.load prints a traceback before its TorchScript retry."""
    import torch

    if backend == "torch-compile":
        return torch._inductor.aoti_load_package(str(path))
    import torch_tensorrt  # noqa: F401

    return torch.export.load(str(path)).module()


def open_compiled_program(path: Path, backend: str, precision: str, device: str) -> CompiledTorchPredictor:
    """A `.pt2`/`.ep` file of any name (the compile pass opens its staged file, which has no sidecar yet)."""
    from mc.runtimes.availability import missing
    from mc.logs import quiet_torch_loggers

    problem = missing(backend, precision, device)  # type: ignore[arg-type]
    if problem:
        raise BackendUnavailable(f"{path} cannot run here: {problem}")
    try:
        with quiet_torch_loggers():
            program = _load_program(Path(path), backend)
    except Exception as error:
        kind = "an AOTInductor package" if backend == "torch-compile" else "a Torch-TensorRT program"
        raise InputError(f"{path} does not load as {kind} ({root_cause(error)}); recompile it with `mc compile`") from None
    if backend == "torch-compile":
        return CompiledTorchPredictor(program, device, "torch-compile", "float16" if precision == "fp16" else "float32")
    return CompiledTorchPredictor(program, "cuda", "tensorrt")


def read_compiled(path: Path) -> CompiledProgram:
    """The sidecar's account of a compiled file, checked against the file."""
    from mc.artifact import read_record

    path = Path(path)
    if not path.exists():
        raise InputError(f"compiled artifact not found: {path}: check the path, or build it with `mc compile`")
    record = read_record(path)
    if record is None or record.pass_.name != "compile":
        raise InputError(f"{path} has no `mc compile` sidecar ({path}.json): mc needs it for the input shape and backend; recompile it")
    config: dict[str, Any] = record.pass_.config
    backend, precision, device = config["backend"], config["precision"], config.get("device", "cuda")
    expected = ".pt2" if backend == "torch-compile" else ".ep"
    if path.suffix != expected:
        raise InputError(f"{path}: a {backend} artifact ends in {expected}; the file and its sidecar disagree")
    return CompiledProgram(backend, precision, device, tuple(int(dim) for dim in record.model["input_shape"]))
