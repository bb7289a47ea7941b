"""The `ort-cuda` and `ort-tensorrt` backends: an ONNX file bound to ONNX Runtime's GPU execution providers.

ONNX Runtime builds its GPU kernels (and TensorRT its engines) when a session starts, so what `mc
compile` saves is the ONNX model as that provider should run it, with the binding written into the
file's metadata (so the file alone says how to run it) and into the sidecar:
- ort-cuda fp16: the graph converted to float16 (numerically sensitive ops and the I/O stay fp32);
- ort-tensorrt fp16: TensorRT's fp16 mode on the fp32 graph;
- ort-tensorrt int8: TensorRT's implicit int8 with a calibration table made here, by ONNX Runtime's
  calibrator on real samples (MinMax over every tensor), embedded in the file as ORT's flatbuffers
  table. At load it is written beside TensorRT's engine cache, where the provider looks for it.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mc.compilation._backend import BuildRequest, Built, CompileBackend, register_backend
from mc.runtimes.availability import missing
from mc.runtimes.ort_binding import KEY_BACKEND, KEY_PRECISION, KEY_PROFILE, KEY_TABLE, TABLE_NAME


def calibration_table(model_path: Path, samples: np.ndarray, input_name: str) -> tuple[bytes, int]:
    """ORT's TensorRT calibration table for `model_path` (flatbuffers bytes) and how many tensors it covers."""
    from onnxruntime.quantization.calibrate import CalibrationDataReader, CalibrationMethod, create_calibrator
    from onnxruntime.quantization.quant_utils import write_calibration_table

    batches = iter([{input_name: np.ascontiguousarray(samples[start : start + 64], dtype=np.float32)} for start in range(0, len(samples), 64)])

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(batches, None)

    with tempfile.TemporaryDirectory(prefix="mc-calibrate-") as tmp:
        calibrator = create_calibrator(
            model_path, None, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=CalibrationMethod.MinMax, providers=["CPUExecutionProvider"],
        )
        calibrator.collect_data(Reader())
        ranges = calibrator.compute_data()
        table = {name: value for name, value in ranges.items()}
        write_calibration_table(table, dir=tmp)
        return (Path(tmp) / TABLE_NAME).read_bytes(), len(table)


def prepare(
    source: Path, output: Path, backend: str, precision: str, opt_batch: int, max_batch: int,
    calibration: np.ndarray | None, input_name: str,
) -> dict[str, Any]:
    """Write the bound ONNX model to `output`; returns the binding (for the sidecar)."""
    import onnx

    binding: dict[str, Any] = {"backend": backend, "precision": precision, "batch_profile": [1, opt_batch, max_batch]}
    if backend == "ort-cuda" and precision == "fp16":
        from mc.quantization.apply import convert_float16
        from mc.quantization.scheme import Float16Step

        step = Float16Step()
        convert_float16(step, source, output)
        binding["fp16"] = step.label()
    else:
        shutil.copyfile(source, output)
    metadata = {KEY_BACKEND: backend, KEY_PRECISION: precision, KEY_PROFILE: f"1,{opt_batch},{max_batch}"}
    if backend == "ort-tensorrt" and precision == "int8":
        if calibration is None:
            raise ValueError("int8 needs calibration samples")
        table, tensors = calibration_table(source, calibration, input_name)
        metadata[KEY_TABLE] = base64.b64encode(table).decode("ascii")
        binding["calibration"] = {"method": "MinMax (ONNX Runtime calibrator)", "samples": int(len(calibration)), "tensors": tensors}
    model = onnx.load(str(output))
    kept = [prop for prop in model.metadata_props if not prop.key.startswith("mc.compile.")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(output))
    return binding


def build(request: BuildRequest, backend: str) -> Built:
    from mc.runtimes import open_onnx

    source = request.source
    binding = prepare(source.path, request.output, backend, request.precision, request.opt_batch, request.max_batch,  # type: ignore[union-attr]
                      request.calibration, source.input_names[0])  # type: ignore[union-attr]
    predictor = open_onnx(request.output, threads=None, input_name=source.input_names[0], sample_shape=source.sample_shape)  # type: ignore[union-attr]
    return Built(predictor, binding)


for _name, _runtime, _precisions, _what in (
    ("ort-cuda", "onnxruntime-cuda", ("fp32", "fp16"), "ONNX Runtime's CUDA execution provider"),
    ("ort-tensorrt", "onnxruntime-tensorrt", ("fp32", "fp16", "int8"), "ONNX Runtime's TensorRT execution provider (int8: a calibration table)"),
):
    register_backend(CompileBackend(
        name=_name, runtime=_runtime, suffix=".onnx", kind="onnx", precisions=_precisions, devices=("cuda",),
        extra="pip uninstall onnxruntime && pip install 'mc[gpu]'",
        check_available=lambda precision, device, _name=_name: missing(_name, precision, device),  # type: ignore[misc]
        build=lambda request, _name=_name: build(request, _name), takes="onnx", description=_what,
    ))
