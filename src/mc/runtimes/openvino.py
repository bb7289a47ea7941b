"""OpenVINO: an IR (`model.xml` with its weights `model.bin` beside it) compiled for the CPU plugin.

Inference precision is forced to f32 (`INFERENCE_PRECISION_HINT`): on hosts with AMX or AVX-512
bf16 the CPU plugin otherwise runs fp32 models in bf16 and the figures stop matching the source.
Threads: `INFERENCE_NUM_THREADS`, from the target profile, applied when the model is compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mc.errors import BackendUnavailable, InputError, root_cause
from mc.extras import present

INSTALL = "pip install 'mc[openvino]'"
RUNTIME = "openvino"


def missing(quantize: bool = False) -> str | None:
    """None when OpenVINO (and, to quantize, NNCF) is here; else one line with the install."""
    if not present("openvino"):
        return f"--backend openvino needs OpenVINO, which is not installed: {INSTALL}"
    if quantize and not present("nncf"):
        return f"--backend openvino --precision int8 needs NNCF, which is not installed: {INSTALL}"
    return None


class OpenVinoPredictor:
    name = RUNTIME

    def __init__(self, path: Path, threads: int | None, weights: Path | None = None):
        """`weights`: the .bin, where it is not `path` with its suffix replaced (a staged file)."""
        import openvino as ov

        config: dict[str, object] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            core = ov.Core()
            model = core.read_model(str(path), str(weights) if weights else None)
            self.compiled = core.compile_model(model, "CPU", config)
        except Exception as error:
            raise InputError(f"{path} does not load as an OpenVINO IR ({root_cause(error)}); recompile it with `mc compile`") from None
        self.request = self.compiled.create_infer_request()
        self.outputs = list(self.compiled.outputs)

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        results = self.request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        return [np.array(results[output]) for output in self.outputs]


@dataclass(frozen=True)
class OpenVinoModel:
    """What the sidecar says about an IR."""

    precision: str
    sample_shape: tuple[int, ...]


def read_ir(path: Path) -> OpenVinoModel:
    from mc.artifact import read_record

    path = Path(path)
    if not path.is_file():
        raise InputError(f"OpenVINO IR not found: {path}: check the path, or build it with `mc compile --backend openvino`")
    if not path.with_suffix(".bin").is_file():
        raise InputError(f"{path} has no weights beside it ({path.with_suffix('.bin').name}): an OpenVINO IR travels as .xml and .bin")
    record = read_record(path)
    if record is None or record.pass_.name != "compile":
        raise InputError(f"{path} has no `mc compile` sidecar ({path}.json): mc needs it for the input shape; recompile it")
    return OpenVinoModel(record.pass_.config.get("precision", "fp32"), tuple(int(dim) for dim in record.model["input_shape"]))


def open_ir(path: Path, threads: int | None, weights: Path | None = None) -> OpenVinoPredictor:
    problem = missing()
    if problem:
        raise BackendUnavailable(f"{path} cannot run here: {problem}")
    return OpenVinoPredictor(path, threads, weights)
