"""How an ONNX file bound by `mc compile` to ONNX Runtime's GPU providers says so, and the providers
(with their options) it then runs on: the binding is written into the file's metadata, so the file
alone says how to run it. `mc.compilation.ort` writes it; the opener reads it.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from mc.paths import mc_home

KEY_BACKEND = "mc.compile.backend"
KEY_PRECISION = "mc.compile.precision"
KEY_PROFILE = "mc.compile.batch_profile"  # "min,opt,max" batch sizes for TensorRT's optimisation profile
KEY_TABLE = "mc.compile.trt_int8_calibration_table"  # base64 of ORT's calibration.flatbuffers
TABLE_NAME = "calibration.flatbuffers"


def read_binding(path: Path) -> dict[str, str] | None:
    """The `mc.compile.*` metadata of an ONNX file, or None for a plain (CPU) ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    found = {prop.key: prop.value for prop in model.metadata_props if prop.key.startswith("mc.compile.")}
    return found or None


def _shape(input_name: str, batch: int, sample_shape: tuple[int, ...]) -> str:
    return f"{input_name}:" + "x".join(str(dim) for dim in (batch, *sample_shape))


def providers(binding: dict[str, str], sha256: str, input_name: str, sample_shape: tuple[int, ...]) -> list[Any]:
    """ONNX Runtime providers (with options) for a bound file; CPU last, for ops no GPU provider takes."""
    cuda = ("CUDAExecutionProvider", {"device_id": 0})
    if binding[KEY_BACKEND] == "ort-cuda":
        return [cuda, "CPUExecutionProvider"]
    precision = binding[KEY_PRECISION]
    low, opt, high = (int(value) for value in binding.get(KEY_PROFILE, "1,1,1024").split(","))
    cache = mc_home() / "tensorrt-cache" / sha256[:16]
    cache.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "device_id": 0,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_fp16_enable": precision in ("fp16", "int8"),
        "trt_profile_min_shapes": _shape(input_name, low, sample_shape),
        "trt_profile_opt_shapes": _shape(input_name, opt, sample_shape),
        "trt_profile_max_shapes": _shape(input_name, high, sample_shape),
    }
    if precision == "int8":
        (cache / TABLE_NAME).write_bytes(base64.b64decode(binding[KEY_TABLE]))
        options.update(trt_int8_enable=True, trt_int8_calibration_table_name=TABLE_NAME, trt_int8_use_native_calibration_table=False)
    return [("TensorrtExecutionProvider", options), cuda, "CPUExecutionProvider"]
