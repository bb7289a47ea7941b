"""Building one variant: its chain of passes, each step served from the artifact cache when an
identical step (same parent content, pass, config, the content of every input it reads, versions)
already ran. Nothing here knows a pass by name: each pass's config declares what it takes, what
it makes, what it reads and whether it can run on this host (`mc.passes.PassConfig`).

A step that fails ends its variant with the reason; a step whose backend this host lacks marks the
variant unavailable; either way the other variants go on. Two things end the whole run instead,
since every variant would meet them alike: an interrupt (Ctrl-C, SIGTERM; also when a library
wrapped it in an error of its own) and a cache that cannot be written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from mc.artifact import Artifact
from mc.errors import BackendUnavailable, InputError, McError
from mc.hashing import sha256_path
from mc.passes import PassContext, run_pass, source_artifact
from mc.processes import interrupt_in
from mc.progress import Progress
from mc.recipes.cache import ArtifactCache, CachedArtifact, CacheUnwritable, cache_key
from mc.recipes.schema import Recipe, Step
from mc.targets import TargetProfile


@dataclass
class StepRun:
    pass_name: str
    config: dict[str, Any]
    key: str
    sha256: str | None
    cached: bool
    seconds: float
    summary: str = ""
    trains: bool = False
    chosen_by_timing: bool = False


@dataclass
class VariantBuild:
    name: str
    status: str = "ok"  # ok | failed | unavailable
    error: str | None = None
    failed_step: str | None = None
    steps: list[StepRun] = field(default_factory=list)
    artifact: Path | None = None
    kind: str | None = None


class ChainContext:
    """What every step of a recipe shares: the source model and the passes' context."""

    def __init__(self, recipe: Recipe, target: TargetProfile, threads: int, progress: Progress, debug: bool = False) -> None:
        from mc.models.source import parse_input_shape

        self.recipe, self.debug = recipe, debug
        self.passes = PassContext(
            target=target, threads=threads, progress=progress,
            data_path=Path(recipe.data) if recipe.data else None,
            calibration_path=Path(recipe.calibration) if recipe.calibration else None,
            corpus_path=Path(recipe.corpus) if recipe.corpus else None,
            input_shape=parse_input_shape(recipe.input_shape) if recipe.input_shape else None,
        )

    @property
    def threads(self) -> int:
        return self.passes.threads

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        return self.passes.input_shape

    @cached_property
    def source(self) -> Artifact:
        """The recipe's model, loaded once up front: a bad model is an input error before any work."""
        return source_artifact(self.recipe.model, self.passes.input_shape)

    @cached_property
    def declared_inputs(self) -> dict[str, str]:
        """The content of the files the recipe's `inputs:` names (a factory's weights): mc cannot
        see what user code reads, so the recipe says, and every step's key covers it."""
        digests = {}
        for path in self.recipe.inputs:
            if not Path(path).exists():
                raise InputError(f"{self.recipe.source}: inputs: {path} no longer exists")
            digests[path] = sha256_path(Path(path))
        return digests

    def step_inputs(self, step: Step, parent: Artifact, first: bool) -> dict[str, Any]:
        """Everything besides the parent and the config that the step's output depends on."""
        inputs = self.passes.input_digests(step.config.reads(parent.kind))
        inputs.update(step.config.named_inputs())
        if self.recipe.inputs:
            inputs["declared_inputs"] = self.declared_inputs
        if first:
            inputs["source"] = {"model": self.recipe.model, "input_shape": self.recipe.input_shape}
        return inputs


def step_key(context: ChainContext, step: Step, current: Artifact, index: int) -> tuple[str, str]:
    """The cache key of a step given its parent, and the kind of model it makes."""
    key = cache_key(current.sha256, step.pass_name, step.config_json(), context.step_inputs(step, current, index == 0))
    return key, step.config.produces(current.kind)


def step_failure(step_name: str, error: BaseException, debug: bool = False) -> tuple[str, str]:
    """(status, reason) of a step that raised `error`: unavailable or failed, so its variant ends
    while the others go on. What must end the whole run instead is raised again: an interrupt
    (also when a library wrapped it in an error of its own), a cache that cannot be written, and,
    under --debug, a bug (its traceback matters more than the other variants)."""
    if isinstance(error, CacheUnwritable):
        raise error
    if isinstance(error, BackendUnavailable):
        return "unavailable", f"unavailable on this host: {error}"
    if (interrupt := interrupt_in(error)) is not None:
        raise interrupt from None
    if isinstance(error, McError):
        return "failed", f"{step_name}: {error}"
    if debug:
        raise error
    detail = (str(error).strip().splitlines() or [""])[0][:300]
    return "failed", f"{step_name}: {type(error).__name__}: {detail} (rerun with --debug for the traceback)"


def record_step(build: VariantBuild, step: Step, key: str, kind: str, hit: CachedArtifact, cached: bool, seconds: float) -> Artifact:
    """Add a finished step to its variant's lineage; the artifact the next step takes."""
    config = step.config
    build.steps.append(StepRun(step.pass_name, step.config_json(), key, hit.sha256, cached, 0.0 if cached else seconds,
                               config.summary(), config.trains(), config.chosen_by_timing()))
    return Artifact(kind, str(hit.path), hit.sha256, hit.path)  # type: ignore[arg-type]


def unavailable_step(steps: tuple[Step, ...]) -> tuple[str, str] | None:
    """(pass, reason) of the first step this host cannot run, checked before any work."""
    for step in steps:
        try:
            step.config.check_available()
        except BackendUnavailable as error:
            return step.pass_name, f"unavailable on this host: {error}"
    return None


def build_variant(name: str, steps: tuple[Step, ...], context: ChainContext, cache: ArtifactCache) -> VariantBuild:
    build = VariantBuild(name)
    if (missing := unavailable_step(steps)) is not None:
        build.status, build.failed_step, build.error = "unavailable", missing[0], missing[1]
        return build
    current = context.source
    for index, step in enumerate(steps):
        key, kind = step_key(context, step, current, index)
        began = time.perf_counter()
        try:
            hit = cache.lookup(key)
            cached = hit is not None
            if hit is None:
                with cache.produce(key, step.config.output_name(kind), {"pass": step.pass_name, "config": step.config_json(),
                                                                        "parent": current.sha256}) as output:
                    run_pass(step.config, current, output, replace(context.passes, cache=cache))
                hit = cache.lookup(key)
                if hit is None:
                    raise McError(f"the {step.pass_name} step's output vanished from the cache at {cache.root}")
        except Exception as error:  # a bug or a library's failure too: this variant fails, the others go on
            build.status, build.error = step_failure(step.pass_name, error, context.debug)
            build.failed_step = step.pass_name
            return build
        current = record_step(build, step, key, kind, hit, cached, time.perf_counter() - began)
    build.artifact, build.kind = current.path, current.kind
    return build
