"""The `tensorrt` backend: Torch-TensorRT's dynamo path, saved as an exported program (`.ep`).

Precision on the dynamo path (Torch-TensorRT 2.13+, where `enabled_precisions` is gone): the engine
is strongly typed, so fp32 is the model as it is (TF32 off, so fp32 means fp32); fp16 is Torch-
TensorRT's autocast (`enable_autocast` with float16: inputs and outputs stay float32, and layers whose
outputs overflow or reductions run deep stay fp32); int8 is ModelOpt's post-training quantization
(QDQ nodes calibrated on real samples), compiled under ModelOpt's export mode.

The batch axis is dynamic: one optimisation profile from batch 1 to `max_batch`, tuned at `opt_batch`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mc.compilation._backend import BuildRequest, Built, CompileBackend, register_backend
from mc.runtimes.availability import missing, tensorrt_install_hint
from mc.versions import distribution_version

if TYPE_CHECKING:
    from torch import nn

CALIBRATION_BATCH = 64


def _calibrate_int8(module: "nn.Module", calibration: np.ndarray) -> None:
    import modelopt.torch.quantization as mtq
    import torch

    samples = torch.from_numpy(np.ascontiguousarray(calibration, dtype=np.float32)).cuda()

    def forward_loop(model: "nn.Module") -> None:
        with torch.no_grad():
            for start in range(0, len(samples), CALIBRATION_BATCH):
                model(samples[start : start + CALIBRATION_BATCH])

    mtq.quantize(module, mtq.INT8_DEFAULT_CFG, forward_loop=forward_loop)


def compile_program(
    module: "nn.Module",
    sample_shape: tuple[int, ...],
    precision: str,
    opt_batch: int,
    max_batch: int,
    calibration: np.ndarray | None,
    output: Path,
) -> dict[str, Any]:
    """Compile `module` with TensorRT and save it to `output`; returns the settings used (for the sidecar)."""
    import contextlib

    import torch
    import torch_tensorrt

    module = module.cuda().eval()
    # torch.export traces Input's example tensor, by default one of opt_shape: at batch 1 it would
    # specialise the batch axis to 1 (and fail as "marked dynamic but specialized"), so trace at batch 2.
    inputs = [
        torch_tensorrt.Input(
            min_shape=(1, *sample_shape), opt_shape=(opt_batch, *sample_shape), max_shape=(max_batch, *sample_shape),
            dtype=torch.float32, torch_tensor=torch.zeros((2, *sample_shape), device="cuda"),
        )
    ]
    settings: dict[str, Any] = {"min_block_size": 1}
    mode: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if precision == "fp32":
        settings["disable_tf32"] = True
    elif precision == "fp16":
        settings.update(enable_autocast=True, autocast_low_precision_type=torch.float16)
    elif precision == "int8":
        from modelopt.torch.quantization.utils import export_torch_mode

        if calibration is None:
            raise ValueError("int8 needs calibration samples")
        _calibrate_int8(module, calibration)
        mode = export_torch_mode()
    with mode:
        compiled = torch_tensorrt.compile(module, ir="dynamo", arg_inputs=inputs, **settings)
        with tempfile.TemporaryDirectory(prefix="mc-trt-") as tmp:
            saved = Path(tmp) / "model.ep"
            torch_tensorrt.save(compiled, str(saved), output_format="exported_program", arg_inputs=inputs)
            shutil.copyfile(saved, output)
    return {
        "ir": "dynamo",
        "profile": {"min": [1, *sample_shape], "opt": [opt_batch, *sample_shape], "max": [max_batch, *sample_shape]},
        **{key: (str(value) if not isinstance(value, (bool, int, float)) else value) for key, value in settings.items()},
        "quantization": "modelopt INT8_DEFAULT_CFG" if precision == "int8" else None,
    }



def build(request: BuildRequest) -> Built:
    from mc.runtimes import open_compiled_program

    assert request.module is not None
    settings = compile_program(request.module, request.source.sample_shape, request.precision, request.opt_batch, request.max_batch,
                               request.calibration, request.output)
    return Built(open_compiled_program(request.output, "tensorrt", request.precision, "cuda"), settings)


register_backend(CompileBackend(
    name="tensorrt", runtime="tensorrt", suffix=".ep", kind="tensorrt-program", precisions=("fp32", "fp16", "int8"),
    devices=("cuda",), extra=tensorrt_install_hint(distribution_version("torch")),
    check_available=lambda precision, device: missing("tensorrt", precision, device),  # type: ignore[arg-type]
    build=build, description="Torch-TensorRT (dynamo path; int8 through NVIDIA ModelOpt)",
))
