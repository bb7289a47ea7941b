"""Nothing lost, nothing stale, nothing outside: `mc run` under hostile names, changed inputs,
damaged cache entries, interrupts and kills, alias bombs, odd umasks and unwritable folders.

One real run of a tiny recipe is shared by the module (built once, benched for a second); the
cache tests that need a build use a two-node ONNX model or a tiny factory, so each is seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import Mc, assert_one_line_error
from mc.errors import InputError

TINY = """\
name: hardening
model: mobile-tiny
target: x86-cpu
variants:
  fp32: [export]
  dyn:
    - export
    - quantize: {mode: dynamic}
bench: {scenario: latency, queries: 64, warmup: 4, duration: 1, timing_seconds: 3}  # the run's hardening is under test, not the bench
"""


def _env(**extra: str) -> dict[str, str]:
    src = Path(__file__).resolve().parents[1]
    path = os.pathsep.join([str(src / "src"), str(src / "cli"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}


def _cache_root() -> Path:
    from mc.recipes.cache import default_cache_root

    return default_cache_root()


def _entry(key: str) -> Path:
    return _cache_root() / key[:2] / key


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One `mc run` of two variants, made under umask 022 (so run folders must come out 0755)."""
    directory = tmp_path_factory.mktemp("hardening")
    recipe = directory / "tiny.yaml"
    recipe.write_text(TINY)
    previous = os.umask(0o022)
    try:
        result = Mc()("run", recipe, "--out", directory / "reports")
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.stdout + result.stderr
    run_dir = (directory / "reports" / "hardening" / "latest").resolve()
    return directory, recipe, run_dir, json.loads((run_dir / "report.json").read_text())


def _steps(report: dict, variant: str) -> list[dict]:
    return next(v for v in report["variants"] if v["name"] == variant)["steps"]


# -- 1. names that would become paths outside the run ------------------------------------------

def test_a_variant_name_that_climbs_out_is_refused_with_its_line_and_touches_nothing(mc, tmp_path):
    victim = tmp_path / "victim.onnx"
    victim.write_bytes(b"precious")
    climb = "../" * 8 + str(victim.with_suffix(""))[1:]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(TINY.replace("  dyn:\n", f"  '{climb}':\n"))
    result = mc("run", recipe, "--out", tmp_path / "reports")
    line = assert_one_line_error(result, 2, f"{recipe}:6: variants: variant name")
    assert "letters, digits" in line
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "reports").exists()
    recipe.write_text(TINY.replace("name: hardening", "name: ../escape"))
    assert_one_line_error(mc("run", recipe, "--out", tmp_path / "reports"), 2, f"{recipe}:1: name: recipe name '../escape'")


def test_every_write_of_a_run_is_checked_to_stay_inside(tiny_run, tmp_path):
    """A name that skipped validation (a Recipe built in code) still cannot publish outside."""
    from mc.progress import SilentProgress
    from mc.recipes.cache import ArtifactCache
    from mc.recipes.containment import inside
    from mc.recipes.loader import load_recipe
    from mc.recipes.runner import run_recipe

    out = tmp_path / "reports"
    victim = out / "victim.onnx"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    recipe = load_recipe(str(tiny_run[1]))
    unchecked = recipe.model_copy(update={"variants": {"../../victim": recipe.variants["fp32"]}, "reference": None})
    with pytest.raises(InputError, match="variant name '../../victim'"):
        run_recipe(unchecked, out, SilentProgress())  # the export step is a cache hit: seconds
    assert victim.read_bytes() == b"precious"
    assert [p.name for p in (out / "hardening").iterdir()] == []  # nothing published, no staging left
    with pytest.raises(InputError, match="outside"):
        inside(tmp_path / "run", tmp_path / "run" / ".." / "victim.onnx")
    with pytest.raises(ValueError):
        with ArtifactCache(tmp_path / "cache").produce("a" * 64, "../model.onnx", {"pass": "test"}):
            pass


# -- 2. stale hits: the key covers the content of everything the output depends on ----------

def test_data_and_calibration_folders_are_keyed_by_their_content(tmp_path):
    from mc.progress import SilentProgress
    from mc.recipes.chain import ChainContext
    from mc.recipes.loader import load_recipe
    from mc.targets import load_target

    folder = tmp_path / "calibration"
    folder.mkdir()
    for index in range(2):
        np.save(folder / f"part{index}.npy", np.zeros((16, 1, 40), np.float32))
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text(TINY.replace("{mode: dynamic}", "{mode: static}")
                           + f"calibration: {folder}\ndata: {folder}\n")
    recipe = load_recipe(str(recipe_path))
    context = ChainContext(recipe, load_target("x86-cpu"), 1, SilentProgress())
    import dataclasses

    parent = dataclasses.replace(context.source, kind="onnx")
    step = recipe.variants["dyn"][1]
    before = context.step_inputs(step, parent, first=False)
    np.save(folder / "part1.npy", np.ones((16, 1, 40), np.float32))  # same names, one file's content changed
    after = context.step_inputs(step, parent, first=False)
    assert before["calibration"] != after["calibration"]
    export = recipe.variants["fp32"][0]
    assert "data" in context.step_inputs(export, context.source, first=True)


def _tiny_onnx(path: Path, seed: int = 0) -> Path:
    """x (N, 1, 40) -> reshape -> MatMul W (40, 10), W in an external data file beside it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.random.default_rng(seed).normal(size=(40, 10)).astype(np.float32), "W")
    shape = numpy_helper.from_array(np.array([-1, 40], np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["flat"]), helper.make_node("MatMul", ["flat", "W"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 40])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], [weights, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=1024)  # W only
    return path


def _build(recipe_path: Path, cache_root: Path, variant: str):
    """One variant's chain through the cache at `cache_root` (a fresh root is `--no-cache`)."""
    from mc.progress import SilentProgress
    from mc.recipes.cache import ArtifactCache
    from mc.recipes.chain import ChainContext, build_variant
    from mc.recipes.loader import load_recipe
    from mc.targets import load_target

    recipe = load_recipe(str(recipe_path))
    context = ChainContext(recipe, load_target(recipe.target), 1, SilentProgress())
    build = build_variant(variant, recipe.variants[variant], context, ArtifactCache(cache_root))
    assert build.status == "ok", build.error
    return build


def _sha(build) -> str:
    return build.steps[-1].sha256


def test_onnx_external_data_and_calibration_folder_changes_miss_the_cache_like_no_cache(tmp_path):
    model = _tiny_onnx(tmp_path / "tiny.onnx")
    folder = tmp_path / "calibration"
    folder.mkdir()
    np.save(folder / "a.npy", np.random.default_rng(1).normal(size=(32, 1, 40)).astype(np.float32))
    recipe = tmp_path / "onnx.yaml"
    recipe.write_text(f"name: onnx\nmodel: {model}\ncalibration: {folder}\nvariants:\n"
                      "  dyn: [{quantize: {mode: dynamic}}]\n  static: [{quantize: {mode: static}}]\n")
    cache = tmp_path / "cache"
    first = _build(recipe, cache, "dyn")
    assert _build(recipe, cache, "dyn").steps[0].cached

    weights = tmp_path / "weights.bin"  # the .onnx file is unchanged; only its external weights are
    weights.write_bytes(np.frombuffer(weights.read_bytes(), np.float32).__neg__().tobytes())
    changed = _build(recipe, cache, "dyn")
    assert not changed.steps[0].cached and _sha(changed) != _sha(first)
    assert _sha(changed) == _sha(_build(recipe, tmp_path / "no-cache-1", "dyn"))

    static = _build(recipe, cache, "static")
    np.save(folder / "a.npy", np.random.default_rng(2).normal(size=(32, 1, 40)).astype(np.float32))
    restatic = _build(recipe, cache, "static")
    assert not restatic.steps[0].cached and _sha(restatic) != _sha(static)
    assert _sha(restatic) == _sha(_build(recipe, tmp_path / "no-cache-2", "static"))


FACTORY = """\
from pathlib import Path

import torch


def build():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 10))
    net.load_state_dict(torch.load(Path(__file__).parent / "w.pt", weights_only=True))
    return net
"""


def test_a_factorys_declared_inputs_are_in_every_key_and_undeclared_ones_are_noted(tmp_path):
    import torch

    from mc.recipes.loader import load_recipe
    from mc.recipes.runner import cache_notes

    (tmp_path / "net.py").write_text(FACTORY)
    torch.manual_seed(0)
    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 10)).state_dict(), tmp_path / "w.pt")
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    declared = recipes / "factory.yaml"  # inputs are relative to the recipe file, not the working folder
    declared.write_text(f"name: factory\nmodel: {tmp_path / 'net.py'}:build\ninputs: [../w.pt]\nvariants:\n  fp32: [export]\n")
    assert load_recipe(str(declared)).inputs == (str(tmp_path / "w.pt"),)
    assert cache_notes(load_recipe(str(declared))) == []
    undeclared = recipes / "undeclared.yaml"
    undeclared.write_text(declared.read_text().replace("inputs: [../w.pt]\n", ""))
    assert "declare them with inputs:" in cache_notes(load_recipe(str(undeclared)))[0]
    missing = recipes / "missing.yaml"
    missing.write_text(declared.read_text().replace("../w.pt", "nope.pt"))
    with pytest.raises(InputError, match=f"{missing}:3: inputs\\[0\\]: nope.pt not found"):
        load_recipe(str(missing))

    cache = tmp_path / "cache"
    first = _build(declared, cache, "fp32")
    torch.manual_seed(1)
    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 10)).state_dict(), tmp_path / "w.pt")
    changed = _build(declared, cache, "fp32")
    assert not changed.steps[0].cached and _sha(changed) != _sha(first)
    assert _sha(changed) == _sha(_build(declared, tmp_path / "no-cache", "fp32"))


def test_the_report_says_what_the_cache_cannot_see(tiny_run):
    assert tiny_run[3]["run"]["cache_notes"] == []  # a zoo model: nothing hidden


# -- 3. damaged cache entries are rebuilt, never served, never wedge the key -----------------

def _sound_entry(cache, key: str, directory_artifact: bool = False, sidecar: bool = True) -> None:
    from mc.artifact import Lineage, build_record, sidecar_path
    from mc.atomic import write_json_atomic

    name = "model" if directory_artifact else "model.onnx"
    with cache.produce(key, name, {"pass": "test"}) as output:
        model = output / "model.onnx" if directory_artifact else output
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_bytes(b"model bytes")
        if not sidecar:
            return
        record = build_record(kind="onnx", file=model, final_name=model.name, model={}, parent=Lineage(source="test"),
                              pass_name="test", pass_config={}, metrics={})
        write_json_atomic(sidecar_path(model), record.to_json())


@pytest.mark.parametrize("damage", ["garbage sidecar", "foreign sidecar", "garbage entry", "deleted entry",
                                    "entry not a mapping", "garbage sidecar in a directory artifact",
                                    "sidecar planted where the pass wrote none"])
def test_a_damaged_entry_is_rebuilt_and_never_wedges_its_key(tmp_path, damage):
    from mc.recipes.cache import ENTRY_FILE, ArtifactCache

    cache = ArtifactCache(tmp_path / "cache")
    key = "c" * 64
    directory_artifact = "directory" in damage
    _sound_entry(cache, key, directory_artifact, sidecar="planted" not in damage)
    hit = cache.lookup(key)
    assert hit is not None
    sidecar = hit.path / "model.onnx.json" if directory_artifact else Path(str(hit.path) + ".json")
    entry = hit.path.parent / ENTRY_FILE
    if "garbage sidecar" in damage or "planted" in damage:
        sidecar.write_text("{not json")
    elif damage == "foreign sidecar":  # parses, but describes another file
        sidecar.write_text(sidecar.read_text().replace(json.loads(sidecar.read_text())["sha256"], "0" * 64))
    elif damage == "garbage entry":
        entry.write_text("\x00garbage")
    elif damage == "entry not a mapping":
        entry.write_text("[1, 2]")
    else:
        entry.unlink()
    assert cache.lookup(key) is None
    _sound_entry(cache, key, directory_artifact, sidecar="planted" not in damage)  # the rebuild publishes (a wedged key raised OSError here)
    assert cache.lookup(key) is not None
    assert [p.name for p in hit.path.parent.parent.iterdir()] == [key]  # nothing set aside is left


def test_a_damaged_entry_in_the_way_of_a_new_one_is_moved_aside(tmp_path):
    """Two runs: the first finds nothing, the entry is damaged meanwhile, the second publishes."""
    from mc.recipes.cache import ENTRY_FILE, ArtifactCache

    cache = ArtifactCache(tmp_path / "cache")
    key = "d" * 64
    _sound_entry(cache, key)
    (cache.lookup(key).path.parent / ENTRY_FILE).write_text("garbage")
    _sound_entry(cache, key)  # produce without a lookup first: the rename must not hit a full directory
    assert cache.lookup(key) is not None


# -- 3 and 4 end to end: a published run never changes; a damaged cache is rebuilt, not served -

def test_damage_to_the_cache_never_reaches_a_published_run_and_is_rebuilt(tiny_run):
    directory, recipe, run_dir, report = tiny_run
    export_key, quantize_key = (step["cache_key"] for step in _steps(report, "dyn"))
    published = run_dir / "artifacts" / "fp32.onnx"
    before = published.read_bytes()
    cached_model = _entry(export_key) / "model.onnx"
    cached_model.write_bytes(cached_model.read_bytes() + b"corrupt")  # 4: the cache is damaged after the run
    assert published.read_bytes() == before

    Path(str(_entry(quantize_key) / "model.onnx") + ".json").write_text("{garbage")
    result = Mc()("run", recipe, "--out", directory / "reports-2")
    assert result.exit_code == 0, result.stdout + result.stderr
    second = (directory / "reports-2" / "hardening" / "latest").resolve()
    rerun = json.loads((second / "report.json").read_text())
    assert [step["cached"] for step in _steps(rerun, "fp32")] == [False]  # the damaged export was rebuilt ...
    assert [step["cached"] for step in _steps(rerun, "dyn")] == [True, False]  # ... once; the garbage sidecar too
    assert _steps(rerun, "fp32")[0]["sha256"] == _steps(report, "fp32")[0]["sha256"]
    for name in ("fp32", "dyn"):
        sidecar = json.loads((second / "artifacts" / f"{name}.onnx.json").read_text())
        from mc.hashing import sha256_file

        assert sidecar["sha256"] == sha256_file(second / "artifacts" / f"{name}.onnx")


# -- 19. permissions follow the umask ----------------------------------------------------------

def test_run_folders_and_cache_entries_follow_the_umask(tiny_run, tmp_path):
    from mc.recipes.cache import ArtifactCache

    assert tiny_run[2].stat().st_mode & 0o777 == 0o755
    previous = os.umask(0o027)
    try:
        cache = ArtifactCache(tmp_path / "cache")
        _sound_entry(cache, "b" * 64)
    finally:
        os.umask(previous)
    assert cache.lookup("b" * 64).path.parent.stat().st_mode & 0o777 == 0o750


# -- 6. an interrupt is an interrupt, however a library wrapped it -----------------------------

@pytest.mark.parametrize("wrapped", [False, True])
def test_an_interrupt_inside_a_pass_publishes_nothing_and_exits_130(mc, tmp_path, monkeypatch, wrapped):
    import mc.recipes.chain as chain

    def interrupted_export(*args, **kwargs):
        if not wrapped:
            raise KeyboardInterrupt
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as error:  # as torch.onnx does: its own error, the interrupt as the cause
            raise RuntimeError("Failed to export the model with torch.export") from error

    monkeypatch.setattr(chain, "run_pass", interrupted_export)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    result = mc("run", recipe, "--out", tmp_path / "reports", "--no-cache")
    assert result.exit_code == 130, result.stdout + result.stderr
    assert "interrupted" in result.stderr
    assert list((tmp_path / "reports" / "hardening").iterdir()) == []  # no run, no staging, no `latest`


def test_an_error_raised_while_an_interrupt_unwinds_is_reported_as_the_interrupt(capsys):
    """A signal that lands inside threading's own bookkeeping leaves a lock it half-released, and the
    unwinding then raises "release unlocked lock" (seen once in 11 SIGTERMs): the run was interrupted,
    not broken, and says so."""
    import typer

    from mc_cli._errors import handles_errors

    @handles_errors
    def command() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("release unlocked lock")  # its context is the interrupt, not its cause

    with pytest.raises(typer.Exit) as stopped:
        command()
    assert stopped.value.exit_code == 130
    stderr = capsys.readouterr().err
    assert "interrupted" in stderr and "internal error" not in stderr


# -- 7. SIGKILL and SIGTERM: no orphan worker, no leftovers ------------------------------------

def _bench_worker(tmpdir: Path) -> int | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"mc.bench.worker" in command and any(str(tmpdir).encode() in part for part in command):
            return int(proc.name)
    return None


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):  # dead, waiting for a reaper
            return True
        time.sleep(0.1)
    return False


def _temporaries(tmpdir: Path) -> set[str]:
    return {p.name for p in tmpdir.iterdir() if p.name.startswith(("mc-bench-", "mc-timing-", "mc-nocache-"))}


def _start_and_wait_for_the_bench(recipe: Path, out: Path, tmpdir: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, "-m", "mc_cli.main", "run", str(recipe), "--out", str(out), "--only", "fp32"],
                               env=_env(TMPDIR=str(tmpdir)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        worker = _bench_worker(tmpdir)
        if worker is not None:
            return process, worker
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the bench never started: {process.communicate()[1].decode()[-2000:]}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_leaves_no_orphan_and_sigterm_unwinds_and_cleans_the_dead_runs_leftovers(tiny_run, tmp_path):
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(TINY.replace("{scenario: latency, queries: 64, warmup: 4, duration: 1, timing_seconds: 3}", "{duration: 60}"))  # the export is a cache hit; the bench is long
    out, tmpdir = tmp_path / "reports", tmp_path / "tmp"
    tmpdir.mkdir()

    process, worker = _start_and_wait_for_the_bench(recipe, out, tmpdir)
    process.kill()  # SIGKILL: no cleanup can run in mc itself
    process.wait()
    assert _gone(worker, 10), "the bench worker outlived its killed parent"
    killed_staging = [p for p in (out / "hardening").iterdir() if p.name.endswith(".partial")]
    assert len(killed_staging) == 1  # what the next run must clean

    killed_temporaries = _temporaries(tmpdir)  # the killed run's bench folder: SIGKILL lets nothing clean up

    process, worker = _start_and_wait_for_the_bench(recipe, out, tmpdir)
    assert not killed_staging[0].exists()  # the dead run's staging is gone once the next run starts
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr.decode()[-2000:]
    assert "Traceback" not in stderr.decode()
    assert _gone(worker, 10)
    assert list((out / "hardening").iterdir()) == []  # nothing published, no staging, no `latest`
    assert _temporaries(tmpdir) == killed_temporaries  # SIGTERM: the run removed its own
    assert not [p for p in _cache_root().rglob(".*") if p.name.endswith((".tmp", ".damaged"))]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_an_interrupt_as_the_workers_timer_starts_kills_the_worker_and_leaves_no_thread_holding_the_exit(tmp_path, monkeypatch):
    """A SIGTERM that lands while the worker's timeout timer starts (the test above sends it the moment the
    worker appears) must still kill the worker and cancel the timer: a live timer thread held mc's exit
    for the worker's whole timeout after it printed "interrupted"."""
    import threading

    from mc.bench.config import WorkerRequest
    from mc.bench.runner import run_worker

    started: list[threading.Timer] = []

    class InterruptedAsItStarts(threading.Timer):
        def start(self) -> None:
            super().start()
            started.append(self)
            raise KeyboardInterrupt

    monkeypatch.setattr(threading, "Timer", InterruptedAsItStarts)
    request = WorkerRequest.model_construct(mode="variant", artifact=str(tmp_path / "model.onnx"), threads=1)
    with pytest.raises(KeyboardInterrupt):
        run_worker(request, tmp_path, "interrupted", timeout_s=600)
    assert _bench_worker(tmp_path) is None  # killed and reaped, not left to the kernel's death signal
    started[0].join(5)
    assert not started[0].is_alive() or started[0].daemon


def test_leftovers_of_live_runs_stay_and_of_dead_or_untagged_old_runs_go(tmp_path):
    from mc.processes import owner_tag, remove_leftovers

    live = tmp_path / f".20250101T000000Z-abcd.{owner_tag()}.x1.partial"
    dead = tmp_path / f".20250101T000000Z-abcd.{2**22 + 12345}-{owner_tag().split('-')[1]}.x2.partial"
    untagged_old, untagged_new = tmp_path / ".k.oldrandom.tmp", tmp_path / ".k.newrandom.tmp"
    for path in (live, dead, untagged_old, untagged_new):
        path.mkdir()
    os.utime(untagged_old, (time.time() - 7200, time.time() - 7200))
    remove_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, untagged_new.name])


# -- 12. a YAML alias bomb is refused at once ----------------------------------------------------

def test_a_yaml_alias_bomb_is_refused_quickly_in_one_line(mc, tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("name: bomb\nmodel: mobile-tiny\n" + "\n".join(lines) + "\nvariants: {fp32: [export]}\n")
    began = time.monotonic()
    assert_one_line_error(mc("run", bomb), 2, "expands to more than 100,000 values")
    assert time.monotonic() - began < 5
    loop = tmp_path / "loop.yaml"
    loop.write_text("name: loop\nmodel: mobile-tiny\nx: &x [*x]\nvariants: {fp32: [export]}\n")
    assert_one_line_error(mc("run", loop), 2, "an alias refers to a value that contains it")


# -- 14. a run that cannot write its folders stops before any work ----------------------------

def test_an_unwritable_cache_or_an_out_that_is_a_file_is_exit_2_and_publishes_nothing(mc, tmp_path, monkeypatch):
    from mc.recipes.cache import ArtifactCache, CacheUnwritable

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    not_a_folder = tmp_path / "home-is-a-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("MC_HOME", str(not_a_folder))
    result = mc("run", recipe, "--out", tmp_path / "reports")
    assert_one_line_error(result, 2, "cannot write the artifact cache at")
    assert "--no-cache" in result.stderr
    assert not [p for p in (tmp_path / "reports").rglob("*") if p.is_file() or p.name.startswith(".")]
    with pytest.raises(CacheUnwritable):  # a cache that breaks mid-run ends the run too, not one variant
        with ArtifactCache(not_a_folder / "artifacts").produce("a" * 64, "model.onnx", {"pass": "test"}):
            pass
    monkeypatch.undo()

    out_file = tmp_path / "out.txt"
    out_file.write_text("not a folder")
    assert_one_line_error(mc("run", recipe, "--out", out_file), 2, f"--out {out_file}: is a file, not a folder")
    assert out_file.read_text() == "not a folder"


def test_a_recipe_that_is_not_utf8_is_one_line(mc, tmp_path):
    recipe = tmp_path / "latin1.yaml"
    recipe.write_bytes("name: caf\xe9\nmodel: mobile-tiny\nvariants: {fp32: [export]}\n".encode("latin-1"))
    assert_one_line_error(mc("run", recipe, "--out", tmp_path / "out"), 2, "not UTF-8")
    assert not (tmp_path / "out").exists()
