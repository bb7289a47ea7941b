"""The episodic memory: a bounded key/value store with cosine retrieval and O(1) insertion.

A ring buffer: a write goes to the slot after the last one, overwriting the oldest entry once the
store is full, so an insertion costs the same at 10 or 10,000 slots (no search for what to evict,
no shifting). Retrieval compares the query with every key by cosine similarity, keeps the top k
valid slots and returns their values weighted by a softmax over the similarities.

Retrieval is a pure function of (query, keys, values, valid): the torch module passes its own
buffers, and an exported ONNX model takes them as inputs, so a deployed model's memory lives in
the runtime (written with the same ring-buffer rule) instead of being frozen into the graph.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

INVALID_SIMILARITY = -2.0  # below any cosine: empty slots are never preferred over real ones


class EpisodicMemory(nn.Module):
    def __init__(self, slots: int, dim: int):
        super().__init__()
        if slots < 1 or dim < 1:
            raise ValueError(f"memory needs at least one slot and one dimension (got {slots} x {dim})")
        self.slots, self.dim = slots, dim
        self.register_buffer("keys", torch.zeros(slots, dim))
        self.register_buffer("values", torch.zeros(slots, dim))
        self.register_buffer("valid", torch.zeros(slots))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("written", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def write(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Store rows of (key, value): each at the next slot of the ring, O(1) per row."""
        if keys.shape != values.shape or keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"memory rows must be (n, {self.dim}) keys and values alike, got {tuple(keys.shape)} and {tuple(values.shape)}")
        count = len(keys)
        dropped = max(0, count - self.slots)  # more rows than slots: the earlier ones would be overwritten anyway
        index = (self.pointer + dropped + torch.arange(count - dropped, device=keys.device)) % self.slots
        self.keys[index] = keys[dropped:].to(self.keys.dtype)
        self.values[index] = values[dropped:].to(self.values.dtype)
        self.valid[index] = 1.0
        self.pointer.copy_((self.pointer + count) % self.slots)
        self.written.add_(count)

    @property
    def size(self) -> int:
        return int(self.valid.sum().item())

    def clear(self) -> None:
        for buffer in (self.keys, self.values, self.valid, self.pointer, self.written):
            buffer.zero_()


def retrieve(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, valid: torch.Tensor, top_k: int,
             temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The memory read for each query row: (retrieved values (B, D), retrieval features (B, 4)).

    Features, for the confidence head: best cosine, mean cosine of the valid top k, the share of the
    top k that are real memories, and whether anything was retrieved at all. With nothing in memory
    the read returns the query itself, so integration leaves the representation as it was.
    """
    k = min(top_k, keys.shape[0])
    similarity = F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).transpose(0, 1)  # (B, slots)
    similarity = similarity * valid + (1.0 - valid) * INVALID_SIMILARITY
    best, index = torch.topk(similarity, k, dim=-1)  # (B, k)
    chosen_valid = valid[index]  # (B, k)
    weights = torch.softmax(best / temperature, dim=-1) * chosen_valid
    total = weights.sum(dim=-1, keepdim=True)
    read = (weights.unsqueeze(-1) * values[index]).sum(dim=1) / total.clamp(min=1e-12)
    found = (chosen_valid.sum(dim=-1, keepdim=True) > 0).to(query.dtype)
    retrieved = found * read + (1.0 - found) * query
    valid_count = chosen_valid.sum(dim=-1)
    mean_similarity = (best * chosen_valid).sum(dim=-1) / valid_count.clamp(min=1.0)
    features = torch.stack([best[:, 0] * found[:, 0], mean_similarity, valid_count / k, found[:, 0]], dim=-1)
    return retrieved, features
