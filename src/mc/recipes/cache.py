"""A content-addressed store of pass outputs, so identical steps of a recipe run once.

The key of a step is the hash of everything its output depends on: the parent artifact's content
hash, the pass and its full config, the inputs the pass reads (data, calibration set, target
profile, and the host for passes that measure time), the library versions, and a fingerprint of
mc's own source, so a changed config, input, library or mc build can never hit an old entry.
An artifact is a file with its sidecar beside it, or a directory (a text model and its tokenizer)
hashed whole.
An entry is published by renaming a finished directory into place, and a lookup re-hashes the
artifact and re-reads its sidecar against its entry, so a half-written or altered entry is never
returned; a damaged entry is moved aside and rebuilt, never left to block the key.
Failing to write the cache at all is the environment's fault, not a variant's: `CacheUnwritable`.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mc.artifact import TEXT_MODEL_FILE, ArtifactRecord, companion_files, sidecar_path
from mc.errors import InputError
from mc.hashing import sha256_files, sha256_path
from mc.paths import mc_home
from mc.processes import apply_umask, owner_tag, remove_leftovers
from mc.recipes.containment import inside, safe_name
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
    entry: dict[str, Any] = field(default_factory=dict, compare=False)  # what its producer described it with


class CacheUnwritable(InputError):
    """The cache folder cannot be written (read-only, full, not a folder): every step would fail
    alike, so a run stops with the reason instead of failing each variant."""


def _sidecar_of(artifact: Path) -> Path:
    """Where an artifact's record lives: beside a file, inside a directory (its model's)."""
    return sidecar_path(artifact / TEXT_MODEL_FILE) if artifact.is_dir() else sidecar_path(artifact)


def _describes(sidecar: Path, artifact: Path) -> bool:
    """True when `sidecar` parses as an mc artifact record of the file it sits beside."""
    try:
        record = ArtifactRecord.model_validate(json.loads(sidecar.read_text()))
        described = artifact / TEXT_MODEL_FILE if artifact.is_dir() else artifact
        return described.is_file() and record.sha256 == sha256_files([described, *companion_files(described)])
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return False


def _content_hash(artifact: Path) -> str:
    """A directory's or a file's hash, with the files that travel beside it (OpenVINO's .bin)."""
    companions = companion_files(artifact) if artifact.is_file() else []
    return sha256_files([artifact, *companions]) if companions else sha256_path(artifact)


class ArtifactCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_root()

    def key(self, parent_sha256: str, pass_name: str, config: dict[str, Any], inputs: dict[str, Any]) -> str:
        """`cache_key`, for a pass that keeps units of its own work here (a search's candidates)."""
        return cache_key(parent_sha256, pass_name, config, inputs)

    def check_writable(self) -> None:
        """Raise CacheUnwritable unless entries can be made here (before a run does any work)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = Path(tempfile.mkdtemp(prefix=f".probe.{owner_tag()}.", suffix=".tmp", dir=self.root))
            probe.rmdir()
        except OSError as error:
            raise self._unwritable(error) from None

    def _unwritable(self, error: OSError) -> CacheUnwritable:
        return CacheUnwritable(f"cannot write the artifact cache at {self.root} ({error.strerror or error}): "
                               "set MC_HOME to a writable folder, or run with --no-cache")

    def _entry_dir(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return inside(self.root, self.root / key[:2] / key)

    def lookup(self, key: str) -> CachedArtifact | None:
        """The artifact stored under `key`, verified whole against its entry (the artifact's hash,
        its sidecar a record of that artifact); None otherwise, with a damaged entry moved away."""
        directory = self._entry_dir(key)
        if not directory.exists():
            return None
        try:
            entry = json.loads((directory / ENTRY_FILE).read_text())
            artifact = directory / str(entry.get("file", ""))
            whole = (entry.get("key") == key and safe_name(str(entry.get("file"))) and artifact.exists()
                     and _content_hash(artifact) == entry.get("sha256"))
            if whole:  # a sidecar is published with the artifact: it must be the one the pass wrote, or absent as then
                sidecar = _sidecar_of(artifact)
                whole = _describes(sidecar, artifact) if entry.get("sidecar") or sidecar.exists() else True
        except (OSError, ValueError, AttributeError):  # unreadable, not JSON, not a mapping
            whole = False
        if not whole:
            self._discard(directory)  # the step runs again and publishes a sound entry
            return None
        return CachedArtifact(key, artifact, entry["sha256"], entry)

    def _discard(self, directory: Path) -> None:
        """Move a damaged entry aside (one rename, so the key is free at once), then delete it."""
        aside = directory.with_name(f".{directory.name[:12]}.{owner_tag()}.{os.urandom(4).hex()}.damaged")
        try:
            os.rename(directory, aside)
        except FileNotFoundError:  # another run discarded it first
            return
        except OSError:
            aside = directory
        shutil.rmtree(aside, ignore_errors=True)

    @contextlib.contextmanager
    def produce(self, key: str, file_name: str, description: dict[str, Any]) -> Iterator[Path]:
        """Yield the path the pass writes its artifact to; publish the entry only if the block
        succeeds (with its sidecar, if the pass wrote one). Errors and Ctrl-C leave nothing."""
        if not safe_name(file_name):
            raise ValueError(f"not a file name for a cache entry: {file_name!r}")
        final = self._entry_dir(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            remove_leftovers(final.parent)
            # the owner in the name lets a later run tell a dead run's leftovers from a live one's
            staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.{owner_tag()}.", suffix=".tmp", dir=final.parent))
            apply_umask(staging)
        except OSError as error:
            raise self._unwritable(error) from None
        try:
            artifact = inside(staging, staging / file_name)
            yield artifact
            if not artifact.exists():
                raise RuntimeError(f"the {description.get('pass')} pass wrote no artifact at {artifact}")
            sidecar = _sidecar_of(artifact)
            if sidecar.exists() and not _describes(sidecar, artifact):
                raise RuntimeError(f"the {description.get('pass')} pass wrote a sidecar that does not describe its artifact")
            entry = {"key": key, "file": file_name, "sha256": _content_hash(artifact),
                     "sidecar": str(sidecar.relative_to(staging)) if sidecar.exists() else None, **description}
            (staging / ENTRY_FILE).write_text(json.dumps(entry, indent=2, default=str) + "\n")
            if final.exists():
                self.lookup(key)  # a damaged entry in the way is moved aside; a sound one stays
            try:
                os.rename(staging, final)
            except OSError:  # another run published the same key first: identical content, keep theirs
                if self.lookup(key) is None:
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

