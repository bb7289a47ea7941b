"""A recurrent consciousness model: a GRU reads the sequence step by step (the classic case for
dynamic int8 quantization, whose weights dominate and whose activations vary per step)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mc.models._blocks import ConfidenceHead
from mc.models._registry import SequenceTask, register_model


@dataclass(frozen=True)
class GruConfig(SequenceTask):
    hidden: int = 96
    layers: int = 1


class GruConsciousness(nn.Module):
    def __init__(self, config: GruConfig):
        super().__init__()
        self.encoder = nn.GRU(config.in_channels, config.hidden, num_layers=config.layers, batch_first=True)
        self.norm = nn.LayerNorm(config.hidden)
        self.task_head = nn.Linear(config.hidden, config.num_classes)
        self.confidence_head = ConfidenceHead()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, last_hidden = self.encoder(x.transpose(1, 2))  # (layers, batch, hidden)
        state = self.norm(last_hidden[-1])
        logits = self.task_head(state)
        return logits, self.confidence_head(logits)


def _build(config: GruConfig) -> nn.Module:
    return GruConsciousness(config)


@register_model("gru-small", "GRU over the raw sequence, hidden 96 (dynamic-quantization case)", _build)
def gru_small() -> GruConfig:
    return GruConfig()
