"""The `compile` pass: a model compiled for a GPU backend (or, for torch-compile, this CPU), verified
against its source before it is published.

Backends (see mc.compilation): `tensorrt` (Torch-TensorRT dynamo path -> `.ep`), `torch-compile`
(AOTInductor -> `.pt2`), `ort-cuda` and `ort-tensorrt` (ONNX Runtime GPU providers -> `.onnx`).
`check_available` says, before anything loads, whether this host can do it: a missing backend is
BackendUnavailable (exit 2, one line with how to install it), and the recipe runner marks such a
variant "unavailable on this host" instead of failing.

Verification: the compiled artifact is loaded back the way `mc bench` loads it and run on the
evaluation data at batch 256 and batch 1. fp32 must match the source within `tolerance`; fp16 and
int8 must agree with the source's top-1 on at least `min_agreement` of the samples. Below that the
compile fails (exit 1) and nothing is written.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from mc.artifact import Artifact, Kind, Lineage, build_record, publish_artifact, read_record
from mc.atomic import staged_file
from mc.runtimes.availability import Backend, Device, Precision, missing
from mc.data.evaluation import EvaluationData
from mc.errors import BackendUnavailable, CheckFailed, InputError, McError
from mc.metrics import classification_report
from mc.models.source import OnnxModel, TorchModel
from mc.passes._context import PassContext
from mc.passes._contract import PassConfig
from mc.passes._registry import register_pass
from mc.progress import Progress
from mc.runtimes import Predictor, predict_all

SUFFIX = {"tensorrt": ".ep", "torch-compile": ".pt2", "ort-cuda": ".onnx", "ort-tensorrt": ".onnx"}
KIND = {"tensorrt": "tensorrt-program", "torch-compile": "aoti-package", "ort-cuda": "onnx", "ort-tensorrt": "onnx"}


class CompileConfig(PassConfig):
    pass_name: ClassVar[str] = "compile"

    backend: Backend
    precision: Precision = "fp32"
    device: Device = Field("cuda", description="cuda, or cpu (torch-compile only: an AOTInductor build for this CPU)")
    opt_batch: int = Field(1, ge=1, le=65536, description="batch size TensorRT tunes its kernels for")
    max_batch: int = Field(1024, ge=2, le=65536, description="largest batch the compiled artifact accepts")
    tolerance: float | None = Field(
        None, gt=0, description="fp32: largest allowed |source - compiled| on any output [default: 1e-3 on CPU, 1e-2 on CUDA]"
    )
    min_agreement: float = Field(0.97, gt=0, le=1, description="fp16/int8: least top-1 agreement with the source")
    calibration_samples: int = Field(256, ge=16, le=100_000, description="int8: calibration samples used")
    eval_batch: int = Field(256, ge=1, description="batch size of the parity run")

    @model_validator(mode="after")
    def _combinations(self) -> "CompileConfig":
        if self.device == "cpu" and self.backend != "torch-compile":
            raise ValueError(f"--device cpu works only with --backend torch-compile ({self.backend} runs on an NVIDIA GPU)")
        if self.precision == "int8" and self.backend in ("torch-compile", "ort-cuda"):
            raise ValueError(
                f"--precision int8 is not offered for {self.backend}: use --backend tensorrt (ModelOpt) or "
                "ort-tensorrt (calibration table), or `mc quantize` for CPU int8"
            )
        if self.precision == "fp16" and self.device == "cpu":
            raise ValueError("--precision fp16 needs --device cuda (CPUs here have no fast fp16 arithmetic)")
        if self.opt_batch > self.max_batch:
            raise ValueError(f"--opt-batch {self.opt_batch} is larger than --max-batch {self.max_batch}")
        return self

    @property
    def fp32_tolerance(self) -> float:
        """On CUDA, cuDNN convolutions and ONNX Runtime's CUDA kernels use TF32 math by default (10-bit
        mantissa inputs): 1e-2 there; 1e-3 on the CPU."""
        if self.tolerance is not None:
            return self.tolerance
        return 1e-3 if self.device == "cpu" else 1e-2

    @property
    def suffix(self) -> str:
        return SUFFIX[self.backend]

    @property
    def takes_onnx(self) -> bool:
        return self.backend.startswith("ort-")

    def accepts(self) -> tuple[Kind, ...]:
        # Torch-TensorRT and torch.compile take a torch model; the ORT providers take ONNX (or export torch first)
        return ("torch", "onnx") if self.takes_onnx else ("torch",)

    def produces(self, given: Kind) -> Kind:
        return "compiled"

    def refusal(self, given: Kind) -> str | None:
        if given == "onnx" and not self.takes_onnx:
            return (f"an ONNX model; --backend {self.backend} compiles a torch model (zoo name, checkpoint or factory): "
                    "pass that, or use --backend ort-tensorrt / ort-cuda for ONNX files")
        return super().refusal(given)

    def reads(self, given: Kind):
        # engines and kernels are tuned to the device that built them
        return frozenset({"data", "host", "target"} | ({"calibration"} if self.precision == "int8" else set()))

    def output_name(self, kind: Kind) -> str:
        return f"model{self.suffix}"

    def check_output(self, output: Path, kind: Kind) -> None:
        check_output(self, output)

    def check_available(self) -> None:
        """Raise BackendUnavailable (one line: what is missing, how to install it) unless this host can run it."""
        check_available(self)

    def resources(self) -> dict[str, float]:
        return {"CPU": 1} if self.device == "cpu" else {"CPU": 1, "GPU": 1}  # engines build on the GPU they run on

    def summary(self) -> str:
        return f"compiled {self.backend} {self.precision}"


def check_available(config: CompileConfig) -> None:
    problem = missing(config.backend, config.precision, config.device)
    if problem:
        raise BackendUnavailable(problem)


def check_output(config: CompileConfig, output: Path) -> None:
    if output.suffix != config.suffix:
        raise InputError(f"-o {output}: a {config.backend} artifact must end in {config.suffix}")


def _source_predictor(source: TorchModel | OnnxModel) -> Predictor:
    if isinstance(source, OnnxModel):
        from mc.runtimes import open_onnx

        return open_onnx(source.path, threads=None)
    from mc.runtimes.torch_eager import TorchPredictor

    return TorchPredictor(source.module)


def _max_abs(reference: list[np.ndarray], candidate: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(ref.astype(np.float64) - got.astype(np.float64)))) if ref.size else 0.0
               for ref, got in zip(reference, candidate))


def _parity(config: CompileConfig, reference: Predictor, compiled: Predictor, data: EvaluationData) -> dict[str, Any]:
    expected = predict_all(reference, data.x, config.eval_batch)
    got = predict_all(compiled, data.x, config.eval_batch)
    if len(got) != len(expected):
        raise CheckFailed(f"the compiled model returns {len(got)} outputs, the source {len(expected)}; nothing was written")
    single = _max_abs(reference.predict(data.x[:1]), compiled.predict(data.x[:1]))
    worst = max(_max_abs(expected, got), single)
    agreement = float(np.mean(np.argmax(expected[0].reshape(len(data.x), -1), axis=1) == np.argmax(got[0].reshape(len(data.x), -1), axis=1)))
    parity: dict[str, Any] = {
        "max_abs_diff": worst,
        "top1_agreement": agreement,
        "batch_sizes_checked": sorted({1, min(config.eval_batch, len(data.x))}),
        "samples": int(len(data.x)),
        "data": data.description,
    }
    if config.precision == "fp32":
        tolerance = config.fp32_tolerance
        parity.update(gate="max_abs_diff", tolerance=tolerance, passed=worst <= tolerance)
        if not parity["passed"]:
            raise CheckFailed(
                f"parity check failed: max |source - compiled| is {worst:.3g} > tolerance {tolerance:g}; "
                "nothing was written (raise --tolerance only if that error is acceptable)"
            )
    else:
        parity.update(gate="top1_agreement", min_agreement=config.min_agreement, passed=agreement >= config.min_agreement)
        if not parity["passed"]:
            raise CheckFailed(
                f"{config.precision} agrees with the source on {agreement:.1%} of top-1 predictions < --min-agreement "
                f"{config.min_agreement:.1%}; nothing was written"
            )
    if data.y is not None and len(got) == 2:
        parity["accuracy"] = {
            "source": classification_report(expected[0], expected[1], data.y),
            "compiled": classification_report(got[0], got[1], data.y, reference_logits=expected[0]),
        }
    return parity


def _export_onnx(source: TorchModel, workdir: Path, data: EvaluationData, progress: Progress) -> OnnxModel:
    """The ONNX backends take ONNX: a torch source goes through the export pass (parity-checked) first."""
    from mc.onnx_file import load_onnx_model
    from mc.passes.export import ExportConfig, export_torch

    path = workdir / "source.onnx"
    export_torch(ExportConfig(), source, path, data, progress)
    return load_onnx_model(path)


def _build(
    config: CompileConfig, source: TorchModel | OnnxModel, staged: Path, calibration: np.ndarray | None,
) -> tuple[Predictor, dict[str, Any]]:
    """Compile into `staged`, then load it back as the bench will; (predictor, settings for the sidecar)."""
    from mc.runtimes import open_compiled_program, open_onnx

    if isinstance(source, OnnxModel):
        from mc.compilation import ort

        binding = ort.prepare(
            source.path, staged, config.backend, config.precision, config.opt_batch, config.max_batch,
            calibration, source.input_names[0],
        )
        return open_onnx(staged, threads=None, input_name=source.input_names[0], sample_shape=source.sample_shape), binding
    module = copy.deepcopy(source.module)  # compilation moves, casts or quantizes it; the source stays the reference
    if config.backend == "torch-compile":
        from mc.compilation.aoti import compile_package

        compile_package(module, source.sample_shape, config.device, config.precision, config.max_batch, staged)
        settings: dict[str, Any] = {"compiler": "AOTInductor", "dynamic_batch": [1, config.max_batch]}
    else:
        from mc.compilation.tensorrt import compile_program

        settings = compile_program(module, source.sample_shape, config.precision, config.opt_batch, config.max_batch, calibration, staged)
    return open_compiled_program(staged, config.backend, config.precision, config.device), settings


def _guarded_build(
    config: CompileConfig, source: TorchModel | OnnxModel, staged: Path, calibration: np.ndarray | None,
) -> tuple[Predictor, dict[str, Any]]:
    """The compilers log and warn at length; a failure becomes one line naming the innermost cause."""
    import contextlib
    import io
    import warnings

    from mc.errors import root_cause
    from mc.logs import quiet_torch_loggers

    captured = io.StringIO()
    try:
        with warnings.catch_warnings(), quiet_torch_loggers(), contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            warnings.simplefilter("ignore")
            return _build(config, source, staged, calibration)
    except (McError, KeyboardInterrupt):
        raise
    except Exception as error:
        name = source.path if isinstance(source, OnnxModel) else source.display_name
        raise InputError(
            f"{name} cannot be compiled with --backend {config.backend} --precision {config.precision} "
            f"({root_cause(error)}); rerun with --debug for the compiler's full report"
        ) from error


def _model_info(source: TorchModel | OnnxModel, config: CompileConfig) -> dict[str, Any]:
    if isinstance(source, OnnxModel):
        record = read_record(source.path)
        info = dict(record.model) if record else {}
        info.update(input_shape=list(source.sample_shape), inputs=source.input_names, outputs=source.output_names)
    else:
        from mc.models.stats import count_parameters

        info = {**source.origin, "input_shape": list(source.sample_shape), "parameters": count_parameters(source.module)}
    info["compiled_for"] = {"backend": config.backend, "precision": config.precision, "device": config.device}
    return info


@register_pass(CompileConfig)
def run(config: CompileConfig, artifact: Artifact, output: Path, ctx: PassContext) -> Artifact:
    check_available(config)
    check_output(config, output)
    source: TorchModel | OnnxModel = ctx.onnx_model(artifact) if artifact.kind == "onnx" else ctx.torch_model(artifact)
    if any(dim <= 0 for dim in source.sample_shape):
        raise InputError(f"{artifact.location} has symbolic input dimensions {source.sample_shape}; re-export it with `mc export`")
    data, progress = ctx.evaluation(source.sample_shape), ctx.progress
    calibration = ctx.calibration(source.sample_shape) if config.precision == "int8" else None
    if isinstance(source, OnnxModel) and not config.takes_onnx:
        raise InputError(
            f"{source.path} is ONNX; --backend {config.backend} compiles a torch model (zoo name, checkpoint or factory): "
            "pass that, or use --backend ort-tensorrt / ort-cuda for ONNX files"
        )
    if config.precision == "int8" and calibration is None:
        raise InputError("--precision int8 needs calibration data: pass --calibration PATH (.npz/.npy/folder)")
    if calibration is not None:
        calibration = calibration[: config.calibration_samples]
    parent = Lineage(source=str(source.path) if isinstance(source, OnnxModel) else source.description, sha256=source.sha256)
    info = _model_info(source, config)
    with tempfile.TemporaryDirectory(prefix="mc-compile-") as tmp:
        if config.takes_onnx and isinstance(source, TorchModel):
            source = _export_onnx(source, Path(tmp), data, progress)
        reference = _source_predictor(source)
        with progress.task(f"compile ({config.backend}, {config.precision})", total=2) as task, staged_file(output) as staged:
            began = time.perf_counter()
            compiled, settings = _guarded_build(config, source, staged, calibration)
            compile_s = time.perf_counter() - began
            task.advance(1, status="parity")
            parity = _parity(config, reference, compiled, data)
            metrics = {"parity": parity, "compile_s": compile_s, "settings": settings}
            record = build_record(
                kind=KIND[config.backend], file=staged, final_name=output.name, model=info, parent=parent,
                pass_name=CompileConfig.pass_name, pass_config=config.model_dump(mode="json"), metrics=metrics,
            )
            publish_artifact(staged, output, record)
            task.advance(1, status="done")
    return Artifact("compiled", str(output), record.sha256, output, record)
