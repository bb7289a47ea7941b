"""The files of a Hugging Face model directory and of a text artifact (model.onnx with its tokenizer
beside it), by name: what exporters copy along and what openers look for. No heavy imports."""

from __future__ import annotations

import shutil
from pathlib import Path

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
TOKENIZER_SIDE_FILES = ("tokenizer_config.json", "special_tokens_map.json", "merges.txt", "added_tokens.json")
CONFIG_FILE = "config.json"
MODEL_FILE = "model.onnx"  # a text artifact's model, inside its directory


def present(directory: Path, names: tuple[str, ...]) -> list[Path]:
    return [Path(directory) / name for name in names if (Path(directory) / name).is_file()]


def copy_tokenizer(source: Path, target: Path) -> list[str]:
    """Copy the tokenizer and config files (not weights) from `source` to `target`; their names."""
    copied = []
    for file in present(Path(source), (CONFIG_FILE, *TOKENIZER_FILES, *TOKENIZER_SIDE_FILES)):
        shutil.copyfile(file, Path(target) / file.name)
        copied.append(file.name)
    return copied
