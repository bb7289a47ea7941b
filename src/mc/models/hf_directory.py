"""A local Hugging Face model directory as a model source (config, weights, tokenizer), checked up
front with one-line errors naming the missing piece, before transformers is imported; and the
optional `hf` extra: a missing library is one line naming it and the install command.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mc.errors import InputError
from mc.extras import first_line, require
from mc.tokenizer_files import CONFIG_FILE, TOKENIZER_FILES, TOKENIZER_SIDE_FILES, WEIGHT_FILES, present


def require_transformers() -> None:
    require("transformers", "tokenizers")


def require_optimum() -> None:
    require("transformers", "tokenizers", "optimum.exporters.onnx", feature="export through Optimum")


@dataclass
class HfDirectory:
    """A local Hugging Face model directory, checked but not loaded."""

    path: Path
    config: dict[str, Any]
    weights: list[Path]
    tokenizer_files: list[Path]

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type"))

    @property
    def description(self) -> str:
        return f"{self.path} (Hugging Face {self.model_type} directory)"

    def sha256(self) -> str:
        """Of the config, the weights and the tokenizer: what decides the model's outputs."""
        from mc.hashing import sha256_file

        digest = hashlib.sha256()
        for file in [self.path / CONFIG_FILE, *self.weights, *self.tokenizer_files]:
            digest.update(file.name.encode())
            digest.update(sha256_file(file).encode())
        return digest.hexdigest()

    def load_model(self):
        """The backbone as `AutoModel` in eval mode (no hub access: local files only)."""
        require_transformers()
        from transformers import AutoModel

        try:
            return AutoModel.from_pretrained(str(self.path), local_files_only=True).eval()
        except Exception as error:
            raise InputError(f"{self.path}: transformers cannot load the model ({first_line(error)})") from None

    def load_tokenizer(self):
        return load_tokenizer(self.path)


def load_tokenizer(directory: Path):
    require_transformers()
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except Exception as error:
        raise InputError(f"{directory}: the tokenizer does not load ({first_line(error)})") from None


def weight_file_problem(file: Path) -> str | None:
    """What is wrong with a weights file, from its header alone (None: it looks right). Without this
    an exporter that fails to read PyTorch weights falls back to TensorFlow and says TensorFlow is
    missing, which is not what is wrong."""
    import struct
    import zipfile

    size = file.stat().st_size
    if file.name.endswith(".json"):  # a shard index
        try:
            json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "is not valid JSON (a shard index)"
        return None
    with open(file, "rb") as handle:
        head = handle.read(8)
        if file.suffix == ".safetensors":
            if len(head) < 8:
                return f"is too short to be safetensors ({size} bytes)"
            (header_size,) = struct.unpack("<Q", head)
            if header_size > size - 8:
                return "is not a safetensors file (its header overruns the file: truncated or another format)"
            try:
                json.loads(handle.read(header_size))
            except (json.JSONDecodeError, UnicodeDecodeError):
                return "is not a safetensors file (its header is not JSON)"
            return None
    if head[:1] == b"\x80" or zipfile.is_zipfile(file):  # torch.save: a zip archive (or a legacy pickle)
        return None
    return f"is not a PyTorch weights file (neither the zip archive torch.save writes nor a pickle; {size} bytes)"


def inspect_hf_directory(path: Path) -> HfDirectory:
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"Hugging Face model directory not found: {path}: check the path")
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise InputError(f"{path} has no config.json: a Hugging Face model directory holds config.json, the weights and the tokenizer")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{config_path} is not valid JSON ({type(error).__name__}); re-save the model with save_pretrained") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise InputError(f"{config_path} names no model_type; re-save the model with save_pretrained")
    weights = present(path, WEIGHT_FILES)
    if not weights:
        raise InputError(f"{path} has no weights ({' or '.join(WEIGHT_FILES[::2])}); save them with model.save_pretrained")
    for file in weights:
        problem = weight_file_problem(file)
        if problem:
            raise InputError(f"{file} {problem}; re-save the model with model.save_pretrained")
    tokenizer = present(path, TOKENIZER_FILES)
    if not tokenizer:
        raise InputError(f"{path} has no tokenizer ({', '.join(TOKENIZER_FILES[:3])}, ...); save it with tokenizer.save_pretrained")
    return HfDirectory(path, config, weights, tokenizer + present(path, TOKENIZER_SIDE_FILES))
