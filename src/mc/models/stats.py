"""Size and cost of a torch model: parameters and multiply-accumulates per sample."""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def count_macs(module: nn.Module, sample_shape: tuple[int, ...]) -> int:
    """MACs for one sample, counted by torch's FLOP counter over the ops actually run
    (convolutions, linears, attention matmuls, recurrent cells), so no layer type is missed."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = module.training
    module.eval()
    # Not under no_grad: the counter's module tracker needs autograd to follow parameters.
    with FlopCounterMode(display=False) as counter:
        module(torch.zeros((1, *sample_shape)))
    module.train(was_training)
    return counter.get_total_flops() // 2
