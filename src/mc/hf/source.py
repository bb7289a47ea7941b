"""Text models as mc sees them: a local Hugging Face model directory (config, weights, tokenizer),
and a text artifact (an ONNX file with the model's tokenizer and config kept beside it).

Everything is checked up front with one-line errors naming the missing piece, before transformers
is imported: a bad directory fails fast, and so does a host without the `hf` extra.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mc.errors import InputError

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
TOKENIZER_SIDE_FILES = ("tokenizer_config.json", "special_tokens_map.json", "merges.txt", "added_tokens.json")
CONFIG_FILE = "config.json"
MODEL_FILE = "model.onnx"  # a text artifact's model, inside its directory
# The zoo's text models, by name: dispatch must not import the registry (torch) in `mc bench`'s
# parent, whose workers would otherwise start from a forked torch-sized process. A test checks
# this list against the registry.
TEXT_ZOO_MODELS = ("memory-minilm",)


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
        """Of the config and the weights: what decides the model's outputs."""
        digest = hashlib.sha256()
        for file in [self.path / CONFIG_FILE, *self.weights]:
            from mc.hashing import sha256_file

            digest.update(file.name.encode())
            digest.update(sha256_file(file).encode())
        return digest.hexdigest()

    def load_model(self):
        """The backbone as `AutoModel` in eval mode (no hub access: local files only)."""
        from mc.hf._extra import require_transformers

        require_transformers()
        from transformers import AutoModel

        try:
            return AutoModel.from_pretrained(str(self.path), local_files_only=True).eval()
        except Exception as error:
            raise InputError(f"{self.path}: transformers cannot load the model ({_first_line(error)})") from None

    def load_tokenizer(self):
        return load_tokenizer(self.path)


@dataclass
class TextArtifact:
    """An ONNX text model with its tokenizer beside it (what `mc export HF_DIR -o DIR` writes)."""

    directory: Path
    model_path: Path
    sha256: str
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)

    def load_tokenizer(self):
        return load_runtime_tokenizer(self.directory)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__


def load_tokenizer(directory: Path):
    from mc.hf._extra import require_transformers

    require_transformers()
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except Exception as error:
        raise InputError(f"{directory}: the tokenizer does not load ({_first_line(error)})") from None


class FastTokenizer:
    """The model's own fast tokenizer (its tokenizer.json) through the `tokenizers` library alone.

    For the ONNX side (quantize, bench): transformers' AutoTokenizer imports torch, which would add
    seconds and hundreds of MB to a bench worker that measures memory. Called like a transformers
    tokenizer with the arguments mc uses; the tests check both give the same ids.
    """

    def __init__(self, directory: Path):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        settings: dict[str, Any] = {}
        if (directory / "tokenizer_config.json").is_file():
            settings = json.loads((directory / "tokenizer_config.json").read_text())
        pad = settings.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_id = self._tokenizer.token_to_id(pad) if pad else None
        self.pad_token = pad
        self.model_max_length = settings.get("model_max_length")

    def __call__(self, texts: list[str], padding: bool | str = True, truncation: bool = True, max_length: int = 128,
                 return_tensors: str = "np") -> dict[str, Any]:
        import numpy as np

        tokenizer = self._tokenizer
        if truncation:
            tokenizer.enable_truncation(max_length)
        else:
            tokenizer.no_truncation()
        pad = {"pad_id": self.pad_id or 0, "pad_token": self.pad_token or "[PAD]"}
        if padding == "max_length":
            tokenizer.enable_padding(length=max_length, **pad)
        else:
            tokenizer.enable_padding(**pad)
        encodings = tokenizer.encode_batch(list(texts))
        return {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64)}


def load_runtime_tokenizer(directory: Path):
    """The tokenizer for running an exported model: tokenizer.json through `tokenizers` where there
    is one (every fast tokenizer saves it), else transformers' AutoTokenizer."""
    directory = Path(directory)
    if (directory / "tokenizer.json").is_file():
        from mc.hf._extra import require

        require("tokenizers")
        try:
            return FastTokenizer(directory)
        except Exception as error:
            raise InputError(f"{directory / 'tokenizer.json'} does not load ({_first_line(error)})") from None
    return load_tokenizer(directory)


def _present(directory: Path, names: tuple[str, ...]) -> list[Path]:
    return [directory / name for name in names if (directory / name).is_file()]


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
    weights = _present(path, WEIGHT_FILES)
    if not weights:
        raise InputError(f"{path} has no weights ({' or '.join(WEIGHT_FILES[::2])}); save them with model.save_pretrained")
    tokenizer = _present(path, TOKENIZER_FILES)
    if not tokenizer:
        raise InputError(f"{path} has no tokenizer ({', '.join(TOKENIZER_FILES[:3])}, ...); save it with tokenizer.save_pretrained")
    return HfDirectory(path, config, weights, tokenizer + _present(path, TOKENIZER_SIDE_FILES))


def open_text_artifact(spec: str | Path) -> TextArtifact:
    """A text artifact from its directory or its model.onnx; its tokenizer must be beside it."""
    from mc.onnx_file import load_onnx_model

    path = Path(spec)
    model_path = path / MODEL_FILE if path.is_dir() else path
    directory = model_path.parent
    if not model_path.is_file():
        raise InputError(f"{path} holds no {MODEL_FILE}; export a Hugging Face model first: mc export HF_DIR -o {path}")
    if not _present(directory, TOKENIZER_FILES):
        raise InputError(f"{model_path} has no tokenizer beside it; export it with `mc export HF_DIR -o DIR`, which keeps it there")
    onnx_model = load_onnx_model(model_path)
    return TextArtifact(directory, model_path, onnx_model.sha256, onnx_model.input_names, onnx_model.output_names)


def copy_tokenizer(source: Path, target: Path) -> list[str]:
    """Copy the tokenizer and config files (not weights) from `source` to `target`; their names."""
    import shutil

    copied = []
    for file in _present(Path(source), (CONFIG_FILE, *TOKENIZER_FILES, *TOKENIZER_SIDE_FILES)):
        shutil.copyfile(file, Path(target) / file.name)
        copied.append(file.name)
    return copied


def is_text_model(spec: str) -> bool:
    """True when MODEL is a text model: a Hugging Face directory, a text artifact (directory or its
    model.onnx with a tokenizer beside it), or a zoo name of a text model. Cheap: no heavy imports."""
    path = Path(spec)
    if path.is_dir():
        return True  # a directory is a text model or an error the text path explains
    if spec.endswith(".onnx"):
        return path.is_file() and bool(_present(path.parent, TOKENIZER_FILES))
    return spec in TEXT_ZOO_MODELS


def is_hf_directory(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / CONFIG_FILE).is_file() and not (Path(path) / MODEL_FILE).is_file()
