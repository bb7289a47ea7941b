"""`mc bench --remote`: the same bench worker, run on the device over SSH, beside the host's own run.

For each variant: its bundle (made on the fly from an ONNX file, or the one given) is copied into a
fresh `mktemp -d` folder on the device, the worker request goes beside it, and the device runs
`python -m mc.bench.worker` there under the target's thread limits. The result comes back and is
labelled `measured on <device> (<CPU, cores, OS>)`; the host's own bench of the same files runs too,
so the roofline estimate made here stays beside the device's measurement, labelled as such.

Nothing is left on the device: the folder is removed in a `finally`, and on the device a watcher
removes it and stops the worker when this side goes away (the SSH session's stdin closes).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mc.errors import InputError
from mc.remote.ssh import SSH_FAILED, Remote, RemoteError, SshClient, parse_remote

PROBE_TIMEOUT_S = 60.0
# What the device says about itself and what it has installed; run by its own python.
PROBE = r"""
import json, os, platform
info = {"hostname": platform.node(), "machine": platform.machine(), "cores": os.cpu_count() or 1,
        "python": platform.python_version(), "os": platform.system() + " " + platform.release(), "cpu": platform.processor() or platform.machine()}
try:
    for line in open("/etc/os-release"):
        if line.startswith("PRETTY_NAME="):
            info["os"] = line.split("=", 1)[1].strip().strip('"')
except OSError:
    pass
try:
    for line in open("/proc/cpuinfo"):
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            info["cpu"] = value.strip()
            break
except OSError:
    pass
for name in ("mc", "onnxruntime", "numpy"):
    try:
        module = __import__(name)
        info[name] = getattr(module, "__version__", "unknown")
    except Exception as error:
        info[name] = None
        info[name + "_error"] = type(error).__name__ + ": " + str(error).splitlines()[0][:200] if str(error) else type(error).__name__
print("MC-PROBE " + json.dumps(info))
"""


@dataclass(frozen=True)
class Device:
    hostname: str
    cpu: str
    cores: int
    os: str
    machine: str
    python: str
    versions: dict[str, str | None]

    @property
    def label(self) -> str:
        return f"measured on {self.hostname} ({self.cpu}, {self.cores} cores, {self.os})"

    def as_dict(self) -> dict[str, Any]:
        return {"hostname": self.hostname, "cpu": self.cpu, "cores": self.cores, "os": self.os, "machine": self.machine,
                "python": self.python, "versions": self.versions, "label": self.label}


def probe(client: SshClient, python: str) -> Device:
    """What the device is, and whether it has what the worker needs (the same mc, its runtime)."""
    import mc

    __version__ = mc.__version__

    done = client.run(f"{shlex.quote(python)} -c {shlex.quote(PROBE)}", timeout=PROBE_TIMEOUT_S, check=False)
    line = next((line for line in done.stdout.splitlines() if line.startswith("MC-PROBE ")), None)
    if line is None:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RemoteError(f"{client.remote}: {python} does not run there ({reason[:200]}): install Python 3.10+ or name one with --remote-python")
    info = json.loads(line[len("MC-PROBE "):])
    install = f"pip install 'mc=={__version__}' (the same mc as here; from a checkout: pip install -e .)"
    if info.get("mc") is None:
        raise RemoteError(f"{client.remote}: mc is not importable by {python} ({info.get('mc_error')}): on the device, {install}, "
                          "or pass --remote-python with the interpreter that has it")
    if info["mc"] != __version__:
        raise RemoteError(f"{client.remote}: {python} has mc {info['mc']}, this host runs mc {__version__}: on the device, {install}")
    if info.get("onnxruntime") is None:
        raise RemoteError(f"{client.remote}: onnxruntime is not importable by {python} ({info.get('onnxruntime_error')}): on the device, "
                          "pip install 'onnxruntime>=1.18,<2' 'numpy>=1.24,<3'")
    return Device(hostname=info["hostname"], cpu=info["cpu"], cores=int(info["cores"]), os=info["os"], machine=info["machine"],
                  python=info["python"], versions={name: info.get(name) for name in ("mc", "onnxruntime", "numpy")})


def _spec_problem(spec: str) -> str | None:
    """Why `spec` cannot go to the device (None: it can): only ONNX models and bundles travel."""
    from mc.packaging.bundle import MANIFEST

    path = Path(spec)
    if path.is_dir() and (path / MANIFEST).is_file():
        return None
    if spec.endswith(".onnx"):
        return None if path.is_file() else f"ONNX file not found: {spec}: check the path"
    return f"{spec}: --remote benches ONNX models and bundles (mc package); export it first: mc export MODEL -o model.onnx"


def _bundle_for(spec: str, target_spec: str, staging: Path, name: str) -> tuple[Path, str]:
    """(bundle folder, model file name): a bundle as given (verified), or one made from an ONNX file."""
    from mc.packaging.bundle import MANIFEST, build_bundle, verify_bundle

    path = Path(spec)
    if path.is_dir() and (path / MANIFEST).is_file():
        verify_bundle(path)
        manifest = json.loads((path / MANIFEST).read_text())
        return path, manifest["model"]["file"]
    if spec.endswith(".onnx") and path.is_file():
        folder = staging / name
        manifest = build_bundle(path, target_spec, folder, allow_over_budget=True)
        return folder, manifest["model"]["file"]
    raise InputError(_spec_problem(spec) or spec)


# The device side of one worker: the worker in the background, a watcher that stops it and removes the
# folder when this side's SSH session goes away (its stdin closes), and a trap for the session's signals.
WORKER_SCRIPT = """exec 3<&0
cd {tmp} || exit 97
{env} {python} -m mc.bench.worker {request} {result} > {log} 2>&1 3<&- &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; rm -rf {tmp}; exit 129' HUP INT TERM
( cat <&3 > /dev/null; kill -TERM $pid 2>/dev/null; sleep 1; rm -rf {tmp} ) > /dev/null 2>&1 &
watcher=$!
wait $pid
status=$?
kill $watcher 2>/dev/null
exit $status
"""


def _run_worker(client: SshClient, tmp: str, python: str, name: str, threads: int, timeout: float) -> tuple[int, float]:
    """Run one worker on the device; (its exit status, wall seconds). stdin stays open while it runs."""
    from mc.processes import thread_environment

    env = " ".join(f"{key}={shlex.quote(value)}" for key, value in thread_environment(threads).items())
    script = WORKER_SCRIPT.format(tmp=shlex.quote(tmp), env=env, python=shlex.quote(python), request=f"{name}.request.json",
                                  result=f"{name}.result.json", log=f"{name}.log")
    args = ["ssh", *client.common_options()] + (["-p", str(client.remote.port)] if client.remote.port else []) + [
        client.remote.destination, f"sh -c {shlex.quote(script)}"]
    began = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()  # the session ends: the watcher on the device stops the worker
            process.wait()
            raise RemoteError(f"{client.remote}: the bench worker did not finish within {timeout:.0f} s and was stopped") from None
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            if process.stdin:
                process.stdin.close()
        stderr.seek(0)
        text = stderr.read().decode(errors="replace")
    if code == SSH_FAILED:
        raise client.connection_error(text, "during the bench")
    return code, time.perf_counter() - began


def device_of(config: Any, target: Any) -> str | None:
    """Where a bench runs: the bench's own `remote` first, then the target profile's; None: here."""
    return config.remote or getattr(target, "remote", None)


def bench_on_target(artifacts: list[str], target_spec: str, config: Any, progress: Any, *, reference: str | None = None,
                    input_shape: tuple[int, ...] | None = None, data: str | Path | None = None) -> dict[str, Any]:
    """The bench a user asked for: on the device over SSH when one is configured, else on this host."""
    from mc.bench.runner import run_bench
    from mc.targets import load_target

    remote = device_of(config, load_target(target_spec))
    if remote is None:
        from mc.packaging.bundle import bundle_model

        def local(spec: str) -> str:  # a bundle benches here as the model file it holds
            model = bundle_model(spec)
            return spec if model is None else str(model)

        return run_bench([local(spec) for spec in artifacts], target_spec, config, progress,
                         reference=local(reference) if reference else None, input_shape=input_shape, data=data)
    return remote_bench(artifacts, target_spec, config, progress, remote, reference=reference, input_shape=input_shape,
                        data=data)


def _device_worker(client: SshClient, tmp: str, config: Any, name: str, threads: int, timeout: float,
                   staging: Path) -> tuple[dict[str, Any], int, float]:
    """Run one worker on the device and bring its result back: (result, exit status, wall seconds)."""
    code, wall = _run_worker(client, tmp, config.remote_python, name, threads, timeout)
    local_result = staging / f"{name}.result.json"
    try:
        client.get(f"{tmp}/{name}.result.json", local_result)
        return json.loads(local_result.read_text()), code, wall
    except RemoteError:
        log = client.run(f"tail -n 3 {shlex.quote(tmp)}/{name}.log", timeout=PROBE_TIMEOUT_S, check=False).stdout.strip()
        return {"status": "failed", "kind": "crash", "error": f"the worker on {client.remote.host} left no result (exit {code})"
                + (f": {log.splitlines()[-1][:200]}" if log else "")}, code, wall


def remote_bench(
    artifacts: list[str],
    target_spec: str,
    config: Any,
    progress: Any,
    remote: str | Remote | None = None,
    *,
    reference: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    data: str | Path | None = None,
) -> dict[str, Any]:
    """Bench every artifact on the device and on this host; the mc.bench/2 result, device figures first.

    A variant that is not an ONNX model or a bundle is recorded as failed on the device (export it);
    the reference, when given, must be one, since the variants' agreement is computed there.
    """
    from mc.bench.config import WorkerRequest
    from mc.bench.runner import WorkerOutcome, request_base, run_bench, variant_entry, worker_timeout
    from mc.errors import CheckFailed
    from mc.targets import load_target

    target = load_target(target_spec)
    remote = remote or device_of(config, target)
    if remote is None:
        raise InputError("no device to bench on: pass --remote [user@]host[:port] (or set remote: in the target profile)")
    client = SshClient(parse_remote(remote) if isinstance(remote, str) else remote, list(config.ssh_options))
    if not artifacts:
        raise InputError("no artifact given: pass ONNX models or bundles")
    problems = {spec: _spec_problem(spec) for spec in artifacts}
    if reference is not None and _spec_problem(reference):
        raise InputError(f"--reference {reference}: {_spec_problem(reference)}")
    if all(problems.values()):
        raise InputError(next(iter(problems.values())))
    with tempfile.TemporaryDirectory(prefix="mc-remote-") as staging_name:
        staging = Path(staging_name)
        device = probe(client, config.remote_python)  # an unreachable device, a refused key or no mc there: said before any work
        names = ([("reference", reference)] if reference is not None else []) + [
            (f"variant-{index}", spec) for index, spec in enumerate(artifacts) if not problems[spec]]
        bundles = {name: _bundle_for(spec, target_spec, staging, name) for name, spec in names}
        threads = max(1, min(target.threads, device.cores))
        base = request_base(target, config.model_copy(update={"remote": None}), threads, input_shape, data)
        timeout = worker_timeout(base["scenario"]) + 60.0
        tmp = client.run('mktemp -d "${TMPDIR:-/tmp}/mc-bench.XXXXXX"', timeout=PROBE_TIMEOUT_S).stdout.strip().splitlines()[-1]
        entries: dict[str, dict[str, Any]] = {}
        try:
            uploads = []
            for name, (folder, model_file) in bundles.items():
                if name == "reference":
                    request = WorkerRequest(mode="reference", artifact=f"{tmp}/{name}/{model_file}", output_array=f"{tmp}/reference.npy", **base)
                else:
                    request = WorkerRequest(mode="variant", artifact=f"{tmp}/{name}/{model_file}", output_array=f"{tmp}/{name}.npy",
                                            reference_logits=f"{tmp}/reference.npy" if reference is not None else None, **base)
                path = staging / f"{name}.request.json"
                path.write_text(request.model_dump_json())
                if folder != staging / name:
                    (staging / name).symlink_to(folder.resolve(), target_is_directory=True)
                uploads += [staging / name, path]
            client.put(uploads, tmp)
            with progress.task(f"benching on {device.hostname}", total=len(bundles)) as task:
                for name, spec in names:
                    task.advance(0, spec)
                    result, code, wall = _device_worker(client, tmp, config, name, threads, timeout, staging)
                    if name == "reference" and result.get("status") != "ok":
                        raise CheckFailed(f"the reference {reference} failed on {device.hostname}: {result.get('error')}")
                    if name != "reference":
                        entries[spec] = variant_entry(spec, WorkerOutcome(result, code, None, wall, []), target, threads, "pipeline")
                    task.advance(1, "")
        finally:
            try:
                client.run(f"rm -rf {shlex.quote(tmp)}", timeout=PROBE_TIMEOUT_S, check=False)
            except RemoteError:
                pass  # the device is gone: its watcher removed the folder when the session dropped
        for spec, problem in problems.items():
            if problem:
                entries[spec] = {"artifact": spec, "status": "failed", "error": f"not benched on {device.hostname}: {problem}",
                                 "failure_kind": "input", "workload": "pipeline", "peak_rss_mb": None, "worker": None}
        # The same files benched here: the host's measurement and the roofline estimate for the target.
        local = {spec: str(bundles[name][0] / bundles[name][1]) for name, spec in names}
        host = run_bench([local.get(spec, spec) for spec in artifacts], target_spec, config.model_copy(update={"remote": None}),
                         progress, reference=local.get(reference) if reference else None, input_shape=input_shape,
                         data=data)
    return merge(host, [entries[spec] for spec in artifacts], device, artifacts, target)


def merge(host: dict[str, Any], device_entries: list[dict[str, Any]], device: Device, artifacts: list[str],
          target: Any = None) -> dict[str, Any]:
    """The device's entries as the result's figures; the host's measurement and estimate beside each.
    The device's energy is estimated from the service time measured there (its power is not metered
    unless it exposes RAPL, which its worker then measured)."""
    from mc.energy import estimate_energy

    label = device.label
    variants = []
    for spec, entry, here in zip(artifacts, device_entries, host["variants"]):
        entry = {**entry, "artifact": spec}
        if entry["status"] == "ok":
            entry["measured"] = {**entry["measured"], "label": label}
            for check in entry.get("budgets", {}).values():
                if "label" in check:
                    check["label"] = label
            if target is not None and entry.get("energy"):
                measured = entry["measured"]
                model_p50 = measured["model_latency_ms"].get("p50")
                overhead_p50 = (measured.get("pipeline_overhead") or {}).get("added_ms", {}).get("p50") or 0.0
                service = None if model_p50 is None else model_p50 + max(0.0, overhead_p50)
                rate = (measured.get("scenario") or {}).get("rate_hz") or 20.0
                entry["energy"] = {**entry["energy"], "target": estimate_energy(
                    target, service, rate, f"model p50 + the pipeline's own cost p50, {label}")}
                if (entry["energy"].get("measured") or {}).get("readable"):
                    entry["energy"]["measured"] = {**entry["energy"]["measured"], "label": label}
            estimate = here.get("estimated")
            entry["estimated"] = None if estimate is None else {**estimate, "label": f"{estimate['label']} (roofline, from {host['measurement']['label']})"}
        entry["host"] = {"label": host["measurement"]["label"], "status": here["status"], "measured": here.get("measured"),
                         "peak_rss_mb": here.get("peak_rss_mb"), "error": here.get("error")}
        variants.append(entry)
    failed = sum(1 for entry in variants if entry["status"] != "ok")
    measurement = {**host["measurement"], "label": label, "device": device.as_dict(),
                   "host_label": host["measurement"]["label"], "thread_note": f"{variants and variants[0].get('measured', {}).get('threads') or '?'} thread(s) on {device.hostname}"}
    if host["measurement"].get("estimate_label"):
        measurement["estimate_label"] = f"{host['measurement']['estimate_label']} (roofline on this host)"
    return {**host, "measurement": measurement, "variants": variants,
            "summary": {"variants": len(variants), "succeeded": len(variants) - failed, "failed": failed}}
