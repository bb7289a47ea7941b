"""MobileConsciousness: the seed's MobileNet-style consciousness model, built for MNIST-1D.

perception (depthwise-separable Conv1d) -> attention over percept tokens -> global workspace of
learned slots -> compact attention-read memory -> task head + metacognitive confidence head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mc.models._blocks import (
    CompactMemory,
    ConfidenceHead,
    DepthwiseSeparableConv1d,
    GlobalWorkspace,
    MobileAttention,
)
from mc.models._registry import SequenceTask, register_model


@dataclass(frozen=True)
class MobileConfig(SequenceTask):
    width: int = 64
    kernel_size: int = 5
    conv_blocks: int = 4  # the 2nd and 4th halve the sequence: 40 -> 20 -> 10 tokens
    attention_heads: int = 4
    workspace_slots: int = 4
    memory_entries: int = 16

    def __post_init__(self) -> None:
        if self.width % self.attention_heads:
            raise ValueError(f"width {self.width} must be a multiple of attention_heads {self.attention_heads}")
        if self.conv_blocks < 1:
            raise ValueError("conv_blocks must be at least 1")

    @property
    def token_count(self) -> int:
        length = self.seq_len
        for index in range(self.conv_blocks):
            if index % 2 == 1:
                length = (length - 1) // 2 + 1
        return length


class MobileConsciousness(nn.Module):
    def __init__(self, config: MobileConfig):
        super().__init__()
        width = config.width
        self.stem = nn.Sequential(
            nn.Conv1d(config.in_channels, width, config.kernel_size, padding=config.kernel_size // 2, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(),
        )
        self.perception = nn.Sequential(
            *[
                DepthwiseSeparableConv1d(width, width, config.kernel_size, stride=2 if index % 2 == 1 else 1)
                for index in range(config.conv_blocks)
            ]
        )
        self.position = nn.Parameter(torch.zeros(1, config.token_count, width))
        self.attention = MobileAttention(width, config.attention_heads)
        self.global_workspace = GlobalWorkspace(width, config.workspace_slots, config.attention_heads)
        self.memory = CompactMemory(width, config.memory_entries)
        self.task_head = nn.Linear(width, config.num_classes)
        self.confidence_head = ConfidenceHead()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.perception(self.stem(x))  # (batch, width, tokens)
        tokens = features.transpose(1, 2) + self.position
        attended = self.attention(tokens)
        workspace = self.global_workspace(attended)  # (batch, slots, width)
        state = self.memory(workspace.mean(dim=1))  # (batch, width)
        logits = self.task_head(state)
        return logits, self.confidence_head(logits)


def _build(config: MobileConfig) -> nn.Module:
    return MobileConsciousness(config)


@register_model("mobile-tiny", "MobileConsciousness, width 32 (edge micro model)", _build)
def mobile_tiny() -> MobileConfig:
    return MobileConfig(width=32, attention_heads=2, workspace_slots=4, memory_entries=8)


@register_model("mobile-small", "MobileConsciousness, width 64", _build)
def mobile_small() -> MobileConfig:
    return MobileConfig(width=64)


@register_model("mobile-base", "MobileConsciousness, width 256", _build)
def mobile_base() -> MobileConfig:
    return MobileConfig(width=256, attention_heads=8, workspace_slots=8, memory_entries=32)
