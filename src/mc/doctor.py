"""What this machine has for mc: Python, CPU ISA facts, and each backend present or missing."""

from __future__ import annotations

import importlib
import os
import platform
from typing import Any

from mc.versions import distribution_version

# (what, import name, distribution name, why mc wants it, how to get it)
BACKENDS = (
    ("torch", "torch", "torch", "models, training, export", "pip install 'torch>=2.4,<2.14'"),
    ("onnx", "onnx", "onnx", "ONNX files and checks", "pip install onnx"),
    ("onnxscript", "onnxscript", "onnxscript", "torch.onnx dynamo exporter", "pip install onnxscript"),
    ("onnxruntime", "onnxruntime", "onnxruntime", "ONNX inference and quantization", "pip install onnxruntime"),
    ("mnist1d", "mnist1d", "mnist1d", "built-in data", "pip install mnist1d"),
    ("tensorrt", "tensorrt", "tensorrt", "TensorRT engines (GPU)", "pip install tensorrt (needs an NVIDIA GPU)"),
    ("torch-tensorrt", "torch_tensorrt", "torch-tensorrt", "mc compile --backend tensorrt", "pip install 'mc[tensorrt]' (the release paired with your torch minor version)"),
    ("modelopt", "modelopt", "nvidia-modelopt", "mc compile --backend tensorrt --precision int8", "pip install 'mc[tensorrt-int8]'"),
    ("transformers", "transformers", "transformers", "Hugging Face models", "pip install 'mc[hf]'"),
    ("optimum", "optimum.exporters.onnx", "optimum", "Hugging Face export through Optimum (with optimum-onnx)", "pip install 'mc[hf]'"),
)

_X86_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
_ARM_FLAGS = ("asimd", "asimddp", "i8mm", "asimdhp", "sve")


def cpu_facts() -> dict[str, Any]:
    flags: set[str] = set()
    model_name = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("flags", "features"):
                    flags.update(value.split())
                elif key in ("model name",) and not model_name:
                    model_name = value.strip()
    except OSError:
        pass
    wanted = _ARM_FLAGS if platform.machine().lower() in ("aarch64", "arm64") else _X86_FLAGS
    return {
        "machine": platform.machine(),
        "model": model_name,
        "cores": os.cpu_count() or 1,
        "isa": {flag: flag in flags for flag in wanted},
    }


def _probe(import_name: str, distribution: str) -> tuple[bool, str | None, str | None]:
    """(importable, version, problem). Import errors are reported, never raised."""
    version = distribution_version(distribution)
    try:
        module = importlib.import_module(import_name)
    except Exception as error:  # an installed but broken library must show as such
        if version is None:
            return False, None, None
        return False, version, f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"
    return True, version or getattr(module, "__version__", None), None


def environment_report() -> dict[str, Any]:
    backends = []
    for what, import_name, distribution, purpose, install in BACKENDS:
        present, version, problem = _probe(import_name, distribution)
        backends.append({"name": what, "present": present, "version": version, "problem": problem, "purpose": purpose, "install": install})
    report: dict[str, Any] = {"python": platform.python_version(), "cpu": cpu_facts(), "backends": backends}

    cuda: dict[str, Any] = {"available": False}
    try:
        import torch

        cuda["torch_cuda_build"] = torch.version.cuda
        if torch.cuda.is_available():
            cuda.update(available=True, device=torch.cuda.get_device_name(0), count=torch.cuda.device_count())
    except Exception as error:
        cuda["problem"] = str(error)[:120]
    report["cuda"] = cuda
    report.update(gpu_compile_report())
    try:
        import onnxruntime

        report["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except Exception:
        report["onnxruntime_providers"] = []
    return report


def compile_targets() -> list[tuple[Any, str]]:
    """(backend, device) pairs `mc compile` offers, in the registry's order."""
    from mc.compilation import compile_backends

    return [(backend, device) for backend in compile_backends() for device in backend.devices]


def gpu_compile_report() -> dict[str, Any]:
    """The GPU side: devices the driver sees, the torch / torch-tensorrt pairing, and each compile
    backend available or, with the one line `mc compile` would print, missing."""
    from mc.runtimes.availability import cuda_status, torch_tensorrt_status

    status = cuda_status()
    backends = []
    for backend, device in compile_targets():
        problem = backend.check_available("fp32", device)
        backends.append({"backend": backend.name, "device": device, "runtime": backend.runtime, "available": problem is None,
                         "missing": problem})
    return {
        "gpu": {"driver_devices": status.devices, "device": status.name, "torch_cuda_build": status.torch_cuda_build},
        "torch_tensorrt": torch_tensorrt_status(),
        "compile_backends": backends,
    }
