"""Opening what `mc compile` wrote as a Predictor: the one place `mc eval`, `mc bench` and the compile
pass's own parity check load compiled artifacts, so what was verified is what gets benched.

- `.pt2`: an AOTInductor package (`torch-compile`);
- `.ep`: a Torch-TensorRT exported program (`tensorrt`);
- `.onnx` with `mc.compile.*` metadata: ONNX Runtime on the CUDA or TensorRT provider.
The sidecar gives a `.pt2`/`.ep` its input shape and precision; a host that lacks the backend gets
BackendUnavailable (one line, with how to install it), not a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mc.artifact import read_record
from mc.errors import BackendUnavailable, InputError
from mc.runtimes._predictor import Predictor

COMPILED_SUFFIXES = (".pt2", ".ep")
RUNTIME_OF_BACKEND = {"torch-compile": "torch-compile", "tensorrt": "tensorrt"}


@dataclass
class CompiledArtifact:
    predictor: Predictor
    sample_shape: tuple[int, ...]
    description: str
    runtime: str
    device: str
    size_bytes: int


def is_compiled_path(spec: str) -> bool:
    return spec.endswith(COMPILED_SUFFIXES)


def torch_program_predictor(path: Path, backend: str, precision: str, device: str) -> Predictor:
    """Load a `.pt2`/`.ep` file (any name: the compile pass loads its staged file) as a Predictor."""
    from mc.compilation.availability import missing
    from mc.runtimes.compiled_torch import CompiledTorchPredictor

    problem = missing(backend, precision, device)  # type: ignore[arg-type]
    if problem:
        raise BackendUnavailable(f"{path} cannot run here: {problem}")
    from mc.passes.export import _quiet_torch_loggers, _root_cause

    try:
        with _quiet_torch_loggers():
            if backend == "torch-compile":
                from mc.compilation.aoti import load_package

                program = load_package(path)
            else:
                from mc.compilation.tensorrt import load_program

                program = load_program(path)
    except Exception as error:
        kind = "an AOTInductor package" if backend == "torch-compile" else "a Torch-TensorRT program"
        raise InputError(f"{path} does not load as {kind} ({_root_cause(error)}); recompile it with `mc compile`") from None
    if backend == "torch-compile":
        return CompiledTorchPredictor(program, device, "torch-compile", "float16" if precision == "fp16" else "float32")
    return CompiledTorchPredictor(program, "cuda", "tensorrt")


def open_compiled(path: Path, threads: int | None = None) -> CompiledArtifact:
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
    if device == "cpu" and threads:
        import torch

        torch.set_num_threads(threads)
    predictor = torch_program_predictor(path, backend, precision, device)
    shape = tuple(int(dim) for dim in record.model["input_shape"])
    description = f"{path} ({backend} {precision}, {device})"
    return CompiledArtifact(predictor, shape, description, RUNTIME_OF_BACKEND[backend], device, path.stat().st_size)


def onnx_predictor(path: Path, input_name: str, sample_shape: tuple[int, ...], threads: int | None = None) -> Predictor:
    """ONNX Runtime for any ONNX file: the CPU provider, or the GPU providers a compiled file is bound to."""
    from mc.compilation import ort
    from mc.runtimes.onnxruntime import OnnxRuntimePredictor

    binding = ort.read_binding(path)
    if binding is None:
        return OnnxRuntimePredictor(path, threads=threads)
    from mc.compilation.availability import missing
    from mc.hashing import sha256_file

    backend, precision = binding[ort.KEY_BACKEND], binding.get(ort.KEY_PRECISION, "fp32")
    problem = missing(backend, precision)  # type: ignore[arg-type]
    if problem:
        raise BackendUnavailable(f"{path} is compiled for {backend}: {problem}")
    providers = ort.providers(binding, sha256_file(path), input_name, sample_shape)
    return OnnxRuntimePredictor(path, threads=threads, providers=providers)


def onnx_runtime_name(path: Path) -> str:
    from mc.compilation import ort

    binding = ort.read_binding(path)
    return "onnxruntime" if binding is None else "onnxruntime-" + binding[ort.KEY_BACKEND].removeprefix("ort-")
