"""Opening an ONNX file someone hands to mc, with errors that say what is wrong with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mc.errors import InputError
from mc.hashing import sha256_file


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
        sha256=sha256_file(path),
        input_names=[value.name for value in inputs],
        output_names=[value.name for value in proto.graph.output],
        input_types=[onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type).lower() for value in inputs],
    )
