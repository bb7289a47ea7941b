"""A content-addressed store of pass outputs, so identical steps of a recipe run once.

The key of a step is the hash of everything its output depends on: the parent artifact's content
hash, the pass and its full config, the inputs the pass reads (data, calibration set, target
profile, and the host for passes that measure time), the library versions, and a fingerprint of
mc's own source, so a changed config, input, library or mc build can never hit an old entry.
An artifact is a file with its sidecar beside it, or a directory (a text model and its tokenizer)
hashed whole.
An entry is published by renaming a finished directory into place, and a lookup re-hashes the
artifact against its entry, so a half-written or altered entry is never returned.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mc.hashing import sha256_path
from mc.paths import mc_home
from mc.versions import library_versions

CACHE_SCHEMA = "mc.cache/1"
ENTRY_FILE = "entry.json"


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """Hash of mc's own Python source: an edited pass must not reuse what the old code made."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(parent_sha256: str, pass_name: str, config: dict[str, Any], inputs: dict[str, Any]) -> str:
    payload = {
        "schema": CACHE_SCHEMA, "parent": parent_sha256, "pass": pass_name, "config": config, "inputs": inputs,
        "versions": library_versions(), "mc_source": source_fingerprint(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def default_cache_root() -> Path:
    return mc_home() / "cache" / "artifacts"


@dataclass(frozen=True)
class CachedArtifact:
    key: str
    path: Path  # the artifact: a file (its sidecar beside it) or a directory (a text model with its tokenizer)
    sha256: str


class ArtifactCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_root()

    def _entry_dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def lookup(self, key: str) -> CachedArtifact | None:
        """The artifact stored under `key`, verified against its recorded hash; None otherwise."""
        directory = self._entry_dir(key)
        try:
            entry = json.loads((directory / ENTRY_FILE).read_text())
        except (OSError, ValueError):
            return None
        artifact = directory / str(entry.get("file", ""))
        if entry.get("key") != key or not artifact.exists() or artifact == directory or sha256_path(artifact) != entry.get("sha256"):
            shutil.rmtree(directory, ignore_errors=True)  # damaged: drop it, the step runs again
            return None
        return CachedArtifact(key, artifact, entry["sha256"])

    @contextlib.contextmanager
    def produce(self, key: str, file_name: str, description: dict[str, Any]) -> Iterator[Path]:
        """Yield the path the pass writes its artifact to; publish the entry only if the block
        succeeds (with its sidecar, if the pass wrote one). Errors and Ctrl-C leave nothing."""
        final = self._entry_dir(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", suffix=".tmp", dir=final.parent))
        try:
            artifact = staging / file_name
            yield artifact
            if not artifact.exists():
                raise RuntimeError(f"the {description.get('pass')} pass wrote no artifact at {artifact}")
            entry = {"key": key, "file": file_name, "sha256": sha256_path(artifact), **description}
            (staging / ENTRY_FILE).write_text(json.dumps(entry, indent=2, default=str) + "\n")
            try:
                os.rename(staging, final)
            except OSError:  # another run published the same key first: identical content, keep theirs
                if self.lookup(key) is None:
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
