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
    try:
        onnx.checker.check_model(proto)
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
    )
