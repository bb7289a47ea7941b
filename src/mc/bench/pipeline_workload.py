"""The pipeline workload: a classifier benched inside the real-time meta pipeline, in its own worker
process (mc.bench.worker opened it under the thread limit), in this order:

1. the held-out data for its input shape;
2. the first call at each batch size the scenario uses, timed apart (lazy compilation lands there),
   then warm up the model and the pipeline (untimed);
3. the bare model at batch 1, back to back (the model's own latency);
4. the pipeline's own cost, over the control runtime (the overhead a frame pays beyond the model);
5. the scenario, on a fresh pipeline;
6. accuracy on the held-out set (task, agreement with the reference, confidence AUROC, ECE);
7. off the target, the roofline estimate for it, calibrated on the model's time measured here.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mc.bench.config import WorkerRequest
from mc.bench.control import measure_pipeline_overhead
from mc.bench.queue_simulation import simulate_realtime
from mc.bench.roofline import estimate_target_latency, summarize_costs
from mc.bench.scenarios import arrival_offsets, run_scenario, warm_up
from mc.data.evaluation import EvaluationData, evaluation_data
from mc.errors import InputError
from mc.metrics import classification_report
from mc.percentiles import summarize
from mc.pipeline.processor import MetaPipeline
from mc.resident import current_resident_mb, peak_resident_mb
from mc.runtimes import OpenedModel, predict_all
from mc.runtimes.costs import OpCost
from mc.targets import TargetProfile, load_target


def _confidence(outputs: list[np.ndarray], logits: np.ndarray) -> np.ndarray:
    if len(outputs) > 1:
        return np.asarray(outputs[1], dtype=np.float64).reshape(len(logits), -1)[:, 0]
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).max(axis=1)


def _model_latency(variant: OpenedModel, samples: np.ndarray, queries: int) -> dict[str, Any]:
    """End-to-end time per call (outputs back on the host, so GPU work is finished); on CUDA also the
    compiled call alone on the device (CUDA events), where the runtime records it."""
    times, device_times = [], []
    for index in range(queries):
        batch = samples[index % len(samples)][None]
        start = time.perf_counter()
        variant.predictor.predict(batch)
        times.append((time.perf_counter() - start) * 1e3)
        device_ms = getattr(variant.predictor, "last_device_ms", None)
        if device_ms is not None:
            device_times.append(device_ms)
    result = summarize(times)
    if device_times:
        result["device_ms"] = summarize(device_times)
    return result


def first_calls(variant: OpenedModel, samples: np.ndarray, batch_sizes: list[int]) -> dict[str, float]:
    """The first call at each batch size the bench will use, timed apart and before any warm-up: lazy
    compilation (TensorRT engine builds in ONNX Runtime, kernel autotuning, CUDA context and module
    loading) lands here and never in a measured window."""
    seconds = {}
    for size in batch_sizes:
        batch = np.resize(samples, (size, *samples.shape[1:])).astype(np.float32)
        start = time.perf_counter()
        variant.predictor.predict(batch)
        seconds[str(size)] = time.perf_counter() - start
    return seconds


def _gpu_memory() -> dict[str, Any] | None:
    from mc.runtimes.gpu import gpu_memory_report

    return gpu_memory_report()


def compute_reference(request: WorkerRequest, variant: OpenedModel) -> dict[str, Any]:
    """The reference model's logits on the held-out set, saved for the variants' agreement."""
    data = evaluation_data(variant.sample_shape, request.data)
    if request.output_array is None:
        raise ValueError("a reference request needs output_array")
    logits = np.asarray(predict_all(variant.predictor, data.x)[0], dtype=np.float32)
    np.save(request.output_array, logits)
    return {"description": variant.description, "data": data.description, "samples": int(len(logits))}


def _reference_logits(request: WorkerRequest, samples: int) -> np.ndarray | None:
    if request.reference_logits is None:
        return None
    logits = np.load(request.reference_logits)
    if logits.shape[0] != samples:
        raise InputError(
            f"the reference was scored on {logits.shape[0]} samples, {request.artifact} on {samples}: "
            "they take different inputs"
        )
    return logits


def _accuracy(
    variant: OpenedModel, data: EvaluationData, reference_logits: np.ndarray | None
) -> dict[str, Any] | None:
    if data.y is None:
        return None
    outputs = predict_all(variant.predictor, data.x)
    logits = np.asarray(outputs[0], dtype=np.float64).reshape(len(data.x), -1)
    report: dict[str, Any] = classification_report(logits, _confidence(outputs, logits), data.y, reference_logits)
    report["data"] = data.description
    report["confidence_source"] = "confidence-head" if len(outputs) > 1 else "max-softmax"
    return report


def _estimate(
    request: WorkerRequest,
    variant: OpenedModel,
    target: TargetProfile,
    scenario: dict[str, Any],
    model_ms: dict[str, Any],
    overhead_p50_ms: float | None,
    costs: list[OpCost],
    notes: list[str],
) -> dict[str, Any]:
    """The roofline estimate for the target, calibrated on this host (x86-cpu profile peaks)."""
    host = load_target("x86-cpu")
    # Calibrate on the model's time as this scenario saw it where it ran at batch 1: at 20 Hz with
    # idle gaps between frames a model runs slower than in a tight loop, and the estimate should
    # carry that over; the throughput scenario batches, so the bare batch-1 loop calibrates it.
    perception_p50 = scenario["stage_ms"]["perception"]["p50"]
    if request.scenario.name != "throughput" and perception_p50 is not None:
        calibration, calibrated_ms = "the scenario's perception stage, p50", float(perception_p50)
    else:
        calibration, calibrated_ms = "the bare model at batch 1, p50", float(model_ms["p50"])
    estimate = estimate_target_latency(
        costs, calibrated_ms, host.peaks, request.threads, target.peaks, target.threads, target.name
    )
    estimate["calibrated_on"] = calibration
    estimate["costs"] = summarize_costs(costs)
    ops = estimate.get("ops", {})
    estimate["notes"] = notes + ops.get("host", {}).get("notes", []) + ops.get("target", {}).get("notes", [])
    estimate["latency_ms"] = None
    estimate["pipeline"] = None
    if estimate["model_latency_ms"] is not None and overhead_p50_ms is not None:
        estimate["pipeline_overhead_ms"] = max(0.0, overhead_p50_ms)
        service_ms = estimate["model_latency_ms"] + estimate["pipeline_overhead_ms"]
        if request.scenario.name == "realtime":
            # Like with like: the scenario's latency holds queueing, so its estimate is the same
            # arrivals replayed through a queue at the estimated service time (mc.bench.queue_simulation).
            simulated = simulate_realtime(arrival_offsets(request.scenario), service_ms, request.settings)
            estimate["pipeline"] = {
                **simulated.as_dict(), "service_ms": service_ms,
                "method": (f"simulated: the scenario's {request.scenario.arrivals} arrivals at {request.scenario.rate_hz:g} Hz "
                           "through one first-come-first-served server at the estimated service time, with the deadline "
                           "and the real quality controller"),
            }
            estimate["latency_ms"] = simulated.latency_ms.get("p50")
            estimate["notes"].append("latency_ms: the real-time scenario's p50 simulated for the target (queueing included); "
                                     "service time = the model's estimate + the pipeline's own cost measured here (not scaled)")
        else:  # a closed loop queues nothing: a request's latency is its service time
            estimate["latency_ms"] = service_ms
            estimate["notes"].append("latency_ms = the model's estimate + the pipeline's own cost measured here (not scaled)")
    return estimate


def _every_target_estimate(request: WorkerRequest, variant: OpenedModel, target: TargetProfile, scenario: dict[str, Any],
                           model_ms: dict[str, Any], overhead_p50_ms: float | None, costs: list[OpCost],
                           notes: list[str]) -> dict[str, Any]:
    """The roofline estimate for every shipped target profile that is not this host (the report's
    hardware table covers them all); the bench's own target is the `estimate` beside it."""
    from mc.targets import target_names

    estimates: dict[str, Any] = {}
    for name in target_names():
        other = load_target(name)
        if name == target.name or (other.kind == "cpu" and other.is_host()):  # (a GPU profile's is_host imports torch)
            continue
        try:
            found = _estimate(request, variant, other, scenario, model_ms, overhead_p50_ms, costs, list(notes))
        except Exception as error:  # one profile's estimate never sinks the bench: say why it is missing
            estimates[name] = {"latency_ms": None, "reason": f"{type(error).__name__}: {str(error)[:200]}"}
            continue
        estimates[name] = {key: found.get(key) for key in ("latency_ms", "model_latency_ms", "pipeline_overhead_ms", "reason")}
        estimates[name]["description"] = other.description
    return estimates


def _costs(variant: OpenedModel) -> tuple[list[OpCost] | None, list[str]]:
    """The model's op costs, or None with why when they cannot be counted (a runtime's own format)."""
    try:
        return variant.costs()
    except Exception as error:  # costs are a report figure, never a reason to lose the bench
        return None, [f"ops not counted: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"]


def bench_variant(request: WorkerRequest, variant: OpenedModel, target: TargetProfile, began: float) -> dict[str, Any]:
    """`began`: when the worker started opening the model (load_s counts the opening and the data)."""
    data = evaluation_data(variant.sample_shape, request.data)
    reference_logits = _reference_logits(request, len(data.x))
    loaded_s = time.perf_counter() - began
    settings = request.settings

    batch_sizes = sorted({1, request.scenario.batch_size} if request.scenario.name == "throughput" else {1})
    first_call_s = first_calls(variant, data.x, batch_sizes)
    warm_up(MetaPipeline(variant.predictor, settings, cores=request.threads), data.x, request.scenario.warmup_queries)
    model_ms = _model_latency(variant, data.x, request.model_queries)
    overhead = measure_pipeline_overhead(data.x[0], settings, rows=2 * settings.cache_size, queries=request.overhead_queries)
    pipeline = MetaPipeline(variant.predictor, settings, cores=request.threads)
    from mc.energy import RaplWindow

    rapl = RaplWindow()  # the CPU packages' energy over the scenario, where powercap is readable
    rapl.start()
    scenario = run_scenario(pipeline, data.x, data.y, request.scenario)
    rapl.stop()
    accuracy = _accuracy(variant, data, reference_logits)
    costs, cost_notes = _costs(variant)
    estimate = None
    if not target.is_host():
        estimate = _estimate(request, variant, target, scenario, model_ms, overhead["added_ms"]["p50"],  # type: ignore[index]
                             costs or [], cost_notes)
    target_estimates = _every_target_estimate(request, variant, target, scenario, model_ms, overhead["added_ms"]["p50"],  # type: ignore[index]
                                              costs or [], cost_notes)

    return {
        "description": variant.description,
        "runtime": variant.runtime,
        "size_bytes": variant.size_bytes,
        "sample_shape": list(variant.sample_shape),
        "data": data.description,
        "load_s": loaded_s,
        "model_latency_ms": model_ms,
        "pipeline_overhead": overhead,
        "scenario": scenario,
        "accuracy": accuracy,
        "estimate": estimate,
        "target_estimates": target_estimates,
        "energy_measured": rapl.result(int(scenario.get("requests") or 0)),
        # the ops the model runs, by precision: the parent prices them at this host's measured peak
        "costs": None if costs is None else {**summarize_costs(costs), "notes": cost_notes},
        "device": variant.device,
        "first_call_s": first_call_s,
        "gpu": _gpu_memory() if variant.device == "cuda" else None,
        "resident_mb_end": current_resident_mb(),
        "vmhwm_mb": peak_resident_mb(),
        "worker_s": time.perf_counter() - began,
    }
