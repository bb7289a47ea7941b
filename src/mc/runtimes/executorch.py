"""ExecuTorch: a `.pte` program (XNNPACK delegate) run by ExecuTorch's own runtime through its Python
bindings (`executorch.runtime`), so what `mc compile --backend executorch` verified is what is benched.

The sidecar `mc compile` writes gives a `.pte` its input shape and its batch range: a program
exported with a dynamic batch axis takes a batch whole (split at its largest batch); one exported
at batch 1 (a model whose dynamic batch did not lower) runs sample by sample, and says so.

Threads: the bindings run XNNPACK on one process-wide thread pool; `set_threads` resizes it
(`_unsafe_reset_threadpool`, the bindings' own call for this) when a predictor opens. A program
binds the pool it was loaded with, and runs into freed memory (a crash) once the pool is resized
under it: while programs opened in this process are alive, a new one opens on their pool's size,
whatever it asks for (`ExecuTorchPredictor.threads` says what it got). Programs at different counts
take turns only from processes of their own (mc.runtimes.isolated).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mc.errors import BackendUnavailable, InputError, root_cause
from mc.extras import present

INSTALL = "pip install 'mc[executorch]'"
RUNTIME = "executorch"


def missing(quantize: bool = False) -> str | None:
    """None when ExecuTorch (and, to quantize, torchao's PT2E) is here; else one line with the install."""
    for module, why in (("executorch", "ExecuTorch"), *((("torchao", "int8 (torchao's PT2E quantization)"),) if quantize else ())):
        if not present(module):
            return f"--backend executorch needs {why}, which is not installed: {INSTALL}"
    return None


def set_threads(threads: int | None) -> None:
    """Size the bindings' XNNPACK thread pool (process-wide); a binding without the call keeps its default."""
    if not threads:
        return
    from mc.logs import silenced_stderr

    with silenced_stderr():  # importing the bindings loads torchao, which reports its missing CUDA kernels
        from executorch.extension.pybindings import portable_lib

        reset = getattr(portable_lib, "_unsafe_reset_threadpool", None)
        if reset is not None and getattr(portable_lib, "_threadpool_get_thread_count", lambda: None)() != threads:
            reset(int(threads))


class ExecuTorchPredictor:
    name = RUNTIME

    def __init__(self, path: Path, max_batch: int | None, threads: int | None = None):
        """`max_batch`: the largest batch the program takes (None: exported at batch 1, run per sample);
        `threads`: the pool size it was loaded with (None: the pool's default, never resized)."""
        from mc.logs import silenced_stderr

        try:
            with silenced_stderr():  # the C++ runtime logs its CPU probing on the descriptor itself
                from executorch.runtime import Runtime

                program = Runtime.get().load_program(Path(path))
                self.method = program.load_method("forward")
        except Exception as error:
            raise InputError(f"{path} does not load as an ExecuTorch program ({root_cause(error)}); recompile it with `mc compile`") from None
        self.max_batch = max_batch
        self.threads = threads

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        import torch

        outputs = self.method.execute([torch.from_numpy(batch)])
        return [output.detach().numpy().copy() if hasattr(output, "detach") else np.asarray(output) for output in outputs]

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        step = self.max_batch or 1
        if len(batch) <= step:
            return self._run(batch)
        chunks = [self._run(batch[start : start + step]) for start in range(0, len(batch), step)]
        return [np.concatenate([chunk[i] for chunk in chunks]) for i in range(len(chunks[0]))]


def largest_batch(predictor: ExecuTorchPredictor, sample_shape: tuple[int, ...], upper: int) -> int:
    """The largest batch (<= `upper`) the program accepts. ExecuTorch plans each tensor's memory ahead
    of time, and the bound it plans for a dynamic batch can be smaller than the export's (seen: 15
    for a bound of 256); found by bisection, with the runtime's C++ error lines kept off the console."""
    from mc.logs import silenced_stderr

    def fits(batch: int) -> bool:
        try:
            predictor._run(np.zeros((batch, *sample_shape), dtype=np.float32))
            return True
        except RuntimeError:
            return False

    with silenced_stderr():
        if fits(upper):
            return upper
        low, high = 1, upper  # fits(low), not fits(high)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(middle) else (low, middle)
    return low


@dataclass(frozen=True)
class ExecuTorchProgram:
    """What the sidecar says about a `.pte` file."""

    precision: str
    sample_shape: tuple[int, ...]
    max_batch: int | None  # None: batch 1 only
    delegation: dict[str, Any]
    costs: dict[str, Any] | None = None  # FLOPs and bytes by precision, counted when it was compiled


def read_program(path: Path) -> ExecuTorchProgram:
    from mc.artifact import read_record

    path = Path(path)
    if not path.is_file():
        raise InputError(f"ExecuTorch program not found: {path}: check the path, or build it with `mc compile --backend executorch`")
    record = read_record(path)
    if record is None or record.pass_.name != "compile":
        raise InputError(f"{path} has no `mc compile` sidecar ({path}.json): mc needs it for the input shape; recompile it")
    settings = record.metrics.get("settings", {})
    batch = settings.get("dynamic_batch")
    return ExecuTorchProgram(
        record.pass_.config.get("precision", "fp32"), tuple(int(dim) for dim in record.model["input_shape"]),
        int(batch[1]) if batch else None, settings.get("delegation", {}), settings.get("costs"),
    )


_OPEN: "weakref.WeakSet[ExecuTorchPredictor]" = weakref.WeakSet()  # programs alive in this process


def open_program(path: Path, threads: int | None, max_batch: int | None) -> ExecuTorchPredictor:
    """A `.pte` file of any name (the compile pass opens its staged file, which has no sidecar yet), on
    `threads` unless programs alive in this process hold the pool at another size (see the module
    docstring): then on theirs."""
    problem = missing()
    if problem:
        raise BackendUnavailable(f"{path} cannot run here: {problem}")
    held = {predictor.threads for predictor in _OPEN if predictor.threads}
    if threads and held and threads not in held:
        threads = min(held)
    set_threads(threads)
    predictor = ExecuTorchPredictor(path, max_batch, threads)
    _OPEN.add(predictor)
    return predictor
