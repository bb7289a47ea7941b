"""Artifacts as bytes, so they can travel between machines through an object store (Ray's) instead
of a shared filesystem: packed where a pass made them (the artifact with its sidecar, or a text
model's whole directory), unpacked where the next step or the bench runs, and published into the
driver's cache through the cache's own atomic publisher, so a transfer cut short leaves nothing.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mc.artifact import sidecar_path
from mc.recipes.cache import ArtifactCache, CachedArtifact
from mc.recipes.containment import safe_name


@dataclass(frozen=True)
class Packed:
    """An artifact as bytes: `name` is its file (or directory) name, `data` a tar of it and, for a
    file, its sidecar (`<name>.json`) when it has one."""

    name: str
    data: bytes


def pack(path: Path) -> Packed:
    path = Path(path)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(path, arcname=path.name, recursive=True)
        sidecar = sidecar_path(path)
        if path.is_file() and sidecar.is_file():
            archive.add(sidecar, arcname=sidecar.name)
    return Packed(path.name, buffer.getvalue())


def unpack(packed: Packed, directory: Path, name: str | None = None) -> Path:
    """Write the artifact (and its sidecar) into `directory`, as `name` if given; its path.
    Only regular files and folders under `directory` are written (tar's `data` filter)."""
    name = name or packed.name
    if not safe_name(name) or not safe_name(packed.name):
        raise ValueError(f"not an artifact name: {name!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(packed.data), mode="r") as archive:
        members = archive.getmembers()
        for member in members:  # the artifact, its contents, its sidecar: renamed together
            head, _, rest = member.name.partition("/")
            if head == packed.name:
                member.name = name + ("/" + rest if rest else "")
            elif head == packed.name + ".json":
                member.name = name + ".json"
            else:
                raise ValueError(f"unexpected entry in a packed artifact: {member.name!r}")
        archive.extractall(directory, members=members, filter="data")
    return directory / name


def publish(cache: ArtifactCache, key: str, packed: Packed, file_name: str, description: dict[str, Any]) -> CachedArtifact:
    """Publish a packed artifact into `cache` under `key` (atomically: all or nothing); the entry,
    verified as every lookup verifies it."""
    with cache.produce(key, file_name, description) as output:
        unpack(packed, output.parent, output.name)
    hit = cache.lookup(key)
    if hit is None:
        raise RuntimeError(f"the artifact sent back for {key[:12]} did not verify in the cache at {cache.root}")
    return hit
