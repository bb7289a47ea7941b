"""Where a recipe's work runs: the executor builds the variants (every step through the cache) and
runs the bench of the side-by-side comparison. `LocalExecutor` does both here, one step after
another, as `mc run` always has; `mc.recipes.executor_ray.RayExecutor` fans the same steps out over
a Ray cluster. The runner holds the rest (selection, publishing the run, the report), the same for
both, so a report does not depend on where its variants were built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from mc.errors import InputError
from mc.progress import Progress
from mc.recipes.cache import ArtifactCache
from mc.recipes.chain import ChainContext, VariantBuild, build_variant

EXECUTORS = ("local", "ray")

# The runner's bench of one comparison, a picklable callable (it may run on another machine):
# (artifact paths by variant name, progress, log) -> (bench result, side-by-side timing).
BenchCall = Callable[..., "tuple[dict[str, Any] | None, dict[str, Any] | None]"]


class Executor(Protocol):
    def build(self, names: list[str], context: ChainContext, cache: ArtifactCache, progress: Progress,
              log: Callable[[str], None]) -> list[VariantBuild]:
        """Every named variant built (or failed, with its reason), in the order of `names`."""

    def bench(self, call: BenchCall, artifact_paths: dict[str, str], target: str, progress: Progress,
              log: Callable[[str], None]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Run the comparison's bench where it measures true."""

    def close(self) -> None:
        """Release what the executor started (a local Ray)."""


class LocalExecutor:
    """Today's behaviour: each variant built in turn on this machine, the bench run here."""

    def build(self, names: list[str], context: ChainContext, cache: ArtifactCache, progress: Progress,
              log: Callable[[str], None]) -> list[VariantBuild]:
        builds: list[VariantBuild] = []
        with progress.task("building variants", total=len(names)) as task:
            for name in names:
                task.advance(0, name)
                build = build_variant(name, context.recipe.variants[name], context, cache)
                builds.append(build)
                log(describe_build(build))
                task.advance(1, "")
        return builds

    def bench(self, call: BenchCall, artifact_paths: dict[str, str], target: str, progress: Progress,
              log: Callable[[str], None]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return call(artifact_paths, progress, log)

    def close(self) -> None:
        pass


def open_executor(name: str, address: str | None = None, debug: bool = False, shared_cache=None) -> Executor:
    """The executor `mc run --executor NAME` asks for (Ray imported only when asked for);
    `shared_cache`: a cache folder every node of the cluster mounts at that path."""
    if name == "local":
        if address is not None:
            raise InputError("--address is for --executor ray (the Ray cluster to connect to)")
        return LocalExecutor()
    if name == "ray":
        from mc.recipes.executor_ray import RayExecutor

        return RayExecutor(address, debug=debug, shared_cache=shared_cache)
    raise InputError(f"--executor {name}: choose {' or '.join(EXECUTORS)}")


def describe_build(build: VariantBuild) -> str:
    if build.status != "ok":
        return f"{build.name}: {build.status}: {build.error}"
    steps = ", ".join(f"{step.pass_name}{' (cached)' if step.cached else f' {step.seconds:.0f} s'}" for step in build.steps)
    return f"{build.name}: built ({steps})"
