"""`mc run --executor ray`: a recipe's steps as Ray tasks, its bench as one task placed where it
measures true. Ray is imported only here, only when asked for (`pip install 'mc[ray]'`).

Building. The driver walks every variant's chain as the local executor does, but instead of running
a step it submits it as a task with the resources its pass declares (`PassConfig.resources()`),
and goes on with every other variant. A step's cache key needs its parent's content hash, so a
step is submitted when its parent is built; a key already in flight is not submitted again: the
variant waits on the same task (futures keyed by cache key on the driver), so two variants sharing
a prefix build it once even when scheduled at the same moment, and a key already in the driver's
cache is not submitted at all. Artifacts travel as bytes through Ray's object store (the parent to
the task, the result back) and are published into the driver's cache by the cache's own atomic
publisher (`mc.recipes.transfer`): no shared filesystem is needed. With a shared cache (`mc run
--cache DIR`, a folder every node mounts at the same path) nothing travels: a task reads its parent
where it is and publishes its artifact into the cache itself (the same atomic publisher), and the
driver verifies the entry as every lookup does.

Timing-chosen steps (a `quantize: {mode: auto}` search, `optimize`) run on the driver's node, since
their cache key names the host they were timed on. A search fans out: its step task is a coordinator
that builds and judges its candidates as one-CPU tasks anywhere in the cluster and times each batch
as one task taking all of the driver node's CPUs (`mc.recipes.fanout_ray`); a search that times
inside its own process (prune's latency-chosen amount) asks for the whole node instead.

Faults. A task whose worker dies is retried (`max_retries`); after that its variant (and every
variant waiting on the same step) is failed with the reason while the others complete. Ctrl-C or
SIGTERM cancels every outstanding task (`ray.cancel(force=True)`) and unwinds as a local run does:
the cache publishes only finished entries and the run folder is renamed into place only when whole.

Bench. The comparison's bench is one task: on a node that carries the target's Ray resource (a
Raspberry Pi 5 joined with `--resources '{"pi5": 1}'`) when the cluster has one, else on a node
labelled `bench`, else on the driver's node; each time with all of that node's CPUs, so nothing
shares its cores. The bench records the node it ran on.
"""

from __future__ import annotations

import os
import platform
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mc.artifact import Artifact
from mc.errors import InputError, McError
from mc.progress import Progress, SilentProgress
from mc.recipes.cache import ArtifactCache, CacheUnwritable
from mc.recipes.chain import ChainContext, VariantBuild, record_step, step_failure, step_key, unavailable_step
from mc.recipes.executor import BenchCall, describe_build
from mc.recipes.fanout_ray import MAX_RETRIES, WAIT_S, RayFanOut, cancel_tasks, import_ray
from mc.recipes.schema import Step
from mc.recipes.transfer import Packed, pack, publish, unpack

BENCH_RESOURCE = "bench"  # a node labelled for benching: `ray start ... --resources '{"bench": 1}'`


@dataclass(frozen=True)
class StepOutcome:
    """What a step task sends back: the artifact as bytes, or why the step did not make one."""

    status: str  # ok | failed | unavailable
    packed: Packed | None = None
    error: str | None = None
    seconds: float = 0.0
    node: str = ""


@dataclass(frozen=True)
class Shipped:
    """What a step task needs of its parent besides its bytes: how to name it on the worker."""

    kind: str
    spec: str
    sha256: str
    spec_is_path: bool  # a cache entry is named by its path; a zoo model keeps its name
    factory: str | None = None  # `file.py:function`: the file travels as the parent, the function is named here


def factory_file(artifact: Artifact) -> tuple[Path, str] | None:
    """(file, function) of a `path/to/file.py:function` model with no checkpoint: the file travels
    to the worker (a module importable everywhere, `package.module:function`, does not need to)."""
    if artifact.kind != "torch" or artifact.path is not None:
        return None
    from mc.models.source import factory_file as file_of

    return file_of(artifact.spec)


@dataclass
class _Cursor:
    build: VariantBuild
    steps: tuple[Step, ...]
    current: Artifact
    index: int = 0
    kind: str | None = None


@dataclass
class _InFlight:
    ref: Any
    step: Step
    key: str
    kind: str
    file_name: str
    description: dict[str, Any]
    waiters: list[_Cursor] = field(default_factory=list)


def _worker_inputs(inputs: dict[str, Packed], directory: Path) -> dict[str, Path]:
    return {name: unpack(packed, directory / name) for name, packed in inputs.items()}


@dataclass(frozen=True)
class SharedEntry:
    """With a shared cache (`mc run --cache DIR` mounted at that path on every node): where the
    task publishes its artifact itself, instead of sending it back."""

    root: str
    key: str
    description: dict[str, Any]


def run_step_task(config, parent: Packed | str | None, shipped: Shipped, inputs: dict[str, Packed], target, threads: int,
                  input_shape, file_name: str, pass_name: str, timing_node: str, shared: SharedEntry | None = None) -> StepOutcome:
    """One step on a Ray worker: the parent and the recipe's data files unpacked into a temporary
    folder (a parent in a shared cache read where it is), the pass run through the one pass verb,
    its artifact packed for the driver, or published into the shared cache. A search in the step
    fans its candidates out as tasks and times them on `timing_node` (the driver's)."""
    from mc.passes import PassContext, run_pass

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mc-ray-step-") as tmp:
        folder = Path(tmp)
        try:
            local = _worker_inputs(inputs, folder / "inputs")
            source_path = (Path(parent) if isinstance(parent, str) else
                           unpack(parent, folder / "parent") if parent is not None else None)
            spec = str(source_path) if (shipped.spec_is_path and source_path is not None) else shipped.spec
            if shipped.factory is not None and source_path is not None:  # the factory's file, arrived here
                spec, source_path = f"{source_path}:{shipped.factory}", None
            source = Artifact(shipped.kind, spec, shipped.sha256, source_path)  # type: ignore[arg-type]
            ctx = PassContext(target=target, threads=threads, progress=SilentProgress(), data_path=local.get("data"),
                              calibration_path=local.get("calibration"), corpus_path=local.get("corpus"), input_shape=input_shape,
                              fan_out=RayFanOut(timing_node))
            if shared is not None:
                cache = ArtifactCache(Path(shared.root))
                with cache.produce(shared.key, file_name, shared.description) as output:
                    run_pass(config, source, output, ctx)
                return StepOutcome("ok", seconds=time.perf_counter() - began, node=platform.node())
            output = folder / "out" / file_name
            output.parent.mkdir()
            run_pass(config, source, output, ctx)
            return StepOutcome("ok", pack(output), seconds=time.perf_counter() - began, node=platform.node())
        except Exception as error:  # the driver fails this variant with the reason; the others go on
            status, reason = step_failure(pass_name, error)
            return StepOutcome(status, error=reason, seconds=time.perf_counter() - began, node=platform.node())


def run_bench_task(call: BenchCall, packed: dict[str, Any], placement: str) -> tuple[Any, Any, list[str], dict[str, str]]:
    """The comparison's bench on the node Ray placed it on: the artifacts unpacked there, the
    runner's bench run on them, and paths in the result mapped back to the driver's."""
    import ray

    names = list(packed)
    values = ray.get([packed[name] for name in names])
    messages: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mc-ray-bench-") as tmp:
        local = {}
        for name, value in zip(names, values):
            suffix = "".join(Path(value.name).suffixes)
            local[name] = str(unpack(value, Path(tmp) / "artifacts", f"{name}{suffix}"))
        bench, timing = call(local, SilentProgress(), messages.append)
    node = {"hostname": platform.node(), "ray_node_id": ray.get_runtime_context().get_node_id(), "placement": placement,
            "cpus": str(os.cpu_count())}
    return bench, timing, messages, {**node, **{f"path:{path}": name for name, path in local.items()}}


def _remap(value: Any, paths: dict[str, str]) -> Any:
    """Every string naming a remote artifact path, named by the driver's path instead."""
    if isinstance(value, dict):
        return {key: _remap(item, paths) for key, item in value.items()}
    if isinstance(value, list):
        return [_remap(item, paths) for item in value]
    if isinstance(value, str):
        for remote, driver in paths.items():
            if remote in value:
                value = value.replace(remote, driver)
    return value


class RayExecutor:
    """Builds and benches a recipe on Ray: a local Ray started for the run (and shut down after)
    when no address is given, else the cluster at `address`; a Ray already initialised in this
    process (a notebook, the tests) is used as it is and left running."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None, max_retries: int = MAX_RETRIES,
                 debug: bool = False, shared_cache: Path | None = None) -> None:
        ray = import_ray()
        self.ray, self.max_retries, self.debug = ray, max_retries, debug
        self.shared_cache = Path(shared_cache).resolve() if shared_cache is not None else None
        self.owned = not ray.is_initialized()
        if self.owned:
            on_sigterm = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
            try:
                if address is not None:
                    ray.init(address=address, log_to_driver=False)
                else:
                    ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
            except ConnectionError as error:
                raise InputError(f"--address {address}: cannot connect to a Ray cluster there ({error})") from None
            finally:
                if on_sigterm is not None:  # ray.init makes SIGTERM exit at once; mc's own unwinds like Ctrl-C
                    signal.signal(signal.SIGTERM, on_sigterm)
        self.step_remote = ray.remote(run_step_task)
        self.bench_remote = ray.remote(run_bench_task)
        self.cluster: list[dict[str, Any]] | None = None  # the nodes, read once per build (not once per step)

    def close(self) -> None:
        if self.owned and self.ray.is_initialized():
            self.ray.shutdown()

    # --- the cluster ----------------------------------------------------------------------------
    def _nodes(self) -> list[dict[str, Any]]:
        if self.cluster is not None:
            return self.cluster
        return [node for node in self.ray.nodes() if node.get("Alive")]

    def _driver_node(self) -> str:
        return self.ray.get_runtime_context().get_node_id()

    def _node_cpus(self, node_id: str) -> float:
        return next((node["Resources"].get("CPU", 0.0) for node in self._nodes() if node["NodeID"] == node_id), 0.0)

    def task_options(self, resources: dict[str, float], pin_to_driver: bool = False) -> dict[str, Any]:
        """Ray options for a task asking `resources`: a CPU request larger than the node it may run
        on takes that whole node; a resource no node offers is an error rather than a task that
        would wait forever."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = self._nodes()
        options: dict[str, Any] = {"max_retries": self.max_retries, "retry_exceptions": False}
        if pin_to_driver and self._node_cpus(self._driver_node()) >= 1:
            cpus = min(resources.get("CPU", 1.0), self._node_cpus(self._driver_node()))
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(self._driver_node(), soft=False)
        else:
            cpus = min(resources.get("CPU", 1.0), max((node["Resources"].get("CPU", 0.0) for node in nodes), default=1.0))
        options["num_cpus"] = cpus
        if resources.get("GPU"):
            options["num_gpus"] = resources["GPU"]
        custom = {name: amount for name, amount in resources.items() if name not in ("CPU", "GPU")}
        if custom:
            options["resources"] = custom
        for name, amount in {"CPU": cpus, **({"GPU": resources["GPU"]} if resources.get("GPU") else {}), **custom}.items():
            if not any(node["Resources"].get(name, 0.0) >= amount for node in nodes):
                raise McError(f"no node of the Ray cluster offers {name} {amount:g}")
        return options

    # --- building -------------------------------------------------------------------------------
    def build(self, names: list[str], context: ChainContext, cache: ArtifactCache, progress: Progress,
              log: Callable[[str], None]) -> list[VariantBuild]:
        ray = self.ray
        self.cluster = None
        self.cluster = self._nodes()
        builds = {name: VariantBuild(name) for name in names}
        in_flight: dict[str, _InFlight] = {}
        shipped_refs: dict[str, Any] = {}  # artifact sha256 -> its bytes in the object store, put once
        inputs_ref = ray.put({name: pack(path) for name, path in (("data", context.passes.data_path),
                                                                   ("calibration", context.passes.calibration_path),
                                                                   ("corpus", context.passes.corpus_path)) if path is not None})
        done: list[str] = []
        shared_root = str(cache.root) if self.shared_cache is not None and Path(cache.root).resolve() == self.shared_cache else None

        def parent_ref(artifact: Artifact) -> Any:
            if (factory := factory_file(artifact)) is not None:
                key = f"factory:{artifact.sha256}"
                if key not in shipped_refs:
                    shipped_refs[key] = ray.put(pack(factory[0]))
                return shipped_refs[key]
            if artifact.path is None:
                return None
            if shared_root is not None and Path(shared_root).resolve() in Path(artifact.path).resolve().parents:
                return str(artifact.path)  # every node reads it where it is
            if artifact.sha256 not in shipped_refs:
                shipped_refs[artifact.sha256] = ray.put(pack(Path(artifact.path)))
            return shipped_refs[artifact.sha256]

        def fail(cursor: _Cursor, step: Step, status: str, reason: str) -> None:
            cursor.build.status, cursor.build.error, cursor.build.failed_step = status, reason, step.pass_name
            finish(cursor)

        def finish(cursor: _Cursor) -> None:
            if cursor.build.status == "ok":
                cursor.build.artifact, cursor.build.kind = cursor.current.path, cursor.current.kind
            log(describe_build(cursor.build))
            done.append(cursor.build.name)

        def advance(cursor: _Cursor) -> None:
            """Walk the variant's chain from where it stands until a step must be built (submitted,
            or already in flight for another variant) or the chain ends."""
            while cursor.index < len(cursor.steps):
                step = cursor.steps[cursor.index]
                key, kind = step_key(context, step, cursor.current, cursor.index)
                if key in in_flight:
                    in_flight[key].waiters.append(cursor)
                    return
                hit = cache.lookup(key)
                if hit is not None:
                    cursor.current = record_step(cursor.build, step, key, kind, hit, True, 0.0)
                    cursor.index += 1
                    continue
                try:
                    options = self.task_options(step.config.resources(), pin_to_driver=step.config.chosen_by_timing())
                except McError as error:
                    fail(cursor, step, "unavailable", f"{step.pass_name}: {error}")
                    return
                current = cursor.current
                factory = factory_file(current)
                shipped = Shipped(current.kind, current.spec, current.sha256, current.path is not None and current.spec == str(current.path),
                                  factory[1] if factory else None)
                file_name = step.config.output_name(kind)  # type: ignore[arg-type]
                description = {"pass": step.pass_name, "config": step.config_json(), "parent": current.sha256}
                shared = SharedEntry(shared_root, key, description) if shared_root is not None else None
                ref = self.step_remote.options(**options).remote(
                    step.config, parent_ref(current), shipped, inputs_ref, context.passes.target, context.threads,
                    context.input_shape, file_name, step.pass_name, self._driver_node(), shared)
                in_flight[key] = _InFlight(ref, step, key, kind, file_name, description, [cursor])
                return
            finish(cursor)

        def settle(flight: _InFlight) -> None:
            """A step task ended: publish its artifact into the cache, move its variants on."""
            try:
                outcome: StepOutcome = ray.get(flight.ref)
            except ray.exceptions.TaskCancelledError:
                raise KeyboardInterrupt from None
            except ray.exceptions.RayError as error:  # the worker died (after the retries) or the task could not run
                detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
                outcome = StepOutcome("failed", error=f"{flight.step.pass_name}: {type(error).__name__} "
                                                      f"(after {self.max_retries} retries): {detail}")
            if outcome.status == "ok" and (outcome.packed is not None or shared_root is not None):
                try:
                    if outcome.packed is not None:
                        hit = publish(cache, flight.key, outcome.packed, flight.file_name, flight.description)
                    elif (hit := cache.lookup(flight.key)) is None:  # type: ignore[assignment]
                        raise RuntimeError(f"the node {outcome.node} published no sound entry in the shared cache "
                                           f"{shared_root}: is it mounted at that path on every node?")
                except CacheUnwritable:
                    raise
                except Exception as error:  # what came back does not verify: this step's variants fail, not the run
                    for cursor in flight.waiters:
                        fail(cursor, flight.step, "failed", f"{flight.step.pass_name}: {type(error).__name__}: {error}")
                    return
                for position, cursor in enumerate(flight.waiters):  # the first asked for it; the others found it built
                    cursor.current = record_step(cursor.build, flight.step, flight.key, flight.kind, hit, position > 0,
                                                 outcome.seconds)
                    cursor.index += 1
                    advance(cursor)
            else:
                for cursor in flight.waiters:
                    fail(cursor, flight.step, outcome.status, outcome.error or "failed")

        cursors = []
        for name in names:
            steps = context.recipe.variants[name]
            cursor = _Cursor(builds[name], steps, context.source)
            if (missing := unavailable_step(steps)) is not None:
                cursor.build.status, cursor.build.failed_step, cursor.build.error = "unavailable", missing[0], missing[1]
                finish(cursor)
                continue
            cursors.append(cursor)
        try:
            with progress.task("building variants (ray)", total=len(names)) as task:
                for cursor in cursors:
                    advance(cursor)
                while in_flight:
                    by_ref = {flight.ref: flight for flight in in_flight.values()}
                    ready, _ = ray.wait(list(by_ref), num_returns=1, timeout=WAIT_S)
                    for ref in ready:
                        flight = by_ref[ref]
                        del in_flight[flight.key]
                        settle(flight)
                    task.advance(0, f"{len(done)} of {len(names)} variants, {len(in_flight)} step(s) running")
                task.advance(len(names), "")
        except BaseException:  # Ctrl-C, SIGTERM, an unwritable cache: nothing may run on for a dead run
            self.cancel([flight.ref for flight in in_flight.values()])
            raise
        finally:
            self.cluster = None
        return [builds[name] for name in names]

    def cancel(self, refs: list[Any]) -> None:
        cancel_tasks(self.ray, refs)

    # --- the bench ------------------------------------------------------------------------------
    def bench_placement(self, target: str) -> tuple[dict[str, Any], str]:
        """Options and a description for the comparison's one bench task: the target's own node,
        else a bench node, else the driver's node; with all of that node's CPUs."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = self._nodes()
        for resource, why in ((target, f"a node with the {target} resource"), (BENCH_RESOURCE, "a node labelled bench")):
            carrying = [node for node in nodes if node["Resources"].get(resource, 0.0) >= 1]
            if carrying:
                cpus = min(node["Resources"].get("CPU", 0.0) for node in carrying)
                return {"num_cpus": cpus, "resources": {resource: 1}, "max_retries": self.max_retries}, why
        driver = self._driver_node()
        cpus = self._node_cpus(driver)
        if cpus >= 1:
            return ({"num_cpus": cpus, "max_retries": self.max_retries,
                     "scheduling_strategy": NodeAffinitySchedulingStrategy(driver, soft=False)}, "the driver's node")
        largest = max(nodes, key=lambda node: node["Resources"].get("CPU", 0.0))
        return ({"num_cpus": largest["Resources"].get("CPU", 1.0), "max_retries": self.max_retries,
                 "scheduling_strategy": NodeAffinitySchedulingStrategy(largest["NodeID"], soft=False)}, "the largest node")

    def bench(self, call: BenchCall, artifact_paths: dict[str, str], target: str, progress: Progress,
              log: Callable[[str], None]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if not artifact_paths:
            return call(artifact_paths, progress, log)  # nothing to place: the runner says so
        ray = self.ray
        options, placement = self.bench_placement(target)
        packed = {name: ray.put(pack(Path(path))) for name, path in artifact_paths.items()}
        ref = self.bench_remote.options(**options).remote(call, packed, placement)
        with progress.task(f"benching on {placement} (ray)", total=1) as task:
            try:
                while True:
                    ready, _ = ray.wait([ref], timeout=WAIT_S)
                    if ready:
                        break
                bench, timing, messages, node = ray.get(ref)
            except ray.exceptions.RayTaskError as error:
                cause = getattr(error, "cause", None)
                if isinstance(cause, McError):
                    raise cause from None
                raise McError(f"the bench task failed on the cluster: {(str(error).strip().splitlines() or [''])[0][:300]}") from None
            except ray.exceptions.RayError as error:
                raise McError(f"the bench task failed on the cluster ({type(error).__name__}, after {self.max_retries} retries)") from None
            except BaseException:
                self.cancel([ref])
                raise
            task.advance(1, "")
        paths = {key.removeprefix("path:"): artifact_paths[name] for key, name in node.items() if key.startswith("path:")}
        bench, timing = _remap(bench, paths), _remap(timing, paths)
        where = {key: value for key, value in node.items() if not key.startswith("path:")}
        for message in messages:
            log(message)
        log(f"benched on {where['hostname']} ({placement}, {where['cpus']} CPUs)")
        if bench is not None:
            bench.setdefault("measurement", {})["node"] = where
        return bench, timing
