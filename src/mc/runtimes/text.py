"""Text models in ONNX Runtime: tokenized real text in, mean-pooled embeddings out, and how
faithful one model's embeddings are to another's (cosine similarity per text). `TextSession` is the
text model's Predictor: `predict(feeds)` takes the feeds dict (`feeds(encoded)` builds it).

A plain encoder export gives `last_hidden_state`, mean-pooled here over the attention mask (the
sentence-transformers recipe). The memory-augmented wrapper gives its `embedding` directly and
takes its memory as inputs: this session keeps that memory as a ring buffer in NumPy (the rule of
mc.models.memory.EpisodicMemory: next slot, oldest overwritten) so that a bench worker never imports
torch, whose import alone would add hundreds of MB to the memory it measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mc.errors import InputError

MEMORY_INPUTS = ("memory_keys", "memory_values", "memory_valid")
BATCH = 16


class RingMemory:
    """The episodic memory as runtime state for an exported memory model (O(1) insertion)."""

    def __init__(self, slots: int, dim: int):
        self.keys = np.zeros((slots, dim), np.float32)
        self.values = np.zeros((slots, dim), np.float32)
        self.valid = np.zeros(slots, np.float32)
        self.pointer = 0

    def write(self, keys: np.ndarray, values: np.ndarray) -> None:
        slots = len(self.valid)
        dropped = max(0, len(keys) - slots)  # more rows than slots: the earlier ones would be overwritten anyway
        self.pointer = (self.pointer + dropped) % slots
        for key, value in zip(keys[dropped:], values[dropped:]):
            self.keys[self.pointer], self.values[self.pointer], self.valid[self.pointer] = key, value, 1.0
            self.pointer = (self.pointer + 1) % slots

    def feeds(self) -> dict[str, np.ndarray]:
        return {"memory_keys": self.keys, "memory_values": self.values, "memory_valid": self.valid}


def encode(tokenizer: Any, texts: list[str], max_length: int, pad_to_max: bool = False) -> dict[str, np.ndarray]:
    """The model's own tokenizer: int64 arrays, truncated to `max_length` tokens."""
    encoded = tokenizer(texts, padding="max_length" if pad_to_max else True, truncation=True, max_length=max_length, return_tensors="np")
    return {name: np.asarray(value, dtype=np.int64) for name, value in encoded.items()}


def mean_pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    mask = attention_mask[..., None].astype(np.float32)
    return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)


class TextSession:
    """One ONNX text model in ONNX Runtime, fed by name from the tokenizer's outputs."""

    name = "onnxruntime"

    def __init__(self, model_path: Path, threads: int | None = None, *, shared_cores: bool = False,
                 providers: list | None = None):
        from mc.runtimes.onnxruntime import RUNTIME_OF_PROVIDER, inference_session, provider_names

        self.session = inference_session(Path(model_path), threads, shared_cores, providers)
        self.name = RUNTIME_OF_PROVIDER.get(provider_names(providers or ["CPUExecutionProvider"])[0], "onnxruntime")
        self.path = Path(model_path)
        inputs = {value.name: value for value in self.session.get_inputs()}
        self.input_names = list(inputs)
        self.output_names = [value.name for value in self.session.get_outputs()]
        self.memory: RingMemory | None = None
        if set(MEMORY_INPUTS) <= set(inputs):
            slots, dim = inputs["memory_keys"].shape
            if not isinstance(slots, int) or not isinstance(dim, int):
                raise InputError(f"{model_path}: the memory inputs need fixed sizes (got {slots} x {dim}); re-export the model")
            self.memory = RingMemory(slots, dim)
        if "sentence_embedding" not in self.output_names and "last_hidden_state" not in self.output_names:
            raise InputError(f"{model_path} has neither a last_hidden_state nor an embedding output; export it for feature-extraction")

    def feeds(self, encoded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {name: encoded[name] for name in self.input_names if name in encoded}
        if "token_type_ids" in self.input_names and "token_type_ids" not in feeds:
            feeds["token_type_ids"] = np.zeros_like(encoded["input_ids"])
        if self.memory is not None:
            feeds.update(self.memory.feeds())
        missing = [name for name in self.input_names if name not in feeds]
        if missing:
            raise InputError(f"{self.path} needs inputs the tokenizer does not give: {', '.join(missing)}")
        return feeds

    def predict(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One call on ready feeds (what the bench times: tokenizing is not the model's cost)."""
        return self.session.run(None, feeds)

    def run(self, encoded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(None, self.feeds(encoded))))

    def embed(self, encoded: dict[str, np.ndarray]) -> np.ndarray:
        outputs = self.run(encoded)
        if "sentence_embedding" in outputs:
            return outputs["sentence_embedding"]
        return mean_pool(outputs["last_hidden_state"], encoded["attention_mask"])

    def remember(self, encoded: dict[str, np.ndarray]) -> int:
        """A memory model stores its own pooled encodings of these texts; others have no memory."""
        if self.memory is None:
            return 0
        query = self.run(encoded)["memory_query"]
        self.memory.write(query, query)
        return len(query)


def open_text_session(model_path: Path, *, threads: int | None, shared_cores: bool = False, target=None) -> TextSession:
    """A text model's ONNX file in ONNX Runtime on the providers the target chooses (the opener's
    rule), for callers that hold a model file without its tokenizer beside it yet (an export being
    checked, a search's candidates)."""
    from mc.runtimes.onnxruntime import choose_providers

    return TextSession(Path(model_path), threads, shared_cores=shared_cores, providers=choose_providers(Path(model_path), target))


@dataclass
class TextSet:
    """Texts tokenized once, in batches (padded per batch, as a deployed model would see them)."""

    batches: list[dict[str, np.ndarray]]
    count: int

    @classmethod
    def of(cls, tokenizer: Any, texts: list[str], max_length: int) -> "TextSet":
        return cls([encode(tokenizer, texts[start : start + BATCH], max_length) for start in range(0, len(texts), BATCH)], len(texts))


def embed_all(session: TextSession, texts: TextSet, memory: TextSet | None = None) -> np.ndarray:
    if memory is not None and session.memory is not None:
        for batch in memory.batches:
            session.remember(batch)
    return np.concatenate([session.embed(batch) for batch in texts.batches]).astype(np.float64)


def cosine_fidelity(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Cosine similarity of each text's embedding to the reference's: mean, min and count."""
    dot = (reference * candidate).sum(axis=1)
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    cosine = dot / np.maximum(norms, 1e-12)
    return {"mean_cosine": float(cosine.mean()), "min_cosine": float(cosine.min()), "texts": int(len(cosine))}


@dataclass
class TextArtifact:
    """An ONNX text model with its tokenizer beside it (what the export pass writes for a text model)."""

    directory: Path
    model_path: Path
    sha256: str
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)

    def load_tokenizer(self):
        from mc.runtimes.tokenizer import load_runtime_tokenizer

        return load_runtime_tokenizer(self.directory)


def open_text_artifact(spec: str | Path) -> TextArtifact:
    """A text artifact from its directory or its model.onnx; its tokenizer must be beside it."""
    from mc.onnx_file import load_onnx_model
    from mc.tokenizer_files import MODEL_FILE, TOKENIZER_FILES, present

    path = Path(spec)
    model_path = path / MODEL_FILE if path.is_dir() else path
    directory = model_path.parent
    if not model_path.is_file():
        raise InputError(f"{path} holds no {MODEL_FILE}; export a Hugging Face model first: mc export HF_DIR -o {path}")
    if not present(directory, TOKENIZER_FILES):
        raise InputError(f"{model_path} has no tokenizer beside it; export it with `mc export HF_DIR -o DIR`, which keeps it there")
    onnx_model = load_onnx_model(model_path)
    return TextArtifact(directory, model_path, onnx_model.sha256, onnx_model.input_names, onnx_model.output_names)
