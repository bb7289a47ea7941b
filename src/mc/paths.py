"""Where mc keeps what it generates outside the project: the data cache and user-trained checkpoints."""

import os
from pathlib import Path


def mc_home() -> Path:
    """The cache root: $MC_HOME, else $XDG_CACHE_HOME/mc, else ~/.cache/mc."""
    if env := os.environ.get("MC_HOME"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mc"


def trained_checkpoint_path(model_name: str) -> Path:
    """Where `mc train NAME` writes by default, and where a zoo name looks first."""
    return mc_home() / "checkpoints" / f"{model_name}.pt"
