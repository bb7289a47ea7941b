"""`mc run`: every variant of a recipe built (through the cache), benched under the target, timed
side by side, and written as one run directory: `<out>/<recipe>/<run-id>/` with the artifacts, the
raw bench result, report.json and its Markdown and HTML renderings, then `<out>/<recipe>/latest`
pointed at it.

The run is assembled in a hidden staging directory and renamed into place only when complete, so
an error or Ctrl-C leaves no half-written run (and the cache keeps only finished entries); what a
killed run left (its staging, tagged with its process) is removed by the next run. Every file the
run writes is checked to lie inside its run directory. A run that cannot write its folder or the
cache stops before any work with the reason (an input error): every variant would fail alike.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mc.artifact import copy_artifact
from mc.atomic import write_json_atomic
from mc.errors import InputError
from mc.processes import apply_umask, owner_tag, remove_leftovers
from mc.progress import Progress
from mc.recipes.cache import ArtifactCache
from mc.recipes.containment import NAME_RULE, inside, safe_name
from mc.recipes.chain import ChainContext, VariantBuild
from mc.recipes.executor import Executor, LocalExecutor
from mc.recipes.schema import Recipe
from mc.recipes.timing import time_side_by_side
from mc.report.build import BuiltVariant, RunPlan, build_report
from mc.report.schema import Report
from mc.targets import load_target

LATEST = "latest"


@dataclass
class RunOutcome:
    run_dir: Path
    report: Report


def select_variants(recipe: Recipe, only: list[str] | None) -> tuple[list[str], str | None]:
    """The variants to run (the reference always among them, since every ratio needs it) and a
    note when the reference was added."""
    names = list(recipe.variants)
    if not only:
        return names, None
    for name in only:
        if name not in recipe.variants:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(f"--only {name}: no such variant in {recipe.name}: {hint}variants: {', '.join(names)}")
    chosen = [name for name in names if name in only]
    reference = recipe.reference_variant
    if reference not in chosen:
        return [reference, *chosen], f"added the reference variant {reference!r}: drops and ratios are measured against it"
    return chosen, None


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def _publish_artifact_copy(source: Path, destination: Path) -> None:
    """Copy the cached artifact (a file with its sidecar, or a directory) into the run: a published
    run shares no file with the cache, so damage to one never silently changes the other."""
    copy_artifact(source, destination)


def _update_latest(recipe_dir: Path, run_id: str) -> None:
    """Point `latest` at the new run atomically (a symlink renamed over the old one)."""
    link = recipe_dir / LATEST
    temporary = recipe_dir / f".{LATEST}.{owner_tag()}.{secrets.token_hex(4)}.tmp"
    try:
        os.symlink(run_id, temporary)
        os.replace(temporary, link)
    except OSError:  # no symlinks here (some filesystems): a pointer file instead
        temporary.unlink(missing_ok=True)
        write_json_atomic(recipe_dir / f"{LATEST}.json", {"run_id": run_id})


def run_recipe(
    recipe: Recipe,
    out_root: Path,
    progress: Progress,
    only: list[str] | None = None,
    use_cache: bool = True,
    cache_root: Path | None = None,
    debug: bool = False,
    log=lambda message: None,
    executor: Executor | None = None,
) -> RunOutcome:
    began = time.time()
    started = dt.datetime.now(dt.timezone.utc)
    names, note = select_variants(recipe, only)
    if note:
        log(note)
    target = load_target(recipe.target)
    threads = target.host_threads()
    context = ChainContext(recipe, target, threads, progress, debug)
    log(f"model {recipe.model}: {context.source.kind}, sha256 {context.source.sha256[:12]}")  # loads it: bad input fails here
    recipe_dir = _run_folder(out_root, recipe.name)  # after the model: a refused recipe leaves no folder behind
    cache = ArtifactCache(cache_root)
    if use_cache:
        cache.check_writable()

    run_id = new_run_id(started)
    remove_leftovers(recipe_dir)  # what killed runs left here
    staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.{owner_tag()}.", suffix=".partial", dir=recipe_dir))
    scratch_cache: Path | None = None
    try:
        apply_umask(staging)
        if not use_cache:
            scratch_cache = Path(tempfile.mkdtemp(prefix="mc-nocache-"))
            cache = ArtifactCache(scratch_cache)
        executor = executor or LocalExecutor()
        builds = executor.build(names, context, cache, progress, log)
        artifact_paths: dict[str, str] = {}
        for build in builds:
            if build.status == "ok" and build.artifact is not None:
                if not safe_name(build.name):  # the loader refuses such names; this guards every other caller
                    raise InputError(f"variant name {build.name!r}: {NAME_RULE}")
                relative = Path("artifacts") / (build.name if build.artifact.is_dir() else f"{build.name}{''.join(build.artifact.suffixes)}")
                _publish_artifact_copy(build.artifact, inside(staging, staging / relative))
                artifact_paths[build.name] = str(staging / relative)
        # A bench on the device over SSH runs from here: a cluster node would only relay it.
        bencher = LocalExecutor() if _benches_remotely(recipe) else executor
        bench, timing = bencher.bench(functools.partial(_bench, recipe, input_shape=context.input_shape),
                                      artifact_paths, recipe.target, progress, log)
        finished = dt.datetime.now(dt.timezone.utc)
        run_meta = {
            "id": run_id, "started": started.isoformat(timespec="seconds"), "finished": finished.isoformat(timespec="seconds"),
            "seconds": round(time.time() - began, 1), "only": only, "cache": "on" if use_cache else "off (--no-cache)",
            "cache_notes": cache_notes(recipe),
        }
        report = build_report(_run_plan(recipe), [_built(build, artifact_paths, staging) for build in builds],
                              bench, timing, run_meta, staging)
        if bench is not None:
            write_json_atomic(staging / "bench.json", bench)
        _write_report_files(report, staging)
        final = inside(recipe_dir, recipe_dir / run_id)
        os.rename(staging, final)
        _update_latest(recipe_dir, run_id)
        return RunOutcome(final, report)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if scratch_cache is not None:
            shutil.rmtree(scratch_cache, ignore_errors=True)


def _run_folder(out_root: Path, recipe_name: str) -> Path:
    """`<out>/<recipe>/`, created and checked before any work: a run that could not be written
    would otherwise fail only after building and benching everything."""
    if not safe_name(recipe_name):
        raise InputError(f"recipe name {recipe_name!r}: {NAME_RULE}")
    recipe_dir = inside(out_root, out_root / recipe_name)
    try:
        recipe_dir.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=f".probe.{owner_tag()}.", suffix=".tmp", dir=recipe_dir))
        probe.rmdir()
    except OSError as error:
        what = "is a file, not a folder" if out_root.is_file() else f"cannot be written ({error.strerror or error})"
        raise InputError(f"--out {out_root}: {what}: give a folder mc can write runs to") from None
    return recipe_dir


def cache_notes(recipe: Recipe) -> list[str]:
    """What the cache cannot vouch for in this run, said in the report rather than assumed."""
    notes = []
    if recipe.is_factory and not recipe.inputs:
        notes.append(f"the model is a factory ({recipe.model}): its .py file is in every cache key, but a factory may "
                     "read files mc cannot see: declare them with inputs: (e.g. inputs: [weights.pt]) so a changed file "
                     "misses the cache")
    return notes


def _benches_remotely(recipe: Recipe) -> bool:
    from mc.remote.bench import device_of
    from mc.targets import load_target

    return device_of(recipe.bench, load_target(recipe.target)) is not None


def _bench(recipe: Recipe, artifact_paths: dict[str, str], progress: Progress, log,
           input_shape: tuple[int, ...] | None = None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The bench of the comparison, on the machine it runs on (an executor may run it elsewhere)."""
    if not artifact_paths:
        log("no variant was built: nothing to bench")
        return None, None
    reference = artifact_paths.get(recipe.reference_variant)
    if reference is None:
        log(f"the reference variant {recipe.reference_variant!r} was not built: no drops or ratios against it")
    from mc.remote.bench import bench_on_target  # on the device over SSH when the recipe or the target names one

    bench = bench_on_target(list(artifact_paths.values()), recipe.target, recipe.bench, progress,
                            reference=reference, input_shape=input_shape, data=recipe.data)
    benched = {name: entry for name, entry in zip(artifact_paths, bench["variants"])}
    timed = {name: artifact_paths[name] for name, entry in benched.items() if entry["status"] == "ok"}
    with progress.task("timing side by side", total=1) as task:
        timing = (time_side_by_side(timed, load_target(recipe.target).host_threads(), input_shape, recipe.target,
                                    recipe.reference_variant, recipe.bench.timing_seconds)
                  if timed else None)
        task.advance(1, "")
    bench["variant_names"] = list(benched)
    return bench, timing


def _run_plan(recipe: Recipe) -> RunPlan:
    return RunPlan(name=recipe.name, description=recipe.description, path=recipe.source, model=recipe.model, data=recipe.data,
                   target=recipe.target, reference=recipe.reference_variant, gates=recipe.gates.model_dump(),
                   bench=recipe.bench.model_dump(mode="json"), objective=recipe.objective)


def _built(build: VariantBuild, artifact_paths: dict[str, str], run_dir: Path) -> BuiltVariant:
    from mc.report.schema import Step

    artifact = artifact_paths.get(build.name)
    steps = [Step(pass_name=s.pass_name, config=s.config, cache_key=s.key, sha256=s.sha256, cached=s.cached,
                  seconds=round(s.seconds, 2), summary=s.summary, trains=s.trains, chosen_by_timing=s.chosen_by_timing)
             for s in build.steps]
    return BuiltVariant(build.name, build.status, build.error, build.failed_step, steps,
                        str(Path(artifact).relative_to(run_dir)) if artifact else None)


def _write_report_files(report: Report, directory: Path) -> None:
    from mc.report.render import write_renderings

    write_json_atomic(directory / "report.json", report.to_json())
    write_renderings(report, directory)
