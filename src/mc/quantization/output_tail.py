"""The output tail of a graph: the ops between a model's last layers and its outputs (activations,
reductions, weights of a few elements). Every quantizer mc drives leaves them in float: they cost next
to nothing, and quantized they ruin what they compute. A calibrated confidence lies mostly in
[0.95, 1], which int8 at the output's scale holds in a handful of levels: mobile-small's confidence
AUROC fell from 0.944 to 0.808 under ORT static int8 (its logits still ranked answers at 0.933), and
mobile-tiny's by 0.136 under NNCF's defaults.

One walk, for any graph: from each output back through producers, stopping at a layer (an op with a
constant input of at least LAYER_WEIGHT_ELEMENTS elements), which stays the quantizer's to decide.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

#: An op carrying a constant of at least this many elements is a layer: what quantization is for.
LAYER_WEIGHT_ELEMENTS = 16

Op = TypeVar("Op", bound=Hashable)


def output_tail(outputs: Iterable[Op | None], producers: Callable[[Op], Iterable[Op | None]],
                weight_elements: Callable[[Op], int]) -> list[Op]:
    """The tail ops, from the outputs back. `outputs`: the ops producing the graph's outputs (None where
    an output is a graph input or a constant); `producers(op)`: the ops producing its non-constant
    inputs; `weight_elements(op)`: the size of its largest constant input (0 if none)."""
    tail: list[Op] = []
    stack, seen = [op for op in outputs if op is not None], set()
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        if weight_elements(op) >= LAYER_WEIGHT_ELEMENTS:
            continue  # a layer: quantized as the plan says, and the walk stops here
        tail.append(op)
        stack.extend(producer for producer in producers(op) if producer is not None)
    return tail
