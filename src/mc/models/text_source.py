"""Text models as sources (`text-torch`): a local Hugging Face directory, or a text zoo model built
on a pretrained backbone. Their content hash is what a cache key chains on."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def text_source_digest(spec: str) -> str:
    """A Hugging Face directory's content hash; a text zoo model's: its config and its backbone's files."""
    from mc.models.hf_directory import inspect_hf_directory

    if Path(spec).is_dir():
        return inspect_hf_directory(Path(spec)).sha256()
    import dataclasses

    from mc.models import get_model_entry
    from mc.models.memory_transformer import backbone_directory

    entry = get_model_entry(spec)
    config = entry.default_config()
    backbone = inspect_hf_directory(backbone_directory(config.backbone))
    payload = {"model": entry.name, "config": dataclasses.asdict(config), "backbone": backbone.sha256()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
