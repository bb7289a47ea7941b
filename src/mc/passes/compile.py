"""The `compile` pass: a model compiled for a backend (a GPU, or this CPU), verified against its
source before it is published.

Backends are a registry (see mc.compilation): each backend module says what it builds (suffix,
precisions, devices, the runtime that opens it, what it compiles: torch or ONNX) and how; this pass
reads that entry and never switches on a backend's name. `check_available` says, before anything
loads, whether this host can do it: a missing backend is BackendUnavailable (exit 2, one line with
how to install it), and the recipe runner marks such a variant "unavailable on this host" instead
of failing.

Verification: the compiled artifact is loaded back the way `mc bench` loads it and run on the
evaluation data at batch 256 and batch 1. fp32 must match the source within `tolerance`; fp16 and
int8 must agree with the source's top-1 on at least `min_agreement` of the samples. Below that the
compile fails (exit 1) and nothing is written.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from mc.artifact import Artifact, Kind, Lineage, build_record, companion_files, publish_artifact, read_record
from mc.atomic import staged_file
from mc.compilation import BuildRequest, Built, CompileBackend, compile_backends, get_backend
from mc.data.evaluation import EvaluationData
from mc.errors import BackendUnavailable, CheckFailed, InputError, McError
from mc.metrics import classification_report
from mc.models.source import OnnxModel, TorchModel
from mc.passes._context import PassContext
from mc.passes._contract import PassConfig
from mc.passes._registry import register_pass
from mc.progress import Progress
from mc.runtimes import Predictor, predict_all

Precision = Literal["fp32", "fp16", "int8"]


class CompileConfig(PassConfig):
    pass_name: ClassVar[str] = "compile"

    backend: str = Field(description="a registered compile backend (mc.compilation): tensorrt, torch-compile, ort-cuda, ...")
    precision: Precision = "fp32"
    device: str = Field("", description="cuda or cpu [default: the backend's first device: cuda for GPU backends, cpu for executorch/openvino]")
    opt_batch: int = Field(1, ge=1, le=65536, description="batch size TensorRT tunes its kernels for")
    max_batch: int = Field(1024, ge=1, le=65536, description="largest batch the compiled artifact accepts (1, where the backend offers it: a static program for one frame a call)")
    tolerance: float | None = Field(
        None, gt=0, description="fp32: largest allowed |source - compiled| on any output [default: 1e-3 on CPU, 1e-2 on CUDA]"
    )
    min_agreement: float = Field(0.97, gt=0, le=1, description="fp16/int8: least top-1 agreement with the source")
    calibration_samples: int = Field(256, ge=16, le=100_000, description="int8: calibration samples used")
    eval_batch: int = Field(256, ge=1, description="batch size of the parity run")
    int8_mode: Literal["static", "dynamic"] = Field(
        "static", description="int8: static (activations calibrated on samples) or dynamic (quantized per call), where the backend offers it"
    )
    fp32_modules: tuple[str, ...] = Field((), description="int8: modules (qualified names) kept in fp32, where the backend can")
    max_accuracy_drop: float | None = Field(
        None, ge=0, le=100, description="int8: accuracy budget in points for an accuracy-controlled quantization, where the backend has one"
    )

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, name: str) -> str:
        get_backend(name)  # ValueError listing the known ones
        return name

    @model_validator(mode="before")
    @classmethod
    def _default_device(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("device") and isinstance(values.get("backend"), str):
            try:
                values = {**values, "device": get_backend(values["backend"]).devices[0]}
            except ValueError:
                pass  # the backend's own validator names it
        return values

    @model_validator(mode="after")
    def _combinations(self) -> "CompileConfig":
        backend = self.compile_backend
        if self.device not in backend.devices:
            offering = [other.name for other in compile_backends() if self.device in other.devices]
            raise ValueError(
                f"--device {self.device} is not offered for --backend {self.backend} (it runs on {', '.join(backend.devices)}); "
                + (f"--device {self.device} works only with --backend {', '.join(offering)}" if offering else f"no backend runs on {self.device}")
            )
        if self.precision not in backend.precisions:
            offering = [other.name for other in compile_backends() if self.precision in other.precisions]
            raise ValueError(
                f"--precision {self.precision} is not offered for {self.backend} (it offers {', '.join(backend.precisions)}): "
                f"use --backend {' or '.join(offering)}" + (", or `mc quantize` for CPU int8" if self.precision == "int8" else "")
            )
        if self.int8_mode != "static" and (self.precision != "int8" or self.int8_mode not in backend.int8_modes):
            raise ValueError(f"--int8-mode {self.int8_mode} is offered only with --precision int8 on --backend "
                             f"{' or '.join(b.name for b in compile_backends() if self.int8_mode in b.int8_modes)}")
        for option, value in (("fp32_modules", self.fp32_modules), ("max_accuracy_drop", self.max_accuracy_drop)):
            if value and option not in backend.options:
                flag = "--" + option.replace("_", "-")
                offering = [b.name for b in compile_backends() if option in b.options]
                raise ValueError(f"{flag} is not offered for {self.backend}" + (f": use --backend {' or '.join(offering)}" if offering else ""))
            if value and self.precision != "int8":
                raise ValueError(f"--{option.replace('_', '-')} applies to --precision int8 only")
        refusal = backend.refuse(self.precision, self.device, self.int8_mode) if backend.refuse else None
        if refusal:
            raise ValueError(refusal)
        if self.opt_batch > self.max_batch:
            raise ValueError(f"--opt-batch {self.opt_batch} is larger than --max-batch {self.max_batch}")
        if self.max_batch == 1 and "batch_one" not in backend.options:
            offering = [b.name for b in compile_backends() if "batch_one" in b.options]
            raise ValueError(f"--max-batch 1 (a program for one frame a call) is not offered for {self.backend}: give "
                             f"--max-batch 2 or more" + (f", or use --backend {' or '.join(offering)}" if offering else ""))
        return self

    @property
    def compile_backend(self) -> CompileBackend:
        return get_backend(self.backend)

    @property
    def fp32_tolerance(self) -> float:
        """On CUDA, cuDNN convolutions and ONNX Runtime's CUDA kernels use TF32 math by default (10-bit
        mantissa inputs): 1e-2 there; 1e-3 on the CPU."""
        if self.tolerance is not None:
            return self.tolerance
        return 1e-3 if self.device == "cpu" else 1e-2

    @property
    def suffix(self) -> str:
        return self.compile_backend.suffix

    @property
    def takes_onnx(self) -> bool:
        return self.compile_backend.takes == "onnx"

    def accepts(self) -> tuple[Kind, ...]:
        # a backend that compiles ONNX takes an ONNX file, or exports a torch model first
        return self.compile_backend.accepts  # type: ignore[return-value]

    def produces(self, given: Kind) -> Kind:
        return self.compile_backend.artifact_kind  # type: ignore[return-value]

    @property
    def calibrates(self) -> bool:
        return self.precision == "int8" and self.int8_mode == "static"

    def refusal(self, given: Kind) -> str | None:
        if given == "onnx" and not self.takes_onnx:
            return (f"an ONNX model; --backend {self.backend} compiles a torch model (zoo name, checkpoint or factory): "
                    f"pass that, or use --backend {' / '.join(_onnx_backends())} for ONNX files")
        return super().refusal(given)

    def reads(self, given: Kind):
        # engines and kernels are tuned to the device that built them
        return frozenset({"data", "host", "target"} | ({"calibration"} if self.calibrates else set()))

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


def _onnx_backends() -> list[str]:
    return [backend.name for backend in compile_backends() if backend.takes == "onnx"]


def check_available(config: CompileConfig) -> None:
    problem = config.compile_backend.check_available(config.precision, config.device)
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


def _build(config: CompileConfig, request: BuildRequest) -> Built:
    """Compile into the staged file, then load it back as the bench will."""
    return config.compile_backend.build(request)


def _guarded_build(config: CompileConfig, request: BuildRequest) -> Built:
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
            return _build(config, request)
    except (McError, KeyboardInterrupt):
        raise
    except Exception as error:
        source = request.source
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


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


@register_pass(CompileConfig)
def run(config: CompileConfig, artifact: Artifact, output: Path, ctx: PassContext) -> Artifact:
    check_available(config)
    check_output(config, output)
    source: TorchModel | OnnxModel = ctx.onnx_model(artifact) if artifact.kind == "onnx" else ctx.torch_model(artifact)
    if any(dim <= 0 for dim in source.sample_shape):
        raise InputError(f"{artifact.location} has symbolic input dimensions {source.sample_shape}; re-export it with `mc export`")
    data, progress = ctx.evaluation(source.sample_shape), ctx.progress
    calibration = ctx.calibration(source.sample_shape) if config.calibrates else None
    if isinstance(source, OnnxModel) and not config.takes_onnx:
        raise InputError(
            f"{source.path} is ONNX; --backend {config.backend} compiles a torch model (zoo name, checkpoint or factory): "
            f"pass that, or use --backend {' / '.join(_onnx_backends())} for ONNX files"
        )
    if config.calibrates and calibration is None:
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
            request = BuildRequest(
                source=source, module=copy.deepcopy(source.module) if isinstance(source, TorchModel) else None,
                output=staged, precision=config.precision, device=config.device, opt_batch=config.opt_batch,
                max_batch=config.max_batch, calibration=calibration, evaluation=data, int8_mode=config.int8_mode,
                fp32_modules=config.fp32_modules, max_accuracy_drop=config.max_accuracy_drop,
                selection=ctx.selection(source.sample_shape) if config.max_accuracy_drop is not None else None,
            )
            staged_companions = [staged.with_suffix(path.suffix) for path in companion_files(output)]  # beside the staged file
            try:
                built = _guarded_build(config, request)
            except BaseException:
                _remove(staged_companions)
                raise
            compile_s = time.perf_counter() - began
            task.advance(1, status="parity")
            parity = _parity(config, reference, built.predictor, data)
            metrics = {"parity": parity, "compile_s": compile_s, "settings": built.settings}
            try:
                record = build_record(
                    kind=config.compile_backend.kind, file=staged, final_name=output.name, model=info, parent=parent,
                    pass_name=CompileConfig.pass_name, pass_config=config.model_dump(mode="json"), metrics=metrics,
                    companions=staged_companions,
                )
                for staged_companion, final in zip(staged_companions, companion_files(output)):
                    os.replace(staged_companion, final)  # the weights first: whoever sees the .xml finds its .bin
                publish_artifact(staged, output, record)
            except BaseException:
                _remove(staged_companions)
                raise
            task.advance(1, status="done")
    return Artifact(config.compile_backend.artifact_kind, str(output), record.sha256, output, record)  # type: ignore[arg-type]
