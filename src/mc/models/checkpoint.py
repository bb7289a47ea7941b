"""Checkpoints that carry their architecture as data.

A checkpoint is a plain dict (format tag, zoo name or factory spec, config dict, state dict), so it
loads with `torch.load(weights_only=True)`: nothing is unpickled but tensors and primitives.
"""

from __future__ import annotations

import dataclasses
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mc.errors import InputError

CHECKPOINT_FORMAT = "mc.checkpoint/1"


def config_to_dict(config: Any) -> dict[str, Any]:
    values = dataclasses.asdict(config)
    return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}


def config_from_dict(entry, values: dict[str, Any]) -> Any:
    """Rebuild a zoo config; list fields of the JSON/pickle round trip become tuples again."""
    defaults = entry.default_config()
    coerced = {
        key: tuple(value) if isinstance(getattr(defaults, key, None), tuple) else value
        for key, value in values.items()
    }
    return entry.config_from_dict(coerced)


def checkpoint_payload(model: nn.Module, origin: dict[str, Any]) -> dict[str, Any]:
    """The dict saved to disk. `origin` is {"model": zoo name, "config": {...}} or {"factory": spec, ...}."""
    state = model.state_dict()
    return {
        "format": CHECKPOINT_FORMAT,
        **origin,
        # Quantized modules also store dtypes and packed-parameter tuples: only tensors are detached.
        "state_dict": {
            key: value.detach().cpu() if isinstance(value, torch.Tensor) else value for key, value in state.items()
        },
        # Per-module format versions, which quantized modules need to read their own state back.
        "state_dict_metadata": {key: dict(value) for key, value in getattr(state, "_metadata", {}).items()},
    }


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    """torch.save through an in-memory buffer: saved to a path, torch names the zip archive's folder
    after the file, so a temporary name (the atomic publisher's) would change the bytes, and the
    content hash, of an identical checkpoint from one run to the next."""
    import io

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    Path(path).write_bytes(buffer.getvalue())


def state_dict_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload's state dict with its per-module versions restored, ready for load_state_dict."""
    from collections import OrderedDict

    state = OrderedDict(payload["state_dict"])
    state._metadata = OrderedDict(payload.get("state_dict_metadata", {}))  # type: ignore[attr-defined]
    return state


def _is_pickle(path: Path) -> bool:
    """A pickle of Python objects (torch.save of a whole module, pickle.dump): a zip archive as
    torch.save writes, or a bare pickle stream (protocol 2 and later start with 0x80)."""
    import zipfile

    with open(path, "rb") as handle:
        head = handle.read(2)
    return head[:1] == b"\x80" or zipfile.is_zipfile(path)


def _short(error: BaseException) -> str:
    """The error's first sentence, cut at a word, not mid-word."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if len(text) > 160:
        text = text[:160].rsplit(" ", 1)[0] + " ..."
    return text


def read_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise InputError(f"checkpoint not found: {path}: check the path, or pass a zoo name (`mc models`)")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a checkpoint file: name the .pt file")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing: the line below says it all
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError... for a bad file
        if isinstance(error, pickle.UnpicklingError) and _is_pickle(path):
            raise InputError(f"{path} is not an mc checkpoint (a pickle); mc loads checkpoints with weights_only") from None
        raise InputError(
            f"{path} is not a loadable mc checkpoint ({_short(error)}); "
            "mc reads checkpoints written by `mc train` (weights_only, architecture as data)"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputError(
            f"{path} is not an mc checkpoint (no {CHECKPOINT_FORMAT!r} format tag); "
            "a bare state dict needs its architecture: load it in a factory (file.py:factory) instead"
        )
    return payload
