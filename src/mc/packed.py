"""Artifacts as bytes, so they can travel between machines through an object store (Ray's) instead
of a shared filesystem: packed where a pass made them (the artifact with its sidecar and the files
that travel with it, or a text model's whole directory) and unpacked where the next step, a search's
candidate build or the bench runs.

What travels with a file: its sidecar (`<name>.json`), its companions (OpenVINO's `.bin` beside the
`.xml`, renamed with it, since OpenVINO finds it by stem) and ONNX external data (`<name>.data`,
kept under its own name: the model names it inside).
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from mc.artifact import companion_files, travelling_files


@dataclass(frozen=True)
class Packed:
    """An artifact as bytes: `name` is its file (or directory) name, `data` a tar of it and what
    travels with it."""

    name: str
    data: bytes


def _plain_name(name: str) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name


def pack(path: Path) -> Packed:
    path = Path(path)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(path, arcname=path.name, recursive=True)
        for item in travelling_files(path):
            archive.add(item, arcname=item.name)
    return Packed(path.name, buffer.getvalue())


def unpack(packed: Packed, directory: Path, name: str | None = None) -> Path:
    """Write the artifact (and what travels with it) into `directory`, as `name` if given; its path.
    Only regular files and folders under `directory` are written (tar's `data` filter)."""
    name = name or packed.name
    if not _plain_name(name) or not _plain_name(packed.name):
        raise ValueError(f"not an artifact name: {name!r}")
    old, new = Path(packed.name), Path(name)
    renamed = {packed.name + ".json": name + ".json", packed.name + ".data": packed.name + ".data"}
    renamed.update({companion.name: new.with_suffix(companion.suffix).name for companion in companion_files(old)})
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(packed.data), mode="r") as archive:
        members = archive.getmembers()
        for member in members:  # the artifact, its contents, what travels with it: renamed together
            head, _, rest = member.name.partition("/")
            if head == packed.name:
                member.name = name + ("/" + rest if rest else "")
            elif head in renamed and not rest:
                member.name = renamed[head]
            else:
                raise ValueError(f"unexpected entry in a packed artifact: {member.name!r}")
        archive.extractall(directory, members=members, filter="data")
    return directory / name
