"""GPU facts a bench records: the device, and how much of its memory a variant took.

Torch-based runtimes report torch's own peak (max_memory_allocated: exact, this process only); ONNX
Runtime allocates outside torch, so its figure comes from NVML, for this process where the driver
lists it, else the whole device's used memory (and says which).
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _torch_cuda_in_use() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.version.cuda is not None and torch.cuda.is_available() and torch.cuda.is_initialized())


def _nvml_memory_mb() -> dict[str, Any] | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            info = pynvml.nvmlDeviceGetMemoryInfo(handle)
            result: dict[str, Any] = {"device_used_mb": info.used / 2**20, "device_total_mb": info.total / 2**20}
            try:
                for process in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    if process.pid == os.getpid() and process.usedGpuMemory is not None:
                        result["process_used_mb"] = process.usedGpuMemory / 2**20
            except pynvml.NVMLError:
                pass
            return result
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return None


def gpu_memory_report() -> dict[str, Any] | None:
    """None on a host without a CUDA device in use; else what is known of this process's GPU memory."""
    report: dict[str, Any] = {}
    if _torch_cuda_in_use():
        import torch

        report.update(
            device=torch.cuda.get_device_name(0),
            torch_peak_allocated_mb=torch.cuda.max_memory_allocated() / 2**20,
            torch_peak_reserved_mb=torch.cuda.max_memory_reserved() / 2**20,
        )
    nvml = _nvml_memory_mb()
    if nvml:
        report.update(nvml)
        report["scope"] = "process (NVML)" if "process_used_mb" in nvml else "device (NVML: this process is not listed by the driver)"
    elif not report:
        report.update(_torch_device_memory_mb())
    return report or None


def _torch_device_memory_mb() -> dict[str, Any]:
    """Without NVML: the whole device's used memory through torch (ONNX Runtime's own allocations included)."""
    try:
        import torch

        if torch.version.cuda is None or not torch.cuda.is_available():
            return {}
        free, total = torch.cuda.mem_get_info()
        return {"device": torch.cuda.get_device_name(0), "device_used_mb": (total - free) / 2**20,
                "device_total_mb": total / 2**20, "scope": "device (torch.cuda.mem_get_info)"}
    except Exception:
        return {}
