"""Content hashes: artifacts and data are identified by what they hold, not by their names."""

import hashlib
from pathlib import Path

import numpy as np


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_arrays(*arrays: np.ndarray) -> str:
    """Hash of arrays' dtypes, shapes and bytes, so that a reshaped or recast array hashes differently."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def sha256_path(path: Path) -> str:
    """A file's hash, or a directory's: every file below it, by relative name and content, so a
    changed file inside a folder (calibration samples, a model directory) changes the hash."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def sha256_files(paths: list[Path]) -> str:
    """One hash over an artifact made of several files (OpenVINO's .xml and .bin): a single file
    hashes as itself, so an artifact without companions keeps its plain file hash."""
    if len(paths) == 1:
        return sha256_file(paths[0])
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).suffix.encode())  # content, not names: a renamed artifact keeps its hash
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()
