"""The seed's CPU-only consciousness model: a plain MLP (Linear/ReLU stack) with both heads."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mc.models._blocks import ConfidenceHead
from mc.models._registry import SequenceTask, register_model


@dataclass(frozen=True)
class CpuMlpConfig(SequenceTask):
    hidden: tuple[int, ...] = (256, 128, 64)


class CpuMlp(nn.Module):
    def __init__(self, config: CpuMlpConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        previous = config.in_channels * config.seq_len
        for width in config.hidden:
            layers += [nn.Linear(previous, width), nn.ReLU()]
            previous = width
        self.body = nn.Sequential(*layers)
        self.task_head = nn.Linear(previous, config.num_classes)
        self.confidence_head = ConfidenceHead()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.body(x)
        logits = self.task_head(state)
        return logits, self.confidence_head(logits)


def _build(config: CpuMlpConfig) -> nn.Module:
    return CpuMlp(config)


@register_model("cpu-mlp", "the seed's CPU-only MLP (256-128-64)", _build)
def cpu_mlp() -> CpuMlpConfig:
    return CpuMlpConfig()
