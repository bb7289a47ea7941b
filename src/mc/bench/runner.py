"""The parent side of a bench: one fresh worker process per variant, and the mc.bench/2 result.

Classifiers and text models bench in one run: each worker opens its artifact and runs the workload
the model is for, and reports which. Each workload has its own reference: `reference` when it is of
that workload; else, for text, the first text variant (fidelity is always against something), and
for classifiers none (no agreement figures). Text fidelity is computed here, from the embeddings
each worker leaves, so the reference can be any variant of the run.

Each worker gets the target's thread limit in its environment before it starts; its peak RSS is
read from the kernel when it is reaped (wait4's ru_maxrss covers the whole process, not a sample).
A worker that fails is recorded with its one-line reason and the next variant still runs; a worker
that dies without a word (a signal, the OOM killer) is reported as crashed with its exit status.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mc.bench.config import BENCH_SCHEMA, BenchConfig, TextRequest, WorkerRequest
from mc.bench.scenarios import ScenarioConfig
from mc.processes import thread_environment
from mc.errors import CheckFailed, InputError
from mc.pipeline.settings import ProcessorSettings
from mc.processes import die_with_parent
from mc.progress import Progress
from mc.runtimes.opener import workload_of
from mc.targets import TargetProfile, load_target
from mc.versions import host_description, library_versions

LOG_TAIL_LINES = 20
WORKER_GRACE_S = 300.0  # loading, warm-up, calibration and the accuracy pass, beyond the scenario itself
TEXT_WORKER_S = 900.0  # a text model: three lengths of closed-loop queries and the fidelity texts


@dataclass
class WorkerOutcome:
    result: dict[str, Any]
    exit_code: int
    peak_rss_mb: float | None
    wall_s: float
    log_tail: list[str]


def measured_label(target: TargetProfile) -> str:
    """`measured` on the target itself; elsewhere the host the figures really come from."""
    return "measured" if target.is_host() else f"measured on {platform.node() or 'this host'}"


def estimated_label(target: TargetProfile) -> str | None:
    return None if target.is_host() else f"estimated for {target.name}"


def thread_note(target: TargetProfile) -> str:
    threads = target.host_threads()
    if threads < target.threads:
        return f"{target.name} has {target.threads} threads; this host has {os.cpu_count()} cores: capped at {threads}"
    return f"{threads} thread(s), as {target.name} specifies"


def isa_note(target: TargetProfile) -> str | None:
    """Where this host's instruction set is not the target's (x86 here, a Pi's ARM): every runtime ran
    its x86 kernels (XNNPACK's AVX, not its NEON / dot-product ones), and the figures say so."""
    if target.arch_matches_host():
        return None
    import platform

    return (f"measured with this host's {platform.machine()} kernels; {target.name} is {target.arch} and runs its runtimes' "
            f"{target.arch} kernels, whose speed (and int8 gains) may differ")


def preflight(artifacts: list[str]) -> None:
    """Fail before any process starts when an artifact path does not exist (a typo, not a crash)."""
    if not artifacts:
        raise InputError("no artifact given: pass one or more models (zoo name, .pt, .onnx, file.py:factory, text model directory)")
    for spec in artifacts:
        if spec.endswith((".onnx", ".pt", ".pth", ".pt2", ".ep")) and not Path(spec).exists():
            kind = {".onnx": "ONNX file", ".pt2": "compiled package", ".ep": "compiled program"}.get(Path(spec).suffix, "checkpoint")
            raise InputError(f"{kind} not found: {spec}: check the path")
        file, _, attribute = spec.rpartition(":")
        if file.endswith(".py") and attribute and not Path(file).exists():
            raise InputError(f"factory file not found: {file}: check the path in {spec!r}")


def _rss_mb(usage: Any) -> float:
    return usage.ru_maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else usage.ru_maxrss / 1024.0


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    return f"exit status {code}"


def run_worker(request: WorkerRequest, workdir: Path, name: str, timeout_s: float) -> WorkerOutcome:
    """Run one worker to completion (or kill it at `timeout_s`) and collect what it left."""
    request_path, result_path, log_path = workdir / f"{name}.request.json", workdir / f"{name}.result.json", workdir / f"{name}.log"
    request_path.write_text(request.model_dump_json())
    env = {**os.environ, **thread_environment(request.threads)}
    began = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mc.bench.worker", str(request_path), str(result_path)],
            env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(),
        )
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout_s, _kill)
        timer.daemon = True  # never holds mc's exit: an interrupt may land before the `finally` that cancels it
        try:
            timer.start()
            peak: float | None = None
            if hasattr(os, "wait4"):
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
                peak = _rss_mb(usage)
            else:  # no wait4 (Windows): the worker's own VmHWM is all there is
                process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            timer.cancel()
    wall = time.perf_counter() - began
    log_lines = log_path.read_text(errors="replace").strip().splitlines()
    tail = log_lines[-1] if log_lines else ""
    if result_path.exists():
        result = json.loads(result_path.read_text())
    elif timed_out.is_set():
        result = {"status": "failed", "kind": "crash", "error": f"timed out after {timeout_s:.0f} s and was killed"}
    else:
        reason = _describe_exit(process.returncode)
        result = {"status": "failed", "kind": "crash", "error": f"worker {reason}" + (f": {tail[:200]}" if tail else "")}
    return WorkerOutcome(result, process.returncode, peak, wall, log_lines[-LOG_TAIL_LINES:])


def _timeout(scenario: ScenarioConfig) -> float:
    """Long enough for any honest run: latency runs may go on to reach their query count."""
    factor = scenario.max_duration_factor if scenario.name == "latency" else 1.5
    return WORKER_GRACE_S + scenario.duration_s * factor


def _budgets(target: TargetProfile, entry: dict[str, Any], label: str, p99: float | None) -> dict[str, Any]:
    budgets = target.budgets
    size = entry.get("size_bytes")
    rss = entry.get("peak_rss_mb")
    size_mb = size / 1e6 if size is not None else None
    return {
        "model_size_mb": {"value": size_mb, "budget": budgets.model_size_mb,
                          "within": None if size_mb is None else size_mb <= budgets.model_size_mb},
        "ram_mb": {"value": rss, "budget": budgets.ram_mb, "within": None if rss is None else rss <= budgets.ram_mb,
                   "label": label},
        "latency_p99_ms": {"value": p99, "budget": budgets.latency_ms,
                           "within": None if p99 is None else p99 <= budgets.latency_ms, "label": label},
    }


def _variant_entry(spec: str, outcome: WorkerOutcome, target: TargetProfile, threads: int, fallback_workload: str) -> dict[str, Any]:
    result = outcome.result
    label = measured_label(target)
    entry: dict[str, Any] = {
        "artifact": spec,
        "status": "ok" if result.get("status") == "ok" else "failed",
        "error": result.get("error"),
        "failure_kind": result.get("kind"),
        # The worker's own VmHWM first: Linux carries the parent's peak across fork+exec into the
        # child's ru_maxrss, so wait4 reports at least the parent's size (mc run's parent is large).
        "worker": {"exit_code": outcome.exit_code, "wall_s": outcome.wall_s,
                   "peak_rss_source": "VmHWM of the worker" if result.get("vmhwm_mb") is not None else "wait4 ru_maxrss",
                   "wait4_maxrss_mb": outcome.peak_rss_mb},
        "peak_rss_mb": result.get("vmhwm_mb") if result.get("vmhwm_mb") is not None else outcome.peak_rss_mb,
    }
    entry["workload"] = result.get("workload") or fallback_workload  # a worker that failed early never said
    if result.get("notes"):
        entry["notes"] = result["notes"]
    if entry["status"] != "ok":
        entry["log_tail"] = outcome.log_tail  # the worker's last words (a traceback, a library's complaint)
        return entry
    if result["workload"] == "text":
        return _text_entry(entry, result, target, threads, label)
    estimate = result.get("estimate")
    _loaded(entry, result, label, threads)
    entry["measured"].update({
        "scenario": result["scenario"],
        "pipeline_overhead": result["pipeline_overhead"],
        "first_call_s": result.get("first_call_s"),
        "device": result.get("device", "cpu"),
        "gpu_memory": result.get("gpu"),
        "worker_vmhwm_mb": result["vmhwm_mb"],
    })
    entry["target_estimates"] = result.get("target_estimates") or {}
    entry.update({
        "costs": result.get("costs"),
        "estimated": None if estimate is None else {"label": estimated_label(target), **estimate},
        "accuracy": result["accuracy"],
        "pipeline_quality": result["scenario"]["quality_scores"],
    })
    entry["budgets"] = _budgets(target, entry, label, result["scenario"]["latency_ms"].get("p99"))
    entry["energy"] = _energy(target, entry, result)
    return entry


def _energy(target: TargetProfile, entry: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Energy per inference and mean power at the real-time rate: `estimated` for the target (and for
    every other profile the worker estimated), `measured` from RAPL where this host exposes it."""
    from mc.energy import estimate_energy
    from mc.targets import load_target

    rate = result["scenario"].get("rate_hz") or 20.0
    model_p50 = result["model_latency_ms"].get("p50")
    overhead_p50 = result["pipeline_overhead"]["added_ms"].get("p50")
    here = None if model_p50 is None else model_p50 + max(0.0, overhead_p50 or 0.0)
    estimated = entry.get("estimated") or {}
    if target.is_host():
        service, basis = here, "model p50 + the pipeline's own cost p50, measured here"
    else:
        service, basis = estimated.get("latency_ms"), "the roofline latency estimate for the target"
    energy: dict[str, Any] = {"target": estimate_energy(target, service, rate, basis), "measured": result.get("energy_measured")}
    others = {}
    for name, other in (result.get("target_estimates") or {}).items():
        others[name] = estimate_energy(load_target(name), other.get("latency_ms"), rate, "the roofline latency estimate for the target")
    energy["other_targets"] = others
    return energy


def _loaded(entry: dict[str, Any], result: dict[str, Any], label: str, threads: int) -> None:
    """What every workload's entry says of a variant that loaded and ran."""
    entry.update({
        "description": result["description"], "runtime": result["runtime"], "size_bytes": result["size_bytes"],
        "data": result["data"],
        # the threads it ran on: fewer than the bench's where the model says so (mc optimize's thread check)
        "measured": {"label": label, "threads": result.get("threads", threads), "model_latency_ms": result["model_latency_ms"],
                     "load_s": result["load_s"]},
    })


def _text_entry(entry: dict[str, Any], result: dict[str, Any], target: TargetProfile, threads: int, label: str) -> dict[str, Any]:
    entry["worker"].update(torch_imported=result["torch_imported"], peak_rss_mb_after=result["peak_rss_mb_after"])
    _loaded(entry, result, label, threads)
    entry["measured"]["latency_by_length_ms"] = result["latency_by_length_ms"]
    entry.update({
        "fidelity": None,  # filled in once every text variant has left its embeddings
        "accuracy": None,
        "estimated": None,
    })
    entry["budgets"] = _budgets(target, entry, label, result["model_latency_ms"].get("p99"))
    return entry


def _text_fidelity(variants: list[dict[str, Any]], embeddings: dict[int, Path], reference: tuple[str, Path] | None) -> None:
    """Each text variant's embeddings against the text reference's: `reference` when the run's
    reference is a text model, else the first text variant (when it ran)."""
    import numpy as np

    from mc.runtimes.text import cosine_fidelity

    text = [index for index, entry in enumerate(variants) if entry.get("workload") == "text"]
    if not text:
        return
    if reference is None:
        first = text[0]
        if first not in embeddings:
            return  # the would-be reference failed: its failure is reported; no fidelity without it
        reference = (variants[first]["artifact"], embeddings[first])
    name, path = reference
    expected = np.load(path)
    for index in text:
        if index in embeddings:
            variants[index]["fidelity"] = {**cosine_fidelity(expected, np.load(embeddings[index])), "reference": name}


def _text_measurement(config: BenchConfig) -> dict[str, Any]:
    return {"lengths": list(config.lengths), "queries": config.text_queries, "warmup": config.warmup,
            "fidelity_texts": config.fidelity_texts, "memory_texts": config.memory_texts, "max_length": config.max_length,
            "corpus": str(config.corpus) if config.corpus else "Python stdlib reference documentation (pydoc_data.topics)",
            "method": "closed loop, batch 1, real paragraphs truncated to each length"}


def request_base(target: TargetProfile, config: BenchConfig, threads: int, input_shape: tuple[int, ...] | None,
                 data: str | Path | None = None) -> dict[str, Any]:
    """What every worker request of one bench shares (a local worker's, or one on a device over SSH)."""
    settings = ProcessorSettings.for_target(target, target_rate_hz=config.rate, adaptive_quality=config.adaptive_quality)
    scenario = ScenarioConfig(
        name=config.scenario, duration_s=config.duration, rate_hz=settings.target_rate_hz, arrivals=config.arrivals,
        seed=config.seed, batch_size=config.batch_size, min_queries=config.queries, warmup_queries=config.warmup,
    )
    return {
        "target": target, "threads": threads, "scenario": scenario, "settings": settings, "workload": config.workload,
        "text": TextRequest.of(config), "input_shape": list(input_shape) if input_shape else None,
        "data": str(data) if data is not None else None,
    }


def variant_entry(spec: str, outcome: WorkerOutcome, target: TargetProfile, threads: int, fallback_workload: str) -> dict[str, Any]:
    """One variant's entry of the result, from what its worker left (here or on a device)."""
    return _variant_entry(spec, outcome, target, threads, fallback_workload)


def worker_timeout(scenario: ScenarioConfig) -> float:
    """How long one worker may take in `scenario` before it is killed."""
    return max(_timeout(scenario), TEXT_WORKER_S)

def _fractions_of_peak(variants: list[dict[str, Any]], threads: int, remeasure: bool) -> dict[str, Any] | None:
    """Each CPU pipeline variant's GOP/s and fraction of this host's measured GEMM peak (mc.bench.peak)
    on the threads it ran on, in `measured.peak`; the peak at the bench's `threads` itself (or why it
    is missing) for the result's measurement."""
    from mc.bench.peak import fraction_of_peak, host_peak

    priced = [entry for entry in variants if entry["status"] == "ok" and entry.get("workload") == "pipeline"
              and entry["measured"].get("device", "cpu") == "cpu" and entry.get("costs")]
    if not priced:
        return None
    peaks: dict[int, Any] = {}
    try:
        for count in sorted({threads, *(int(entry["measured"].get("threads") or threads) for entry in priced)}):
            peaks[count] = host_peak(count, remeasure)
    except Exception as error:  # a figure for the report; the bench itself stands without it
        return {"error": f"the host's peak could not be measured: {type(error).__name__}: {str(error)[:200]}"}
    for entry in priced:
        p50 = (entry["measured"].get("model_latency_ms") or {}).get("p50")
        flops = entry["costs"].get("flops_by_precision") or {}
        if p50 and flops:
            entry["measured"]["peak"] = fraction_of_peak(flops, p50, peaks[int(entry["measured"].get("threads") or threads)])
    return peaks[threads].as_dict()


def run_bench(
    artifacts: list[str],
    target_spec: str,
    config: BenchConfig,
    progress: Progress,
    reference: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    data: str | Path | None = None,
) -> dict[str, Any]:
    """Bench every artifact under the target, each in its own process; the mc.bench/2 result.
    `data`: the classifiers' labelled held-out data, a .npz or a built-in setting's name.

    Raises InputError when the target, an artifact path or the corpus is wrong, when the reference
    does not load, or when no variant loads at all; a variant that fails next to others is recorded instead.
    """
    target = load_target(target_spec)
    preflight(artifacts)
    if config.corpus is not None:
        from mc.data.text import load_corpus

        load_corpus(config.corpus)  # a bad corpus file is the user's typo: say so before any process starts
    threads = target.host_threads()
    base = request_base(target, config, threads, input_shape, data)
    scenario, settings = base["scenario"], base["settings"]
    timeout = worker_timeout(scenario)
    variants: list[dict[str, Any]] = []
    reference_entry: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
        workdir = Path(tmp)
        with progress.task("benching", total=len(artifacts) + (1 if reference else 0)) as task:
            reference_logits: str | None = None
            text_reference: tuple[str, Path] | None = None
            if reference is not None:
                task.advance(0, f"reference {Path(reference).name}")
                output = workdir / "reference.npy"
                outcome = run_worker(
                    WorkerRequest(mode="reference", artifact=reference, output_array=str(output), **base),
                    workdir, "reference", timeout,
                )
                if outcome.result.get("status") != "ok":
                    error = outcome.result.get("error")
                    if outcome.result.get("kind") == "input":
                        raise InputError(f"--reference {reference}: {error}")
                    raise CheckFailed(f"the reference {reference} failed: {error}")
                workload = outcome.result["workload"]
                if workload == "text":
                    text_reference = (reference, output)
                else:
                    reference_logits = str(output)
                reference_entry = {"model": reference, "description": outcome.result["description"], "workload": workload}
                task.advance(1, "")
            embeddings: dict[int, Path] = {}
            for index, spec in enumerate(artifacts):
                task.advance(0, Path(spec).name or spec)
                output = workdir / f"variant-{index}.npy"
                outcome = run_worker(
                    WorkerRequest(mode="variant", artifact=spec, reference_logits=reference_logits, output_array=str(output), **base),
                    workdir, f"variant-{index}", timeout,
                )
                fallback = config.workload if config.workload != "auto" else workload_of(spec)
                entry = _variant_entry(spec, outcome, target, threads, fallback)
                if entry["status"] == "ok" and entry["workload"] == "text":
                    embeddings[index] = output
                variants.append(entry)
                task.advance(1, "")
            _text_fidelity(variants, embeddings, text_reference)
    host_peak = _fractions_of_peak(variants, threads, config.remeasure_peak)
    failed = [entry for entry in variants if entry["status"] != "ok"]
    if failed and len(failed) == len(variants) and all(entry["failure_kind"] == "input" for entry in failed):
        raise InputError(failed[0]["error"] if len(failed) == 1 else f"no variant loads: {failed[0]['artifact']}: {failed[0]['error']}")
    return {
        "schema": BENCH_SCHEMA,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "target": {
            "name": target.name, "description": target.description, "source": target.source,
            "threads": target.threads, "is_host": target.is_host(), "budgets": target.budgets.model_dump(),
            "peaks": dict(target.peaks),
        },
        "measurement": {
            "label": measured_label(target),
            "estimate_label": estimated_label(target),
            "threads": threads,
            "thread_note": thread_note(target),
            **({"isa_note": isa_note(target)} if isa_note(target) else {}),
            "thread_environment": thread_environment(threads),
            "host": host_description(),
            "versions": library_versions(),
            **({"host_peak": host_peak} if host_peak is not None else {}),
            **({"text": _text_measurement(config)} if any(entry.get("workload") == "text" for entry in variants) else {}),
        },
        "scenario": scenario.model_dump(),
        "settings": settings.model_dump(),
        "reference": reference_entry,
        "variants": variants,
        "summary": {"variants": len(variants), "succeeded": len(variants) - len(failed), "failed": len(failed)},
    }
