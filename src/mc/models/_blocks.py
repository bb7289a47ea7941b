"""Layers shared by the model family. Shapes are read from tensors at run time, so a layer whose
channels a structured pruner has removed keeps working without edits to this code."""

from __future__ import annotations

import math

import torch
from torch import nn


class DepthwiseSeparableConv1d(nn.Module):
    """Depthwise conv (one filter per channel) then a pointwise 1x1 conv: the MobileNet block."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv1d(
            in_channels, in_channels, kernel_size, stride=stride, padding=kernel_size // 2,
            groups=in_channels, bias=False,
        )
        self.depthwise_norm = nn.BatchNorm1d(in_channels)
        self.pointwise = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.pointwise_norm = nn.BatchNorm1d(out_channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.depthwise_norm(self.depthwise(x)))
        return self.act(self.pointwise_norm(self.pointwise(x)))


def multi_head_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int
) -> torch.Tensor:
    """Scaled dot-product attention over (batch, tokens, dim) tensors split into heads.

    Written with matmul and softmax rather than a fused kernel so that ONNX export, quantizers and
    pruners see ordinary MatMul nodes.
    """
    batch, q_len, dim = q.shape
    k_len = k.shape[1]
    head_dim = dim // num_heads
    q = q.reshape(batch, q_len, num_heads, head_dim).transpose(1, 2)
    k = k.reshape(batch, k_len, num_heads, head_dim).transpose(1, 2)
    v = v.reshape(batch, k_len, num_heads, v.shape[-1] // num_heads).transpose(1, 2)
    weights = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(head_dim), dim=-1)
    out = torch.matmul(weights, v)
    return out.transpose(1, 2).reshape(batch, q_len, out.shape[1] * out.shape[-1])


class AttentionLayer(nn.Module):
    """Multi-head attention of queries over a context, then a feed-forward layer (post-norm)."""

    def __init__(self, dim: int, num_heads: int, expansion: int = 2):
        super().__init__()
        self.num_heads = num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim * expansion), nn.ReLU(), nn.Linear(dim * expansion, dim))
        self.ffn_norm = nn.LayerNorm(dim)

    def attend(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        read = multi_head_attention(self.query(queries), self.key(context), self.value(context), self.num_heads)
        state = self.norm(queries + self.out(read))
        return self.ffn_norm(state + self.ffn(state))


class MobileAttention(AttentionLayer):
    """Self-attention over the percept tokens (an encoder layer)."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.attend(tokens, tokens)


class GlobalWorkspace(AttentionLayer):
    """A few learned slots compete for the percepts by cross-attention (the workspace's 'ignition'),
    then each slot is refined by the feed-forward layer. The slot states are the conscious contents."""

    def __init__(self, dim: int, num_slots: int, num_heads: int, expansion: int = 2):
        slots = torch.randn(num_slots, dim) * 0.02  # drawn first: the seeded init order of the shipped checkpoints
        super().__init__(dim, num_heads, expansion)
        self.slots = nn.Parameter(slots)

    def forward(self, percepts: torch.Tensor) -> torch.Tensor:
        return self.attend(self.slots.unsqueeze(0).expand(percepts.shape[0], -1, -1), percepts)


class CompactMemory(nn.Module):
    """A small learned key/value memory read by attention with the pooled workspace state as query:
    the compact long-term store the seed's CompactMemorySystem stands for.

    Keys and values are the weights of two bias-free linear maps (scores = keys(q), read =
    values(softmax(scores))): the same arithmetic as matmuls against raw parameters, but in a form
    that dependency-graph pruners and quantizers recognise as weights.
    """

    def __init__(self, dim: int, num_entries: int):
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.keys = nn.Linear(dim, num_entries, bias=False)
        self.values = nn.Linear(num_entries, dim, bias=False)
        for weight in (self.keys.weight, self.values.weight):
            nn.init.normal_(weight, std=0.02)
        self.norm = nn.LayerNorm(dim)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        query = self.query(state)
        scores = self.keys(query) / math.sqrt(query.shape[-1])
        return self.norm(state + self.values(torch.softmax(scores, dim=-1)))


class ConfidenceHead(nn.Module):
    """The metacognitive head: predicts the probability that the task head's answer is right, as a
    learned scale and offset of the answer's own log-probability (`from_top`, in log-odds).

    It does not read the internal state. Measured on 20,000 fresh MNIST-1D samples (seeds 0-2), heads
    that learned correctness from the state and the class distribution (an MLP over both, with or
    without this anchor, taught on clean and on augmented training copies) ranked errors worse than
    the answer's own probability on every family member: AUROC 0.83-0.96 against 0.95-0.97, worst
    on mobile-tiny and after pruning. Such a head learns cues of the errors it is taught on (the few the
    training set keeps, or the augmentation's) that natural errors do not share. Anchored this way the
    head ranks as the answer's probability does, and training calibrates what the number means.

    It reads the logits through a gradient stop while training, so learning to predict correctness
    never bends what the task head learns.
    """

    def __init__(self):
        super().__init__()
        self.from_top = nn.Linear(1, 1)
        with torch.no_grad():  # log-odds = 4 log p(top) + 4: p(top) 1 -> 0.98, 0.5 -> 0.79, 0.2 -> 0.10
            self.from_top.weight.fill_(4.0)
            self.from_top.bias.fill_(4.0)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if self.training:  # the gradient stop only matters when learning
            logits = logits.detach()
        top = torch.log_softmax(logits, dim=-1).amax(dim=-1, keepdim=True)  # log-probability of the answer
        return torch.sigmoid(self.from_top(top)).squeeze(-1)
