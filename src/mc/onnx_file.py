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
    input_types: list[str] = field(default_factory=list)  # element types of the inputs: "float", "int64" ...

    def require_float_input(self) -> None:
        """Classifier commands feed float samples; an integer input (token ids) is a text model's."""
        if self.input_types and self.input_types[0] not in ("float", "float16", "double", "bfloat16"):
            raise InputError(
                f"{self.path} takes {self.input_types[0]} input {self.input_names[0]!r}; mc's classifier commands feed float "
                "samples (a text model goes in a folder with its tokenizer, as `mc export HF_DIR -o DIR` writes it)"
            )


def model_bytes(path: Path) -> int:
    """The model's size on disk: the .onnx file and the external data files it names."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    path = Path(path)
    proto = onnx.load(str(path), load_external_data=False)
    files = {ExternalDataInfo(tensor).location for tensor in proto.graph.initializer if uses_external_data(tensor)}
    return path.stat().st_size + sum((path.parent / name).stat().st_size for name in files if (path.parent / name).is_file())


def _external_data_problem(proto, folder: Path) -> str | None:
    """External tensors are resolved against the model's own folder (never the working directory);
    a location that leaves that folder, or a file that is not there, is refused."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    tensors = list(proto.graph.initializer) + [attribute.t for node in proto.graph.node for attribute in node.attribute
                                               if attribute.HasField("t")]
    root = folder.resolve()
    for tensor in tensors:
        if not uses_external_data(tensor):
            continue
        location = ExternalDataInfo(tensor).location
        resolved = (root / location).resolve()
        if Path(location).is_absolute() or (resolved != root and root not in resolved.parents):
            return f"its tensor {tensor.name!r} points outside the model's folder ({location}); keep external data beside the model"
        if not resolved.is_file():
            return f"its external data file {location} is missing from {folder}; copy it beside the model"
    return None


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
    problem = _external_data_problem(proto, path.parent)
    if problem:
        raise InputError(f"{path}: {problem}")
    external = external_data_files(path, proto)
    try:
        # By path: the checker then resolves external data against the model's folder, not the cwd.
        onnx.checker.check_model(str(path))
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
        input_types=[onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type).lower() for value in inputs],
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
