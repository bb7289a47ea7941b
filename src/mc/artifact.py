"""Artifacts: a model file at one stage plus its sidecar JSON (`<file>.json`) with its lineage.

The sidecar records what the file is (content hash, size), where it came from (parent hash, the
pass and its config), with what (library versions, host) and what has been measured on it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mc.atomic import write_json_atomic
from mc.hashing import sha256_file
from mc.versions import host_description, library_versions

ARTIFACT_SCHEMA = "mc.artifact/1"


class Lineage(BaseModel):
    """Where an artifact came from: a parent file (by hash) or a model source (zoo name, factory)."""

    model_config = ConfigDict(extra="forbid")
    source: str
    sha256: str | None = None


class PassRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    config: dict[str, Any]


class ArtifactRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_: str = Field(ARTIFACT_SCHEMA, alias="schema")
    kind: str  # "torch-checkpoint" | "onnx"
    file: str
    sha256: str
    size_bytes: int
    model: dict[str, Any]  # name, config, input_shape, parameters
    parent: Lineage
    pass_: PassRecord = Field(alias="pass")
    versions: dict[str, str | None]
    host: dict[str, Any]
    created: str
    metrics: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


def sidecar_path(artifact_path: Path) -> Path:
    return Path(str(artifact_path) + ".json")


def build_record(
    *,
    kind: str,
    file: Path,
    final_name: str,
    model: dict[str, Any],
    parent: Lineage,
    pass_name: str,
    pass_config: dict[str, Any],
    metrics: dict[str, Any],
) -> ArtifactRecord:
    """The record for `file` (possibly still a temp file) that will live at `final_name`."""
    return ArtifactRecord(
        schema=ARTIFACT_SCHEMA,
        kind=kind,
        file=final_name,
        sha256=sha256_file(file),
        size_bytes=file.stat().st_size,
        model=model,
        parent=parent,
        **{"pass": PassRecord(name=pass_name, config=pass_config)},
        versions=library_versions(),
        host=host_description(),
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        metrics=metrics,
    )


def publish_artifact(staged_file: Path, target: Path, record: ArtifactRecord) -> None:
    """Move a finished, verified artifact into place with its sidecar.

    The sidecar goes first and the artifact last, so whoever sees the artifact sees its lineage.
    """
    write_json_atomic(sidecar_path(target), record.to_json())
    os.replace(staged_file, target)


def read_record(artifact_path: Path) -> ArtifactRecord | None:
    """The sidecar of `artifact_path`, or None if it has none (a file made outside mc)."""
    path = sidecar_path(artifact_path)
    if not path.exists():
        return None
    return ArtifactRecord.model_validate(json.loads(path.read_text()))
