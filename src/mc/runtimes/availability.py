"""What this host can compile for, and, where a backend is missing, one line naming what and how to install it.

Checked without building anything: CUDA devices (through torch's CUDA build, else the driver's
libcuda directly, so a CPU-only torch on a GPU machine is told apart from no GPU at all),
Torch-TensorRT and its torch pairing, ModelOpt, ONNX Runtime's execution providers, TensorRT's
libraries and a C++ compiler (AOTInductor builds C++).

Torch-TensorRT pins one torch minor version: torch-tensorrt 2.13.x requires torch>=2.13,<2.14 (and
TensorRT 11.0). A pairing off by one minor version fails at import or, worse, at run time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
from dataclasses import dataclass
from typing import Literal

from mc.versions import distribution_version

Backend = Literal["tensorrt", "torch-compile", "ort-cuda", "ort-tensorrt"]
Precision = Literal["fp32", "fp16", "int8"]
Device = Literal["cuda", "cpu"]

BACKENDS: tuple[Backend, ...] = ("tensorrt", "torch-compile", "ort-cuda", "ort-tensorrt")
ORT_PROVIDER = {"ort-cuda": "CUDAExecutionProvider", "ort-tensorrt": "TensorrtExecutionProvider"}


def minor_version(version: str | None) -> str | None:
    """'2.13.0+cpu' -> '2.13'."""
    if not version:
        return None
    match = re.match(r"(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def tensorrt_install_hint(torch_version: str | None) -> str:
    """The install line for the Torch-TensorRT release paired with this torch."""
    minor = minor_version(torch_version)
    if minor is None:
        return "pip install 'mc[tensorrt]'"
    return f"pip install 'mc[tensorrt]' (torch-tensorrt {minor}.x, the release that pins torch {minor}.*, with torch's CUDA build)"


def pairing_problem(torch_version: str | None, torch_tensorrt_version: str | None) -> str | None:
    """None when torch-tensorrt matches torch's minor version; else what is wrong, with the fix."""
    if torch_tensorrt_version is None:
        return None
    torch_minor, trt_minor = minor_version(torch_version), minor_version(torch_tensorrt_version)
    if torch_minor is None or trt_minor is None or torch_minor == trt_minor:
        return None
    return (
        f"torch-tensorrt {torch_tensorrt_version} is built for torch {trt_minor}, this host has torch {torch_version}: "
        f"pip install 'torch-tensorrt>={torch_minor},<{_next_minor(torch_minor)}' (or {tensorrt_install_hint(torch_version).removeprefix('pip install ')})"
    )


def _next_minor(minor: str) -> str:
    major, rest = minor.split(".")
    return f"{major}.{int(rest) + 1}"


@dataclass(frozen=True)
class CudaStatus:
    devices: int
    name: str | None
    torch_cuda_build: str | None  # torch.version.cuda; None for a CPU build
    torch_version: str | None
    source: str  # "torch" | "libcuda" | "none"

    @property
    def torch_can_use(self) -> bool:
        return self.torch_cuda_build is not None and self.devices > 0 and self.source == "torch"


def _driver_devices() -> int:
    """Devices the NVIDIA driver sees (libcuda's cuDeviceGetCount), whatever torch was built for."""
    name = ctypes.util.find_library("cuda") or "libcuda.so.1"
    try:
        libcuda = ctypes.CDLL(name)
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if libcuda.cuInit(0) != 0 or libcuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def cuda_status() -> CudaStatus:
    torch_version = distribution_version("torch")
    try:
        import torch
    except Exception:
        return CudaStatus(_driver_devices(), None, None, torch_version, "libcuda")
    build = torch.version.cuda
    if build is not None and torch.cuda.is_available():
        return CudaStatus(torch.cuda.device_count(), torch.cuda.get_device_name(0), build, torch.__version__, "torch")
    devices = _driver_devices()
    return CudaStatus(devices, None, build, torch.__version__, "libcuda" if devices else "none")


def _no_cuda_for_torch(what: str, cuda: CudaStatus) -> str | None:
    if cuda.torch_can_use:
        return None
    if cuda.devices == 0:
        build = f"torch {cuda.torch_version}, CUDA build {cuda.torch_cuda_build}" if cuda.torch_cuda_build else f"torch {cuda.torch_version}, a CPU build"
        return f"{what} needs an NVIDIA GPU with CUDA, and this host has none ({build})"
    return (
        f"{what} needs torch's CUDA build: this host has {cuda.devices} NVIDIA GPU(s) but torch {cuda.torch_version} "
        "is a CPU build; install a CUDA build of the same torch version"
    )


def _importable(module: str) -> str | None:
    """None when `module` imports; else the first line of why not."""
    import importlib

    try:
        importlib.import_module(module)
    except Exception as error:
        text = str(error).strip().splitlines()
        return f"{type(error).__name__}: {text[0][:160] if text else ''}"
    return None


def torch_tensorrt_status() -> dict[str, str | bool | None]:
    """Installed torch-tensorrt, whether it pairs with torch, and whether it imports (for `mc doctor`)."""
    torch_version = distribution_version("torch")
    version = distribution_version("torch-tensorrt") or distribution_version("torch_tensorrt")
    return {
        "torch": torch_version,
        "torch_tensorrt": version,
        "paired": None if version is None else pairing_problem(torch_version, version) is None,
        "problem": pairing_problem(torch_version, version),
        "install": tensorrt_install_hint(torch_version),
    }


def ort_providers() -> list[str]:
    try:
        import onnxruntime

        return list(onnxruntime.get_available_providers())
    except Exception:
        return []


def _tensorrt_libraries_present() -> bool:
    """TensorRT's runtime library, from the tensorrt wheels or a system install."""
    if distribution_version("tensorrt-cu13-libs") or distribution_version("tensorrt-cu12-libs") or distribution_version("tensorrt_libs"):
        return True
    return ctypes.util.find_library("nvinfer") is not None


def cxx_compiler() -> str | None:
    for candidate in (os.environ.get("CXX"), "g++", "clang++", "c++"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def missing(backend: Backend, precision: Precision = "fp32", device: Device = "cuda") -> str | None:
    """None when this host can compile and run `backend`; else one line: what is missing and how to get it."""
    what = f"--backend {backend}"
    if backend == "torch-compile":
        if device == "cpu":
            if cxx_compiler() is None:
                return f"{what} --device cpu needs a C++ compiler for AOTInductor and none is on PATH: apt-get install g++ (or set CXX)"
            return None
        problem = _no_cuda_for_torch(f"{what} --device cuda", cuda_status())
        if problem:
            return f"{problem}; --device cpu builds the same AOTInductor package for this CPU"
        if cxx_compiler() is None:
            return f"{what} needs a C++ compiler for AOTInductor and none is on PATH: apt-get install g++ (or set CXX)"
        return None
    if backend == "tensorrt":
        torch_version = distribution_version("torch")
        hint = tensorrt_install_hint(torch_version)
        problem = _no_cuda_for_torch(what, cuda_status())
        if problem:
            return f"{problem}; on a GPU host: {hint}"
        trt_version = distribution_version("torch-tensorrt") or distribution_version("torch_tensorrt")
        if trt_version is None:
            return f"{what} needs torch-tensorrt, which is not installed: {hint}"
        mismatch = pairing_problem(torch_version, trt_version)
        if mismatch:
            return f"{what}: {mismatch}"
        broken = _importable("torch_tensorrt")
        if broken:
            return f"{what}: torch-tensorrt {trt_version} is installed but does not import ({broken}); reinstall: {hint}"
        if precision == "int8" and distribution_version("nvidia-modelopt") is None:
            return f"{what} --precision int8 calibrates with NVIDIA ModelOpt, which is not installed: pip install 'mc[tensorrt-int8]'"
        return None
    provider = ORT_PROVIDER[backend]
    providers = ort_providers()
    if provider not in providers:
        ort = distribution_version("onnxruntime-gpu") or distribution_version("onnxruntime")
        return (
            f"{what} needs ONNX Runtime's {provider}; this host's onnxruntime {ort} has {', '.join(providers) or 'no providers'}: "
            "pip uninstall onnxruntime && pip install 'mc[gpu]' (onnxruntime-gpu)"
            + (" and TensorRT (pip install tensorrt)" if backend == "ort-tensorrt" else "")
        )
    if cuda_status().devices == 0:
        return f"{what} needs an NVIDIA GPU with CUDA, and this host has none (no device seen by the driver)"
    if backend == "ort-tensorrt" and not _tensorrt_libraries_present():
        return f"{what} needs TensorRT's libraries (libnvinfer), which are not installed: pip install tensorrt"
    return None


def runtime_missing(runtime: str) -> str | None:
    """None when this host has `runtime` (the names a target profile's `runtimes:` lists); else what is missing."""
    from mc.extras import present

    if runtime == "executorch":
        from mc.runtimes.executorch import missing as executorch_missing

        return executorch_missing()
    if runtime == "openvino":
        from mc.runtimes.openvino import missing as openvino_missing

        return openvino_missing()
    if runtime in ("tensorrt", "onnxruntime-cuda", "onnxruntime-tensorrt"):
        return missing({"tensorrt": "tensorrt", "onnxruntime-cuda": "ort-cuda", "onnxruntime-tensorrt": "ort-tensorrt"}[runtime])  # type: ignore[arg-type]
    library = {"onnxruntime": "onnxruntime", "torch": "torch"}.get(runtime, runtime)
    return None if present(library) else f"{runtime} is not installed"


def runtime_status(target) -> list[dict[str, object]]:  # noqa: ANN001 (a TargetProfile; mc.targets sits above no runtime)
    """Each runtime the target lists, in its order: whether a figure for it can be measured on this host,
    and, where the host's instruction set is not the target's, that it would be measured with other kernels."""
    import platform

    rows: list[dict[str, object]] = []
    for runtime in target.runtimes:
        problem = runtime_missing(runtime)
        arch_note = None if target.arch_matches_host() else (
            f"this host is {platform.machine()}: {runtime} runs its {platform.machine()} kernels here, not the {target.arch} kernels {target.name} runs"
        )
        rows.append({"runtime": runtime, "installed": problem is None, "missing": problem,
                     "measurable": problem is None, "same_isa": arch_note is None, "note": arch_note})
    return rows
