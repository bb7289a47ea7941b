"""Where a text model may be written: a directory (model.onnx beside its tokenizer), never a file,
never the input itself, never a directory holding anything but an earlier mc text artifact."""

from __future__ import annotations

from pathlib import Path

from mc.artifact import sidecar_path
from mc.errors import InputError
from mc.tokenizer_files import MODEL_FILE


def check_text_output(output: Path, source: Path | None = None) -> None:
    output = Path(output)
    if output.suffix == ".onnx":
        raise InputError(f"-o {output}: a text model is written as a directory (model.onnx beside its tokenizer); give a directory")
    if output.exists() and not output.is_dir():
        raise InputError(f"-o {output} is a file; give a directory for the model and its tokenizer")
    if source is not None and output.exists() and output.resolve() == Path(source).resolve():
        raise InputError(f"-o {output} is the input itself; give another directory")
    if output.is_dir() and any(output.iterdir()) and not sidecar_path(output / MODEL_FILE).is_file():
        raise InputError(f"-o {output} is a directory with other files in it; give a new or empty directory")
