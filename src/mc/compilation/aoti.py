"""The `torch-compile` backend: torch.export, then AOTInductor into a self-contained `.pt2` package.

`torch.compile` itself compiles in the process that runs the model and keeps nothing; AOTInductor
runs the same Inductor compiler ahead of time and saves the result (generated C++/CUDA kernels in a
shared library), so the artifact can be benched, shipped and loaded without recompiling. It builds
for CUDA (Triton kernels) or for this CPU (C++), whichever device the example input lives on.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mc.compilation._backend import BuildRequest, Built, CompileBackend, register_backend
from mc.runtimes.availability import missing

if TYPE_CHECKING:
    from torch import nn

PACKAGE_NAME = "model.pt2"


def compile_package(
    module: "nn.Module", sample_shape: tuple[int, ...], device: str, precision: str, max_batch: int, output: Path
) -> None:
    """Export `module` with a dynamic batch axis (traced at batch 2: a batch-1 example specialises it) and
    write the AOTInductor package to `output` (any name: it is built under a .pt2 name, then moved)."""
    import torch

    dtype = torch.float16 if precision == "fp16" else torch.float32
    module = module.to(device=device, dtype=dtype).eval()
    example = torch.zeros((2, *sample_shape), dtype=dtype, device=device)
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    with torch.no_grad():
        program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    with tempfile.TemporaryDirectory(prefix="mc-aoti-") as tmp:
        built = torch._inductor.aoti_compile_and_package(program, package_path=str(Path(tmp) / PACKAGE_NAME))
        shutil.copyfile(built, output)



def build(request: BuildRequest) -> Built:
    from mc.runtimes import open_compiled_program

    assert request.module is not None
    compile_package(request.module, request.source.sample_shape, request.device, request.precision, request.max_batch, request.output)
    predictor = open_compiled_program(request.output, "torch-compile", request.precision, request.device)
    return Built(predictor, {"compiler": "AOTInductor", "dynamic_batch": [1, request.max_batch]})


def _refuse(precision: str, device: str, int8_mode: str) -> str | None:
    if precision == "fp16" and device == "cpu":
        return "--precision fp16 needs --device cuda (CPUs here have no fast fp16 arithmetic)"
    return None


register_backend(CompileBackend(
    name="torch-compile", runtime="torch-compile", suffix=".pt2", kind="aoti-package", precisions=("fp32", "fp16"),
    devices=("cuda", "cpu"), extra="apt-get install g++ (AOTInductor builds C++)",
    check_available=lambda precision, device: missing("torch-compile", precision, device),  # type: ignore[arg-type]
    build=build, description="AOTInductor: a saved, compiled package for CUDA or this CPU", refuse=_refuse,
))
