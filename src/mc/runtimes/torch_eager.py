"""PyTorch eager mode: the fp32 reference every other runtime is checked against."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TorchPredictor:
    name = "torch"

    def __init__(self, module: nn.Module):
        self.module = module.eval()

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            outputs = self.module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        return [output.detach().cpu().numpy() for output in outputs]
