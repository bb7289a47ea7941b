"""Keeping a run's writes where they belong: names from a recipe become paths (run folders,
artifact names, cache entries), and a name like `../x` must never reach a file outside its folder.
Names are refused when the recipe loads (`safe_name`); every write is checked again here, so a
name that slipped past validation still cannot touch an existing file elsewhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mc.errors import InputError

# One path component: no separators, no leading dot (hidden files, `..`), at most 100 characters.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME_RULE = "use letters, digits, '.', '_' and '-' (starting with a letter or digit, at most 100 characters)"


def safe_name(name: str) -> bool:
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None


def inside(root: Path, path: Path) -> Path:
    """`path` unchanged if it lies inside `root` (symlinks resolved); an InputError otherwise."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real != real_root and real_root not in real.parents:
        raise InputError(f"{path}: outside {root}; mc writes a run only inside its own folder")
    return path
