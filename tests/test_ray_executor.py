"""`mc run --executor ray` on a real local Ray (2 CPUs, one session for the module): the same
artifacts as the local executor, every cache key built once, a worker that dies retried (then its
variant failed while the others complete), benches placed by target resource on a two-node
loopback cluster (slow), and checkpoints whose bytes do not depend on a temporary file name."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import Mc, assert_one_line_error

TINY = """\
name: tiny
model: mobile-tiny
target: {target}
reference: fp32
variants:
  fp32: [export]
  dyn:
    - export
    - quantize: {{mode: dynamic}}
  pruned:
    - prune: {{amount: 0.3, finetune_epochs: 0}}
    - export
bench: {{scenario: latency, queries: 64, warmup: 4, duration: 1, timing_seconds: 3}}
gates: {{max_accuracy_drop: 100, max_size_mb: 5, min_agreement: 0.1}}
"""

CRASHY = '''\
"""Models whose loading kills the Ray worker process (not the test's own): once, or every time."""
import os
from pathlib import Path

import torch
from torch import nn

MARK = Path(__file__).with_name("died-once")


class TwoHeaded(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(40, 16), nn.ReLU())
        self.task = nn.Linear(16, 10)
        self.confidence = nn.Linear(16, 1)

    def forward(self, x):
        state = self.body(x)
        return self.task(state), torch.sigmoid(self.confidence(state)).squeeze(-1)


def _in_a_worker():
    return os.getpid() != int(os.environ["MC_TEST_DRIVER_PID"])


def flaky():
    if _in_a_worker() and not MARK.exists():
        MARK.touch()
        os._exit(1)  # the worker dies mid-task, as a segfault or the OOM killer would end it
    torch.manual_seed(0)
    return TwoHeaded()


def doomed():
    if _in_a_worker():
        os._exit(1)
    torch.manual_seed(0)
    return TwoHeaded()
'''


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module (starting one costs ~10 s); executors find it and leave it running."""
    import ray

    os.environ["MC_TEST_DRIVER_PID"] = str(os.getpid())  # workers inherit it: the crashing factories spare the driver
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _context(recipe_path: Path):
    from mc.progress import SilentProgress
    from mc.recipes.chain import ChainContext
    from mc.recipes.loader import load_recipe
    from mc.targets import load_target

    recipe = load_recipe(str(recipe_path))
    target = load_target(recipe.target)
    return ChainContext(recipe, target, target.host_threads(), SilentProgress())


def _figures(builds) -> dict[str, list[tuple[str, str, str]]]:
    return {build.name: [(step.pass_name, step.key, step.sha256) for step in build.steps] for build in builds}


def test_ray_builds_every_cache_key_once_into_the_drivers_cache(ray_session, tmp_path):
    """(The identical-to-local figures are checked through `mc run` in the slow test below.)"""
    from mc.progress import SilentProgress
    from mc.recipes.cache import ArtifactCache
    from mc.recipes.executor_ray import RayExecutor

    recipe = tmp_path / "tiny.yaml"  # the pruned checkpoint itself (no export after it) comes back too
    recipe.write_text(TINY.format(target="x86-cpu").replace("    - prune: {amount: 0.3, finetune_epochs: 0}\n    - export\n",
                                                             "    - prune: {amount: 0.3, finetune_epochs: 0}\n"))
    names = ["fp32", "dyn", "pruned"]
    executor = RayExecutor()
    assert not executor.owned  # the module's Ray, found and left running
    remote_cache = ArtifactCache(tmp_path / "ray-cache")
    remote = executor.build(names, _context(recipe), remote_cache, SilentProgress(), print)
    assert [build.status for build in remote] == ["ok"] * 3, [build.error for build in remote]
    assert [step.pass_name for step in remote[2].steps] == ["prune"] and remote[2].artifact.suffix == ".pt"
    # fp32 and dyn share their export: it was built once, by one of them, while both were scheduled
    built = Counter(step.key for build in remote for step in build.steps if not step.cached)
    assert set(built.values()) == {1}
    keys = {step.key for build in remote for step in build.steps}
    assert len(keys) == 3 and set(built) == keys
    assert remote[0].steps[0].key == remote[1].steps[0].key
    entries = [path for path in remote_cache.root.glob("*/*") if path.is_dir()]
    assert sorted(path.name for path in entries) == sorted(keys)  # published into the driver's cache, nothing else
    # the built artifacts are the driver's own files, verified as every cache lookup verifies them
    for build in remote:
        assert build.artifact is not None and build.artifact.is_relative_to(remote_cache.root)
        assert remote_cache.lookup(build.steps[-1].key).sha256 == build.steps[-1].sha256
    # a second build finds everything in the cache: no task is submitted
    again = RayExecutor().build(names, _context(recipe), remote_cache, SilentProgress(), print)
    assert all(step.cached for build in again for step in build.steps)
    assert _figures(again) == _figures(remote)


def test_with_a_shared_cache_tasks_publish_into_it_themselves_and_nothing_comes_back_as_bytes(ray_session, tmp_path, monkeypatch):
    from mc.progress import SilentProgress
    from mc.recipes import executor_ray
    from mc.recipes.cache import ArtifactCache
    from mc.recipes.executor_ray import RayExecutor

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY.format(target="x86-cpu").replace("  dyn:\n    - export\n    - quantize: {mode: dynamic}\n", ""))
    names = ["pruned"]  # prune, then export from the pruned checkpoint: a parent read in the shared cache
    shipped = RayExecutor().build(names, _context(recipe), ArtifactCache(tmp_path / "driver-cache"), SilentProgress(), print)
    published: list[str] = []
    real_publish = executor_ray.publish
    monkeypatch.setattr(executor_ray, "publish", lambda cache, key, *rest: published.append(key) or real_publish(cache, key, *rest))
    shared = ArtifactCache(tmp_path / "shared")
    built = RayExecutor(shared_cache=tmp_path / "shared").build(names, _context(recipe), shared, SilentProgress(), print)
    assert [build.status for build in built] == ["ok"], [build.error for build in built]
    assert published == []  # every artifact was written into the shared cache by the task that made it
    assert _figures(built) == _figures(shipped)  # the same keys and content as through the object store
    for build in built:
        assert build.artifact.is_relative_to(shared.root) and shared.lookup(build.steps[-1].key) is not None


def test_a_factory_file_travels_to_the_workers_that_build_from_it(ray_session, tmp_path):
    """A `file.py:function` model: the workers import the copy sent with the task (the file refuses
    to build in a worker from the driver's folder), as a cluster without a shared disk needs."""
    from mc.progress import SilentProgress
    from mc.recipes.cache import ArtifactCache
    from mc.recipes.executor_ray import RayExecutor

    factory = tmp_path / "shipped_factory.py"
    factory.write_text(CRASHY.split("def _in_a_worker")[0] + f'''
def make():
    if os.getpid() != int(os.environ["MC_TEST_DRIVER_PID"]) and Path(__file__).parent == Path({str(tmp_path)!r}):
        raise RuntimeError("a worker imported the factory from the driver's folder")
    torch.manual_seed(0)
    return TwoHeaded()
''')
    recipe = tmp_path / "factory.yaml"
    recipe.write_text(TINY.format(target="x86-cpu").replace("model: mobile-tiny", f"model: {factory}:make")
                      .replace("  dyn:\n    - export\n    - quantize: {mode: dynamic}\n", ""))
    built = RayExecutor().build(["fp32"], _context(recipe), ArtifactCache(tmp_path / "cache"), SilentProgress(), print)
    assert [build.status for build in built] == ["ok"], [build.error for build in built]


def test_cache_and_no_cache_together_are_one_line_exit_2(tmp_path):
    result = Mc()("run", "quickstart", "--cache", tmp_path / "c", "--no-cache")
    assert_one_line_error(result, contains="--cache and --no-cache")


def test_a_worker_that_dies_is_retried_then_its_variant_fails_while_others_complete(ray_session, tmp_path):
    from mc.progress import SilentProgress
    from mc.recipes.cache import ArtifactCache
    from mc.recipes.executor_ray import RayExecutor

    # the factory's file travels to the worker, so the mark of the first death is named absolutely
    (tmp_path / "crashy.py").write_text(CRASHY.replace('Path(__file__).with_name("died-once")', f"Path({str(tmp_path / 'died-once')!r})"))
    recipe = tmp_path / "crashy.yaml"
    recipe.write_text(f"""\
name: crashy
model: {tmp_path / 'crashy.py'}:flaky
target: x86-cpu
reference: fp32
variants:
  fp32: [export]
  doomed:
    - distill: {{student: "{tmp_path / 'crashy.py'}:doomed", epochs: 1}}
""")
    cache = ArtifactCache(tmp_path / "cache")
    builds = RayExecutor(max_retries=1).build(["fp32", "doomed"], _context(recipe), cache, SilentProgress(), print)
    by_name = {build.name: build for build in builds}
    assert (tmp_path / "died-once").exists()  # a worker did die loading the flaky model ...
    assert by_name["fp32"].status == "ok", by_name["fp32"].error  # ... and the retry built it
    doomed = by_name["doomed"]
    assert doomed.status == "failed" and doomed.failed_step == "distill"
    assert "after 1 retries" in doomed.error and "distill" in doomed.error
    # nothing half-written: only the one finished entry, no staging left behind
    assert [path.name for path in cache.root.glob("*/*")] == [by_name["fp32"].steps[0].key]


def test_step_resources_come_from_each_pass_config():
    from mc.passes import WHOLE_NODE
    from mc.passes.compile import CompileConfig
    from mc.passes.distill import DistillConfig
    from mc.passes.export import ExportConfig
    from mc.passes.prune import PruneConfig
    from mc.passes.quantize import QuantizeConfig
    from mc.passes.train import TrainConfig

    assert ExportConfig().resources() == {"CPU": 1}
    assert QuantizeConfig(mode="dynamic").resources() == {"CPU": 1}
    assert QuantizeConfig(mode="auto").resources() == {"CPU": 1}  # a coordinator: candidates and timing fan out
    assert PruneConfig(target_speedup=1.5).resources() == WHOLE_NODE  # times in its own process
    assert TrainConfig().resources() == DistillConfig(width_mult=0.5).resources() == {"CPU": 2}
    assert PruneConfig(amount=0.3, finetune_epochs=0).resources() == {"CPU": 1}
    assert PruneConfig(amount=0.3).resources() == {"CPU": 2}
    assert CompileConfig(backend="tensorrt", precision="fp16").resources() == {"CPU": 1, "GPU": 1}


def test_task_options_take_a_whole_node_and_refuse_what_no_node_offers(ray_session):
    from mc.errors import McError
    from mc.recipes.executor_ray import RayExecutor

    executor = RayExecutor()
    assert executor.task_options({"CPU": 1e6})["num_cpus"] == 2  # the whole (only) node
    assert executor.task_options({"CPU": 1e6}, pin_to_driver=True)["scheduling_strategy"].node_id == executor._driver_node()
    with pytest.raises(McError, match="no node of the Ray cluster offers GPU 1"):
        executor.task_options({"CPU": 1, "GPU": 1})
    options, placement = executor.bench_placement("x86-cpu")
    assert placement == "the driver's node" and options["num_cpus"] == 2


def test_packed_artifacts_round_trip_into_a_cache(tmp_path):
    from mc.artifact import sidecar_path
    from mc.recipes.cache import ArtifactCache
    from mc.recipes.transfer import pack, publish, unpack

    model = tmp_path / "made" / "model.onnx"
    model.parent.mkdir()
    model.write_bytes(b"not really onnx")
    packed = pack(model)
    copy = unpack(packed, tmp_path / "elsewhere", "renamed.onnx")
    assert copy.read_bytes() == model.read_bytes() and not sidecar_path(copy).exists()
    key = "ab" * 32
    hit = publish(ArtifactCache(tmp_path / "cache"), key, packed, "model.onnx", {"pass": "test"})
    assert hit.path.read_bytes() == model.read_bytes() and hit.key == key
    folder = tmp_path / "text"
    (folder / "nested").mkdir(parents=True)
    (folder / "nested" / "vocab.txt").write_text("a\nb\n")
    assert (unpack(pack(folder), tmp_path / "out") / "nested" / "vocab.txt").read_text() == "a\nb\n"


def test_pruned_checkpoints_hash_the_same_whatever_file_they_are_written_to(tmp_path):
    from mc.hashing import sha256_file
    from mc.passes import PassContext, run_pass, source_artifact
    from mc.passes.prune import PruneConfig

    config, ctx = PruneConfig(amount=0.3, finetune_epochs=0), PassContext.for_target("x86-cpu")
    first = run_pass(config, source_artifact("mobile-tiny"), tmp_path / "a.pt", ctx)
    second = run_pass(config, source_artifact("mobile-tiny"), tmp_path / "sub" / "other-name.pt", ctx)
    assert sha256_file(first.path) == sha256_file(second.path) == first.sha256


def test_an_unknown_executor_is_one_line_exit_2(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY.format(target="x86-cpu"))
    result = Mc()("run", recipe, "--executor", "dask", "--out", tmp_path / "reports")
    assert_one_line_error(result, contains="--executor dask: choose local or ray")
    result = Mc()("run", recipe, "--address", "127.0.0.1:1", "--out", tmp_path / "reports")
    assert_one_line_error(result, contains="--address is for --executor ray")
    assert not (tmp_path / "reports" / "tiny").exists() or not any((tmp_path / "reports" / "tiny").iterdir())


def _report_figures(report_path: Path) -> dict:
    report = json.loads(report_path.read_text())
    deterministic = ("size_mb", "accuracy", "accuracy_drop", "agreement", "confidence_auroc")
    return {variant["name"]: ([step["sha256"] for step in variant["steps"]],
                              {key: figure["value"] for key, figure in variant["figures"].items() if key in deterministic})
            for variant in report["variants"]}


@pytest.mark.slow
def test_mc_run_with_ray_reports_the_same_deterministic_figures_as_local(ray_session, tmp_path):
    recipe = tmp_path / "tiny.yaml"  # fp32 and pruned: the bench's figures, the pruned checkpoint's hash
    recipe.write_text(TINY.format(target="x86-cpu").replace("  dyn:\n    - export\n    - quantize: {mode: dynamic}\n", ""))
    local = Mc()("run", recipe, "--out", tmp_path / "local", "--no-cache")
    assert local.exit_code == 0, local.stdout + local.stderr
    remote = Mc()("run", recipe, "--out", tmp_path / "ray", "--no-cache", "--executor", "ray")
    assert remote.exit_code == 0, remote.stdout + remote.stderr
    assert "benched on" in remote.stdout
    ours = _report_figures(tmp_path / "ray" / "tiny" / "latest" / "report.json")
    assert ours == _report_figures(tmp_path / "local" / "tiny" / "latest" / "report.json")
    assert all(figures["accuracy"] is not None for _, figures in ours.values())
    node = json.loads((tmp_path / "ray" / "tiny" / "latest" / "report.json").read_text())["measurement"]["node"]
    assert node["placement"] == "the driver's node" and node["hostname"] == socket.gethostname()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def two_node_cluster():
    """A head (1 CPU) and a worker node carrying the `pi5` resource (1 CPU), on loopback."""
    import tempfile

    ray_bin = Path(sys.executable).with_name("ray")
    port = _free_port()
    # a loopback test cluster: no token (Ray 2.60 turns token authentication on for `ray start --head`)
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    temp = Path(tempfile.mkdtemp(prefix="mcray-", dir="/tmp"))  # Ray's sockets live here: a path of at most 107 bytes
    started = []
    try:
        started.append(subprocess.run([str(ray_bin), "start", "--head", "--port", str(port), "--num-cpus", "1",
                                       "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
                                       "--temp-dir", str(temp)], env=env, capture_output=True, text=True, timeout=180))
        assert started[-1].returncode == 0, started[-1].stdout + started[-1].stderr
        started.append(subprocess.run([str(ray_bin), "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "1",
                                       "--node-ip-address", "127.0.0.1", "--resources", '{"pi5": 1}'],
                                      env=env, capture_output=True, text=True, timeout=180))
        assert started[-1].returncode == 0, started[-1].stdout + started[-1].stderr
        yield f"127.0.0.1:{port}", env
    finally:
        _stop_cluster(temp)  # not `ray stop`: that ends every Ray on the machine, this module's own session too
        shutil.rmtree(temp, ignore_errors=True)


def _stop_cluster(temp: Path) -> None:
    """End the processes of the cluster whose session lives under `temp` (both nodes use the head's
    folder) and their children (Ray's agents), by process id."""
    import signal

    def processes() -> dict[int, tuple[int, str]]:
        found = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                found[int(entry.name)] = (parent, command)
        return found

    table = processes()
    doomed = {pid for pid, (_, command) in table.items() if str(temp) in command and pid != os.getpid()}
    while True:  # and their descendants
        more = {pid for pid, (parent, _) in table.items() if parent in doomed} - doomed
        if not more:
            break
        doomed |= more
    def alive(pid: int) -> bool:  # a zombie (ended, not yet reaped by its parent) counts as gone
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False

    for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 15)):  # some of Ray's agents outlive a SIGTERM by 15 s
        for pid in doomed:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(pid) for pid in doomed):
            time.sleep(0.2)


@pytest.mark.slow
def test_a_target_with_a_ray_resource_is_benched_on_the_node_that_carries_it(two_node_cluster, tmp_path):
    address, env = two_node_cluster
    recipe = tmp_path / "tiny-pi5.yaml"
    recipe.write_text(TINY.format(target="pi5").split("  dyn:")[0] + "bench: {scenario: latency, queries: 64, warmup: 4, duration: 1}\n")
    probe = ("import json, ray; ray.init(address='{0}', log_to_driver=False); "
             "print(json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive'] and n['Resources'].get('pi5')]))")
    pi5_nodes = json.loads(subprocess.run([sys.executable, "-c", probe.format(address)], capture_output=True, env=env,
                                          text=True, timeout=180, check=True).stdout.strip().splitlines()[-1])
    assert len(pi5_nodes) == 1
    out = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "mc_cli.main", "run", str(recipe), "--out", str(out), "--executor", "ray",
                          "--address", address], capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode in (0, 1), run.stdout + run.stderr  # 1: a gate (pi5 estimates) may fail; the run is whole
    report = json.loads((out / "tiny" / "latest" / "report.json").read_text())
    node = report["measurement"]["node"]
    assert node["ray_node_id"] == pi5_nodes[0] and node["placement"] == "a node with the pi5 resource"
    assert report["measurement"]["label"] == f"measured on {socket.gethostname()}"  # the node's own name, as the report says
    assert {variant["name"]: variant["status"] for variant in report["variants"]} == {"fp32": "ok"}


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(2, 130), (15, 143)])
def test_an_interrupt_cancels_the_tasks_and_leaves_nothing_half_written(tmp_path, signum, code):
    import signal

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY.format(target="x86-cpu"))
    home, out = tmp_path / "home", tmp_path / "reports"
    env = {**os.environ, "MC_HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0"}
    process = subprocess.Popen([sys.executable, "-m", "mc_cli.main", "run", str(recipe), "--out", str(out), "--executor", "ray"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def started() -> bool:
        return (out / "tiny").exists() and any((out / "tiny").glob(".*.partial"))

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not started():
        time.sleep(0.2)
    assert started(), "the run never began"
    time.sleep(3.0)  # the steps are on the workers now
    process.send_signal(signal.Signals(signum))
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == code, stderr.decode()[-2000:]
    assert "Traceback" not in stderr.decode()
    assert not list((out / "tiny").iterdir())
    cache = home / "cache" / "artifacts"
    assert not [path for path in cache.rglob("*") if path.name.endswith(".tmp")] if cache.exists() else True


def test_a_fan_out_on_ray_carries_files_both_ways_in_order_and_raises_what_the_task_raised(ray_session, tmp_path):
    from mc.errors import InputError
    from mc.fanout import PortableFile, SerialFanOut
    from mc.recipes.fanout_ray import RayFanOut

    def _bytes_reversed(shared: str, item: "PortableFile"):
        """A fan-out item as a search's are: it reads a file it was given, writes one it returns (defined
        here so that Ray pickles it by value: workers cannot import a test module)."""
        from mc.errors import InputError
        from mc.fanout import PortableFile, scratch_path

        data = item.path.read_bytes()
        if not data:
            raise InputError("an empty candidate")
        out = scratch_path("out.bin")
        out.write_bytes(shared.encode() + data[::-1])
        return os.getpid(), PortableFile(out)

    files = []
    for index in range(4):
        files.append(tmp_path / f"in{index}.bin")
        files[-1].write_bytes(bytes([index + 1]) * (index + 3))
    fan_out = RayFanOut(ray_session.get_runtime_context().get_node_id())
    seen: list[int] = []
    results = fan_out.map(_bytes_reversed, [PortableFile(path) for path in files], "x", on_result=lambda index, _: seen.append(index))
    serial = SerialFanOut().map(_bytes_reversed, [PortableFile(path) for path in files], "x")
    assert sorted(seen) == [0, 1, 2, 3]
    for index, ((pid, made), (here, local)) in enumerate(zip(results, serial)):
        assert pid != os.getpid() and here == os.getpid()  # the tasks ran in Ray's workers, the serial map here
        copied = made.copy_to(tmp_path / f"back{index}.bin")
        assert copied.read_bytes() == local.path.read_bytes() == b"x" + files[index].read_bytes()[::-1]
    assert all(path.read_bytes() for path in files)  # the inputs untouched
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="an empty candidate"):
        fan_out.map(_bytes_reversed, [PortableFile(files[0]), PortableFile(empty)], "x")
    assert fan_out.exclusive(sum, [1, 2, 3]) == 6  # the whole node's CPUs, on the node given


def test_a_quantize_search_fanned_out_on_ray_builds_and_judges_what_it_builds_here(ray_session, tiny_onnx, tmp_path):
    """The auto search's stage built as Ray tasks: the same candidates, byte for byte, the same
    figures as built here one after another; its timing runs as one whole-node task."""
    from mc.data.calibration import default_calibration
    from mc.data.mnist1d import INPUT_SHAPE, load_mnist1d
    from mc.onnx_file import load_onnx_model
    from mc.progress import SilentProgress
    from mc.quantization.classifier_search import ClassifierBudget, ClassifierJudge, structure_plans
    from mc.quantization.presets import static_preset
    from mc.quantization.search import Searcher
    from mc.recipes.fanout_ray import RayFanOut
    from mc.targets import load_target

    _, validation = load_mnist1d().train_validation_split(0.1, seed=0)
    x, y = validation.x[:200], validation.y[:200]
    judge = ClassifierJudge(x, y, "validation", ClassifierBudget(), 1, tiny_onnx)
    preset = static_preset(load_target("x86-cpu"))
    plans = structure_plans(preset)[:2]
    calibration = default_calibration(INPUT_SHAPE)
    input_name = load_onnx_model(tiny_onnx).input_names[0]
    tables = {}
    for name, fan_out in (("here", None), ("ray", RayFanOut(ray_session.get_runtime_context().get_node_id()))):
        (tmp_path / name).mkdir()
        searcher = Searcher(tiny_onnx, judge, calibration, input_name, tmp_path / name, SilentProgress(), fan_out)
        built = searcher.build(plans, "op types")
        if name == "ray":
            searcher.time(built, rounds=3, seconds=1)
            assert all(candidate.ratio_to_fp32 is not None for candidate in built if candidate.error is None)
        tables[name] = [(c.label, c.error, c.size_bytes, c.precision, c.metrics, c.within_budget,
                         c.path.read_bytes() if c.error is None else None) for c in built]
    assert tables["ray"] == tables["here"]
    assert any(row[1] is None for row in tables["here"])
