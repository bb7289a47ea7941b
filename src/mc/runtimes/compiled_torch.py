"""Compiled torch programs (an AOTInductor package, a Torch-TensorRT exported program) as Predictors.

On CUDA a call is timed twice: end to end by the caller (host to device copy, kernels, copy back:
what a frame pays) and on the device with CUDA events around the compiled call alone
(`last_device_ms`). Reading the outputs back to NumPy synchronizes, so the end-to-end time is true.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


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
