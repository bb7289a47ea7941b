"""Fit a freshly built model to a pruned checkpoint's tensor shapes, with no pruning library and no
edits to the model's classes: each layer is resized in place to the shapes its state dict holds."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mc.errors import InputError


def _resize_tensor(module: nn.Module, name: str, shape: tuple[int, ...]) -> None:
    current = getattr(module, name)
    fresh = torch.empty(shape, dtype=current.dtype)
    if isinstance(current, nn.Parameter):
        setattr(module, name, nn.Parameter(fresh, requires_grad=current.requires_grad))
    else:
        module.register_buffer(name, fresh)


def _update_attributes(module: nn.Module) -> None:
    """Keep each layer's size attributes consistent with its (new) weight."""
    if isinstance(module, nn.Linear):
        module.out_features, module.in_features = module.weight.shape
    elif isinstance(module, nn.Conv1d):
        was_depthwise = module.groups > 1 and module.groups == module.in_channels
        module.out_channels = module.weight.shape[0]
        if was_depthwise:
            module.groups = module.in_channels = module.out_channels
        else:
            module.in_channels = module.weight.shape[1] * module.groups
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.num_features = module.running_mean.shape[0] if module.running_mean is not None else module.weight.shape[0]
    elif isinstance(module, nn.LayerNorm):
        module.normalized_shape = tuple(module.weight.shape)


def fit_to_state_dict(model: nn.Module, state: dict[str, Any]) -> None:
    """Resize every parameter and buffer whose checkpoint shape differs, then fix layer attributes."""
    changed: set[str] = set()
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        module_name, _, tensor_name = key.rpartition(".")
        try:
            module = model.get_submodule(module_name) if module_name else model
        except AttributeError:
            raise InputError(f"checkpoint tensor {key!r} has no place in the architecture; the checkpoint is not for this model") from None
        current = getattr(module, tensor_name, None)
        if isinstance(current, torch.Tensor) and tuple(current.shape) != tuple(value.shape):
            if isinstance(module, (nn.RNNBase,)):
                raise InputError(f"layer {module_name!r} ({type(module).__name__}) cannot be resized; recurrent layers are not pruned")
            _resize_tensor(module, tensor_name, tuple(value.shape))
            changed.add(module_name)
    for module_name in changed:
        _update_attributes(model.get_submodule(module_name) if module_name else model)
