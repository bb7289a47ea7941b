"""Artifacts: a model file at one stage plus its sidecar JSON (`<file>.json`) with its lineage.

The sidecar records what the file is (content hash, size), where it came from (parent hash, the
pass and its config), with what (library versions, host) and what has been measured on it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mc.atomic import staged_file as staged_file_beside
from mc.hashing import sha256_files
from mc.versions import host_description, library_versions

ARTIFACT_SCHEMA = "mc.artifact/1"

# What a model is at one stage, as passes accept and produce it:
# - torch: a model of the family or a user's factory (zoo name, .pt checkpoint, file.py:factory);
# - text-torch: a text encoder in torch (a local Hugging Face directory, or a text zoo model);
# - onnx: an ONNX file; text-onnx: a directory with model.onnx and its tokenizer beside it;
# - compiled: what `mc compile` builds (.pt2, .ep, or an ONNX file bound to a GPU provider);
# - executorch: an ExecuTorch program (.pte); openvino: an OpenVINO IR (.xml with its .bin beside it).
Kind = Literal["torch", "text-torch", "onnx", "text-onnx", "compiled", "executorch", "openvino"]
KIND_NAMES: dict[str, str] = {
    "torch": "a torch model", "text-torch": "a Hugging Face text model", "onnx": "an ONNX model",
    "text-onnx": "an exported text model", "compiled": "a compiled artifact",
    "executorch": "an ExecuTorch program", "openvino": "an OpenVINO IR",
}
# Deployable artifacts no pass transforms further (each opens in its own runtime), by file suffix
DEPLOYED_KINDS: dict[str, Kind] = {".pt2": "compiled", ".ep": "compiled", ".pte": "executorch", ".xml": "openvino"}
# Files an artifact needs beside it (same stem), by the artifact's suffix: OpenVINO's weights
COMPANION_SUFFIXES: dict[str, tuple[str, ...]] = {".xml": (".bin",)}
TEXT_MODEL_FILE = "model.onnx"  # a text artifact's model, inside its directory
# The zoo's text models, by name: telling a kind from a spec must not import the model registry
# (torch); a test checks this list against the registry.
TEXT_ZOO_MODELS = ("memory-minilm",)
# A folder that names the one model it holds (`mc optimize`'s output: the winner beside its table):
# {"file": "model.onnx"}. Opening or benching the folder opens that file.
ARTIFACT_INDEX = "artifact.json"


def _index(spec: str | Path) -> dict[str, Any]:
    index = Path(spec) / ARTIFACT_INDEX
    if not index.is_file():
        return {}
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def indexed_model(spec: str | Path) -> Path | None:
    """The model file a folder's ARTIFACT_INDEX names, or None when `spec` is no such folder."""
    name = _index(spec).get("file")
    if not name:
        return None
    inner = Path(spec) / str(name)
    return inner if inner.exists() and inner.parent == Path(spec) else None


def indexed_threads(spec: str | Path) -> int | None:
    """The thread count a folder's ARTIFACT_INDEX says its model runs fastest on (mc optimize measured
    fewer threads significantly faster than the target's), or None."""
    threads = _index(spec).get("threads")
    return threads if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1 else None


def companion_files(path: Path) -> list[Path]:
    """The files that travel with an artifact (OpenVINO's .bin beside its .xml)."""
    return [path.with_suffix(suffix) for suffix in COMPANION_SUFFIXES.get(path.suffix, ())]


def kind_of_spec(spec: str) -> Kind:
    """The kind of what a user typed as MODEL, from its name and what is on disk (no model loaded)."""
    path = Path(spec)
    if (inner := indexed_model(path)) is not None:
        return kind_of_spec(str(inner))
    if path.is_dir():
        return "text-onnx" if (path / TEXT_MODEL_FILE).is_file() else "text-torch"
    if spec.endswith(".onnx"):
        return "text-onnx" if _tokenizer_beside(path) else "onnx"
    if path.suffix in DEPLOYED_KINDS:
        return DEPLOYED_KINDS[path.suffix]
    if spec in TEXT_ZOO_MODELS:
        return "text-torch"
    return "torch"


def _tokenizer_beside(path: Path) -> bool:
    return path.is_file() and any((path.parent / name).is_file() for name in ("tokenizer.json", "vocab.txt", "vocab.json",
                                                                              "spiece.model", "tokenizer.model"))


@dataclass(frozen=True)
class Artifact:
    """A model at one point of a chain: what a pass takes and what it returns.

    `path` is the file or directory that holds it (None for a model known only by its spec: a zoo
    name or a factory, opened by the model sources); `sha256` is its content hash (or a stand-in
    naming the spec when it has no file), what cache keys chain on.
    """

    kind: Kind
    spec: str
    sha256: str
    path: Path | None = None
    record: "ArtifactRecord | None" = None

    @property
    def location(self) -> str:
        return str(self.path) if self.path is not None else self.spec


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


def onnx_external_data(path: Path) -> Path:
    """Where an ONNX model's weights lie when they are stored outside it (the model names the file)."""
    return path.with_name(path.name + ".data")


def travelling_files(path: Path) -> list[Path]:
    """The files that go wherever an artifact file goes: its sidecar, ONNX external data, OpenVINO's .bin."""
    if not path.is_file():
        return []
    found = [sidecar_path(path), onnx_external_data(path), *companion_files(path)]
    return [item for item in found if item.is_file()]


def copy_artifact(source: Path, destination: Path, with_sidecar: bool = True) -> None:
    """Copy an artifact (a file with what travels with it, or a directory) to `destination`: the
    sidecar and OpenVINO's .bin take the new name, ONNX external data keeps its own (the model names it)."""
    import shutil

    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, destination)
        return
    shutil.copy2(source, destination)
    for companion, copy in zip(companion_files(source), companion_files(destination)):
        if companion.is_file():
            shutil.copy2(companion, copy)
    external = onnx_external_data(source)
    if external.is_file():
        shutil.copy2(external, destination.with_name(external.name))
    if with_sidecar and sidecar_path(source).is_file():
        shutil.copy2(sidecar_path(source), sidecar_path(destination))


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
    companions: list[Path] | tuple[Path, ...] = (),
) -> ArtifactRecord:
    """The record for `file` (possibly still a temp file) that will live at `final_name`; `companions`
    are the files that travel with it (OpenVINO's .bin), covered by its hash and size."""
    return ArtifactRecord(
        schema=ARTIFACT_SCHEMA,
        kind=kind,
        file=final_name,
        sha256=sha256_files([file, *companions]),
        size_bytes=sum(path.stat().st_size for path in (file, *companions)),
        model=model,
        parent=parent,
        **{"pass": PassRecord(name=pass_name, config=pass_config)},
        versions=library_versions(),
        host=host_description(),
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        metrics=metrics,
    )


def publish_artifact(staged_file: Path, target: Path, record: ArtifactRecord) -> None:
    """Move a finished, verified artifact into place with its sidecar: both or neither.

    The sidecar is written aside first, then renamed into place, then the artifact: whoever sees the
    new artifact sees its lineage. Should the artifact's rename fail (a folder in the way, a full or
    read-only disk), the sidecar is rolled back to what was there before (or removed), so no sidecar
    ever describes a file that is not there, and an earlier artifact keeps its own.
    """
    sidecar = sidecar_path(target)
    previous = sidecar.read_bytes() if sidecar.is_file() else None
    with staged_file_beside(sidecar) as staged_sidecar:
        staged_sidecar.write_text(json.dumps(record.to_json(), indent=2) + "\n")
        os.replace(staged_sidecar, sidecar)
    try:
        os.replace(staged_file, target)
    except BaseException:
        _roll_back_sidecar(sidecar, previous)
        raise


def _roll_back_sidecar(sidecar: Path, previous: bytes | None) -> None:
    """Put back the sidecar an earlier artifact had; if even that cannot be written, remove the new
    one: no sidecar is better than one describing another file."""
    try:
        if previous is not None:
            with staged_file_beside(sidecar) as restored:
                restored.write_bytes(previous)
                os.replace(restored, sidecar)
            return
    except OSError:
        pass
    sidecar.unlink(missing_ok=True)


def read_record(artifact_path: Path) -> ArtifactRecord | None:
    """The sidecar of `artifact_path`, or None if it has none (a file made outside mc)."""
    path = sidecar_path(artifact_path)
    if not path.exists():
        return None
    return ArtifactRecord.model_validate(json.loads(path.read_text()))
