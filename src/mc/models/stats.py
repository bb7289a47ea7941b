"""Size and cost of a torch model: parameters and multiply-accumulates per sample."""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def flop_counts(module: nn.Module, sample_shape: tuple[int, ...]) -> tuple[int, dict[str, int]]:
    """FLOPs for one sample, counted by torch's FLOP counter over the ops actually run (convolutions,
    linears, attention matmuls, recurrent cells, so no layer type is missed): the total and each
    module's (by qualified name, "" for the model itself; a module's count includes its children's)."""
    from torch.utils.flop_counter import FlopCounterMode

    root = type(module).__name__
    was_training = module.training
    module.eval()
    # Not under no_grad: the counter's module tracker needs autograd to follow parameters.
    with FlopCounterMode(display=False) as counter:
        module(torch.zeros((1, *sample_shape)))
    module.train(was_training)
    by_module = {("" if scope == root else scope[len(root) + 1:]): int(sum(by_op.values()))
                 for scope, by_op in counter.get_flop_counts().items() if scope == root or scope.startswith(root + ".")}
    return int(counter.get_total_flops()), by_module


def count_macs(module: nn.Module, sample_shape: tuple[int, ...]) -> int:
    """MACs for one sample (`flop_counts`' total over 2)."""
    return flop_counts(module, sample_shape)[0] // 2
