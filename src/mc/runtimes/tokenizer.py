"""The tokenizer an exported text model runs with, loaded without torch where possible."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mc.errors import InputError


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
    from mc.extras import first_line, require

    directory = Path(directory)
    if (directory / "tokenizer.json").is_file():
        require("tokenizers")
        try:
            return FastTokenizer(directory)
        except Exception as error:
            raise InputError(f"{directory / 'tokenizer.json'} does not load ({first_line(error)})") from None
    from mc.models.hf_directory import load_tokenizer  # transformers, and torch with it: only without tokenizer.json

    return load_tokenizer(directory)
