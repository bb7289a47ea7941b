"""Building one variant: its chain of passes, each step served from the artifact cache when an
identical step (same parent content, pass, config, inputs, versions) already ran.

A step that fails ends its variant with the reason; a step whose backend this host lacks marks the
variant unavailable; either way the other variants go on.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mc.data.evaluation import EvaluationData, evaluation_data
from mc.errors import BackendUnavailable, McError
from mc.hashing import sha256_file
from mc.progress import Progress
from mc.recipes.cache import ArtifactCache, cache_key
from mc.recipes.schema import Recipe, Step
from mc.recipes.steps import Stage, produced_stage, stage_of_source
from mc.targets import TargetProfile

FILE_NAMES = {"torch": "model.pt", "onnx": "model.onnx"}


@dataclass(frozen=True)
class Artifact:
    """A model at one point of a chain: the recipe's source (path None) or a cached file."""

    stage: Stage
    sha256: str
    path: Path | None


@dataclass
class StepRun:
    pass_name: str
    config: dict[str, Any]
    key: str
    sha256: str | None
    cached: bool
    seconds: float


@dataclass
class VariantBuild:
    name: str
    status: str = "ok"  # ok | failed | unavailable
    error: str | None = None
    failed_step: str | None = None
    steps: list[StepRun] = field(default_factory=list)
    artifact: Path | None = None


class ChainContext:
    """What every step of a recipe shares: the source model, data, calibration set and target."""

    def __init__(self, recipe: Recipe, target: TargetProfile, threads: int, progress: Progress, debug: bool = False) -> None:
        self.recipe = recipe
        self.debug = debug
        self.target = target
        self.threads = threads
        self.progress = progress
        self.data_path = Path(recipe.data) if recipe.data else None
        self.calibration_path = Path(recipe.calibration) if recipe.calibration else None
        self._evaluation: dict[tuple[int, ...], EvaluationData] = {}

    @cached_property
    def input_shape(self) -> tuple[int, ...] | None:
        from mc.models.source import parse_input_shape

        return parse_input_shape(self.recipe.input_shape) if self.recipe.input_shape else None

    @cached_property
    def source(self) -> Artifact:
        """The recipe's model, loaded once up front: a bad model is an input error before any work."""
        model = self.recipe.model
        if stage_of_source(model) == "onnx":
            from mc.onnx_file import load_onnx_model

            onnx_model = load_onnx_model(Path(model))
            return Artifact("onnx", onnx_model.sha256 or sha256_file(onnx_model.path), None)
        torch_model = self.load_torch(None)
        digest = torch_model.sha256 or f"unhashed:{model}"
        return Artifact("torch", digest, None)

    def load_torch(self, artifact: Artifact | None):
        from mc.models.source import load_torch_model

        spec = str(artifact.path) if artifact is not None and artifact.path is not None else self.recipe.model
        return load_torch_model(spec, self.input_shape)

    def load_onnx(self, artifact: Artifact):
        from mc.onnx_file import load_onnx_model

        return load_onnx_model(artifact.path if artifact.path is not None else Path(self.recipe.model))

    def evaluation(self, sample_shape: tuple[int, ...]) -> EvaluationData:
        if tuple(sample_shape) not in self._evaluation:
            self._evaluation[tuple(sample_shape)] = evaluation_data(tuple(sample_shape), self.data_path)
        return self._evaluation[tuple(sample_shape)]

    def calibration(self, sample_shape: tuple[int, ...]) -> np.ndarray | None:
        from mc.quantization.request import default_calibration

        if self.calibration_path is None:
            return default_calibration(sample_shape)
        from mc.data.samples import load_samples

        return load_samples(self.calibration_path, sample_shape).x

    def calibration_digest(self) -> str:
        if self.calibration_path is None:
            return "shipped MNIST-1D calibration set (512, seed 0)"
        return sha256_file(self.calibration_path) if self.calibration_path.is_file() else str(self.calibration_path)

    def step_inputs(self, step: Step, parent: Artifact, first: bool) -> dict[str, Any]:
        """Everything besides the parent and the config that the step's output depends on."""
        inputs: dict[str, Any] = {"data": self._data_digest()}
        if first:
            inputs["source"] = {"model": self.recipe.model, "input_shape": self.recipe.input_shape}
        name, config = step.pass_name, step.config
        measures_time = (name == "quantize" and getattr(config, "mode", None) == "auto") or (
            name == "prune" and getattr(config, "target_speedup", None) is not None) or name == "compile"
        if name in ("quantize", "compile"):
            inputs["target"] = self.target.model_dump(mode="json", exclude={"source"})
            inputs["threads"] = self.threads
        if uses_calibration(step):
            inputs["calibration"] = self.calibration_digest()
        if name == "distill":
            student = getattr(config, "student", None)
            inputs["student"] = {"spec": student, "sha256": sha256_file(Path(student)) if student and Path(student).is_file() else None}
        if measures_time:  # a measured search is only valid where it was measured
            inputs["host"] = {"node": platform.node(), "machine": platform.machine(), "processor": platform.processor()}
        return inputs

    def _data_digest(self) -> str:
        if self.data_path is None:
            return "MNIST-1D test set (mnist1d defaults)"
        return sha256_file(self.data_path) if self.data_path.is_file() else str(self.data_path)


def uses_calibration(step: Step) -> bool:
    """Static and auto int8 read the calibration set (so its content is part of their cache key);
    dynamic int8, fp16 and fp32 steps never touch it."""
    config = step.config
    if step.pass_name == "quantize":
        return config.backend == "onnxruntime" and config.mode in ("static", "auto")
    return step.pass_name == "compile" and config.precision == "int8"


def _run_pass(step: Step, parent: Artifact, output: Path, context: ChainContext) -> None:
    """Run one pass from `parent` into `output` (which the pass publishes with its sidecar)."""
    from mc.passes import run_pass

    name, config = step.pass_name, step.config
    progress = context.progress
    if name == "export":
        model = context.load_torch(parent)
        run_pass(config, model, output, context.evaluation(model.sample_shape), progress)
    elif name == "prune":
        run_pass(config, context.load_torch(parent), output, progress)
    elif name == "distill":
        _distill(step, parent, output, context)
    elif name == "quantize" and config.backend == "torch":
        from mc.passes.torch_quantize import TorchDynamicQuantizeConfig

        if config.mode != "dynamic":
            raise McError(f"backend torch supports mode dynamic only (got {config.mode}); use onnxruntime for {config.mode}")
        model = context.load_torch(parent)
        run_pass(TorchDynamicQuantizeConfig(), model, output, context.evaluation(model.sample_shape), progress)
    elif name == "quantize":
        from mc.quantization.request import quantize_onnx

        model = context.load_onnx(parent)
        calibration = context.calibration(model.sample_shape) if uses_calibration(step) else None
        quantize_onnx(config, model, output, context.target, calibration,
                      context.evaluation(model.sample_shape), context.threads, progress, context.data_path)
    elif name == "compile":
        source = context.load_onnx(parent) if parent.stage == "onnx" else context.load_torch(parent)
        shape = source.sample_shape
        calibration = context.calibration(shape) if uses_calibration(step) else None
        run_pass(config, source, output, context.evaluation(shape), calibration, progress)
    else:  # the loader only lets known passes through
        raise McError(f"no runner for pass {name!r}")


def _distill(step: Step, parent: Artifact, output: Path, context: ChainContext) -> None:
    import torch

    from mc.models.source import is_zoo_spec, load_torch_model, untrained_zoo_model
    from mc.passes import run_pass
    from mc.passes.distill import scaled_student

    config = step.config
    teacher = context.load_torch(parent)
    torch.manual_seed(config.seed)
    if config.width_mult is not None:
        student = scaled_student(teacher, config.width_mult)
    elif is_zoo_spec(config.student):
        student = untrained_zoo_model(config.student)
    else:
        student = load_torch_model(config.student)
    run_pass(config.distill_config(), teacher, student, output, context.progress)


def check_step_available(step: Step) -> None:
    """Raise BackendUnavailable before any work when this host cannot run the step."""
    if step.pass_name == "compile":
        from mc.passes.compile import check_available

        check_available(step.config)


def build_variant(name: str, steps: tuple[Step, ...], context: ChainContext, cache: ArtifactCache) -> VariantBuild:
    build = VariantBuild(name)
    try:
        for step in steps:
            check_step_available(step)
    except BackendUnavailable as error:
        build.status, build.error, build.failed_step = "unavailable", f"unavailable on this host: {error}", step.pass_name
        return build
    current = context.source
    for index, step in enumerate(steps):
        config_json = step.config_json()
        key = cache_key(current.sha256, step.pass_name, config_json, context.step_inputs(step, current, index == 0))
        stage = produced_stage(step.pass_name, step.config, current.stage)
        began = time.perf_counter()
        hit = cache.lookup(key)
        try:
            if hit is None:
                file_name = _file_name(step, stage)
                with cache.produce(key, file_name, {"pass": step.pass_name, "config": config_json, "parent": current.sha256}) as output:
                    _run_pass(step, current, output, context)
                hit = cache.lookup(key)
                if hit is None:
                    raise McError(f"the {step.pass_name} step's output vanished from the cache at {cache.root}")
                cached = False
            else:
                cached = True
        except BackendUnavailable as error:
            build.status, build.error, build.failed_step = "unavailable", f"unavailable on this host: {error}", step.pass_name
            return build
        except McError as error:
            build.status, build.error, build.failed_step = "failed", f"{step.pass_name}: {error}", step.pass_name
            return build
        except Exception as error:  # a bug or a library's failure: this variant fails, the others go on
            detail = (str(error).strip().splitlines() or [""])[0][:300]
            build.status, build.failed_step = "failed", step.pass_name
            build.error = f"{step.pass_name}: {type(error).__name__}: {detail} (rerun with --debug for the traceback)"
            if context.debug:  # --debug: the traceback matters more than the other variants
                raise
            return build
        build.steps.append(StepRun(step.pass_name, config_json, key, hit.sha256, cached,
                                   0.0 if cached else time.perf_counter() - began))
        current = Artifact(stage, hit.sha256, hit.path)
    build.artifact = current.path
    return build


def _file_name(step: Step, stage: Stage) -> str:
    if stage == "compiled":
        return f"model{step.config.suffix}"
    return FILE_NAMES[stage]
