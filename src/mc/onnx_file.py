"""Opening an ONNX file someone hands to mc, with errors that say what is wrong with it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mc.errors import InputError
from mc.hashing import sha256_file

if TYPE_CHECKING:
    import onnx


@dataclass
class OnnxModel:
    """An ONNX file, checked: its per-sample input shape (-1 for a symbolic axis) and its I/O names.
    Here and not beside the torch models so that opening an ONNX file never imports torch."""

    path: Path
    sample_shape: tuple[int, ...]
    sha256: str
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)


def load_onnx_model(path: Path) -> OnnxModel:
    import onnx

    path = Path(path)
    if not path.exists():
        raise InputError(f"ONNX file not found: {path}: check the path, or create it with `mc export MODEL -o {path}`")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as error:
        raise InputError(
            f"{path} is not a valid ONNX model (it does not parse: {type(error).__name__}); "
            "the file is corrupt or not ONNX: re-export it with `mc export`"
        ) from None
    external = external_data_files(path, proto)
    try:  # by path when weights live beside it: the checker then finds them relative to the model, not the cwd
        onnx.checker.check_model(str(path) if external else proto)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{path} fails the ONNX checker ({first[:160]}); re-export it with `mc export`") from None
    initializers = {init.name for init in proto.graph.initializer}
    inputs = [value for value in proto.graph.input if value.name not in initializers]
    if not inputs:
        raise InputError(f"{path} has no graph inputs; it cannot be run on data")
    dims = inputs[0].type.tensor_type.shape.dim
    sample_shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims[1:])
    return OnnxModel(
        path=path,
        sample_shape=sample_shape,
        sha256=onnx_sha256(path, external),
        input_names=[value.name for value in inputs],
        output_names=[value.name for value in proto.graph.output],
    )


def _tensors(graph: "onnx.GraphProto") -> Iterator["onnx.TensorProto"]:
    """Every tensor a graph holds: initializers and constants, in subgraphs (If, Loop) too."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(graph.node)


def _node_tensors(nodes) -> Iterator["onnx.TensorProto"]:
    for node in nodes:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for graph in attribute.graphs:
                yield from _tensors(graph)


def external_data_files(path: Path, proto: "onnx.ModelProto") -> list[Path]:
    """The files beside an ONNX model that hold its weights (external data), as it names them."""
    import onnx

    tensors = list(_tensors(proto.graph)) + [t for function in proto.functions for t in _node_tensors(function.node)]
    locations = {entry.value for tensor in tensors if tensor.data_location == onnx.TensorProto.EXTERNAL
                 for entry in tensor.external_data if entry.key == "location"}
    files = []
    for location in sorted(locations):
        file = path.parent / location
        if not file.is_file():
            raise InputError(f"{path}: its weights file {location} (external data) is not beside it; keep the model's "
                             "files together")
        files.append(file)
    return files


def onnx_sha256(path: Path, external: list[Path]) -> str:
    """The model's content hash: the .onnx file's, or, when its weights live in external data
    files, of the file and every one of those, so a changed weights file is a different model."""
    if not external:
        return sha256_file(path)
    digest = hashlib.sha256(sha256_file(path).encode())
    for file in external:
        digest.update(str(file.relative_to(path.parent)).encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()
