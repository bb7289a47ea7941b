"""The real-time meta pipeline as a harness: its own cost, a real model at 20 Hz under the pi5
profile, and how it degrades and recovers when the runtime turns slow.

    python benchmarks/pipeline_bench.py [--duration 60] [--overhead-queries 5000] [--slow-duration 10]

1. The pipeline's own cost: the whole pipeline over a control runtime (precomputed outputs, no
   model) against a bare loop over the same runtime, interleaved call by call; the difference of
   the percentiles is what a frame pays beyond its model. Both ends of the awareness cache: every
   state repeated (hits) and every state new (misses). Targets: <= 0.25 ms at p50, <= 1 ms at p99.
2. mobile-small fp32 (shipped checkpoint) at 20 Hz for --duration s under the pi5 profile, through
   `mc bench`'s engine (a fresh worker process, threads capped at this host's cores): target zero
   misses over 100 ms, with the full statistics.
3. mobile-small made slow on purpose (a wrapper sleeping 160 ms per frame) for the middle 40 % of
   --slow-duration s: misses counted, requests dropped, the quality level stepping down, then back
   up when the load eases.

Absolute times on a shared 2-core machine mean little: compare figures within this one run.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the in-process parts (1 and 3) run on one thread
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from mc.bench.config import BenchConfig  # noqa: E402
from mc.bench.control import measure_pipeline_overhead  # noqa: E402
from mc.bench.runner import run_bench  # noqa: E402
from mc.bench.scenarios import ScenarioConfig, run_realtime, warm_up  # noqa: E402
from mc.data.evaluation import evaluation_data  # noqa: E402
from mc.pipeline import MetaPipeline, ProcessorSettings  # noqa: E402
from mc.progress import SilentProgress  # noqa: E402
from mc.targets import load_target  # noqa: E402

SLOW_FRAME_S = 0.160


class SlowedPredictor:
    """A runtime made slow on purpose: the wrapped model, plus a sleep while `slow()` says so."""

    name = "slowed"

    def __init__(self, inner, slow):
        self.inner, self.slow = inner, slow

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        if self.slow():
            time.sleep(SLOW_FRAME_S)
        return self.inner.predict(batch)


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def stats_line(name: str, summary: dict) -> str:
    keys = ("mean", "p50", "p90", "p95", "p99", "max")
    return f"  {name:<22} count {summary['count']:>5}  " + "  ".join(f"{key} {fmt(summary[key])}" for key in keys)


def overhead_section(queries: int) -> None:
    print("1. the pipeline's own cost (control runtime; pipeline minus bare loop, same run, interleaved)")
    sample = np.zeros((1, 40), np.float32)
    settings = ProcessorSettings()
    for label, rows in (("cache hits (1 state)", 1), (f"cache misses ({2 * settings.cache_size} states)", 2 * settings.cache_size)):
        result = measure_pipeline_overhead(sample, settings, rows=rows, queries=queries)
        added = result["added_ms"]
        verdict_p50 = "ok" if added["p50"] is not None and added["p50"] <= 0.25 else "OVER"
        verdict_p99 = "ok" if added["p99"] is not None and added["p99"] <= 1.0 else "OVER"
        print(f"  {label}: hit rate {fmt(result['cache']['hit_rate'], 2)}")
        print(stats_line("pipeline ms", result["pipeline_ms"]))
        print(stats_line("bare loop ms", result["bare_ms"]))
        print(
            f"  added: p50 {fmt(added['p50'])} ms (target <= 0.25: {verdict_p50}), p99 {fmt(added['p99'])} ms "
            f"(target <= 1: {verdict_p99}), mean {fmt(added['mean'])} ms"
        )


def realtime_section(duration: float) -> None:
    print(f"\n2. mobile-small fp32 at 20 Hz for {duration:g} s under the pi5 profile (worker process)")
    result = run_bench(["mobile-small"], "pi5", BenchConfig(scenario="realtime", duration=duration), SilentProgress())
    measurement = result["measurement"]
    (variant,) = result["variants"]
    if variant["status"] != "ok":
        print(f"  FAILED: {variant['error']}")
        return
    scenario = variant["measured"]["scenario"]
    misses = scenario["misses"]
    print(f"  {measurement['label']}; {measurement['thread_note']}; {measurement['thread_environment']['OMP_WAIT_POLICY']} OpenMP wait")
    print(
        f"  scheduled {scenario['scheduled']}, completed {scenario['completed']}, dropped {scenario['dropped']} "
        f"{scenario['dropped_by_stage'] or ''}; misses > 50 ms: {misses['over_target']}, > 100 ms: {misses['over_limit']} "
        f"(target 0: {'ok' if misses['over_limit'] == 0 else 'MISSED'}); achieved {fmt(scenario['achieved_rate_hz'], 2)} Hz"
    )
    print(stats_line("latency ms (from arrival)", scenario["latency_ms"]))
    print(stats_line("service ms", scenario["service_ms"]))
    for stage, summary in scenario["stage_ms"].items():
        print(stats_line(f"stage {stage} ms", summary))
    print(stats_line("model alone ms", variant["measured"]["model_latency_ms"]))
    overhead = variant["measured"]["pipeline_overhead"]["added_ms"]
    print(f"  pipeline's own cost in that worker: p50 {fmt(overhead['p50'])} ms, p99 {fmt(overhead['p99'])} ms")
    estimate = variant["estimated"]
    if estimate and estimate.get("model_latency_ms") is not None:
        print(
            f"  {estimate['label']}: {fmt(estimate['latency_ms'])} ms p50 (model {fmt(estimate['model_latency_ms'])} + pipeline "
            f"{fmt(estimate['pipeline_overhead_ms'])}; roofline, efficiency {estimate['efficiency']:.2%} calibrated on "
            f"{estimate['calibrated_on']}) - an estimate, not a measurement"
        )
    accuracy = variant["accuracy"]
    print(
        f"  accuracy {accuracy['accuracy']:.2%}, confidence AUROC {fmt(accuracy['confidence_auroc'])}, "
        f"ECE {fmt(accuracy['expected_calibration_error'])}; pipeline accuracy on delivered frames "
        f"{fmt(scenario['pipeline_accuracy'], 4)}"
    )
    quality = variant["pipeline_quality"]
    print(
        f"  quality: overall {fmt(quality['overall'])} (coherence {fmt(quality['coherence'])}, depth {fmt(quality['depth'])}, "
        f"authenticity {fmt(quality['authenticity'])}, integration {fmt(quality['integration'])}); "
        f"{fmt(quality['at_or_above_threshold'], 3)} of frames >= {quality['threshold']}"
    )
    control = scenario["quality_control"]
    print(f"  quality level {control['start_level']} -> {control['final_level']}, {len(control['changes'])} change(s); "
          f"requests per level {control['requests_at_level']}")
    monitor = scenario["monitor"]
    print(
        f"  monitor: CPU mean {fmt(monitor['cpu_percent']['mean'], 1)} % of {monitor['cpu_percent']['cores']} core(s), "
        f"RSS max {fmt(monitor['memory']['rss_mb_max'], 0)} MB of {monitor['memory']['limit_mb']:g}; alerts "
        f"{monitor['alerts_by_kind'] or 'none'}; awareness cache hit rate {fmt(scenario['awareness_cache']['hit_rate'], 3)}"
    )
    slowest = scenario["slowest"][0]
    stages = ", ".join(f"{stage} {ms:.2f}" for stage, ms in slowest["stage_ms"].items())
    print(
        f"  peak RSS of the worker {fmt(variant['peak_rss_mb'], 0)} MB (wait4); slowest request #{slowest['request']}: "
        f"{slowest['latency_ms']:.2f} ms (waited {slowest['waited_ms']:.2f}; {stages})"
    )


def slow_section(duration: float) -> None:
    slow_from, slow_until = 0.3 * duration, 0.7 * duration
    print(f"\n3. mobile-small slowed by {SLOW_FRAME_S * 1e3:.0f} ms per frame from {slow_from:g} s to {slow_until:g} s "
          f"of a {duration:g} s run at 20 Hz (in-process, 1 thread)")
    from mc.runtimes import open_model

    opened = open_model("mobile-small", threads=1)
    model, shape = opened.predictor, opened.sample_shape
    data = evaluation_data(shape)
    warm_up(MetaPipeline(model), data.x, 32)
    began = time.perf_counter() + 0.005
    slowed = SlowedPredictor(model, lambda: slow_from <= time.perf_counter() - began < slow_until)
    pipeline = MetaPipeline(slowed, ProcessorSettings.for_target(load_target("pi5")))
    result = run_realtime(pipeline, data.x, data.y, ScenarioConfig(duration_s=duration, rate_hz=20))
    misses = result["misses"]
    print(
        f"  scheduled {result['scheduled']}, completed {result['completed']}, dropped {result['dropped']} by stage "
        f"{result['dropped_by_stage']}; misses > 50 ms: {misses['over_target']}, > 100 ms: {misses['over_limit']}"
    )
    print(stats_line("latency ms (delivered)", result["latency_ms"]))
    for change in result["quality_control"]["changes"]:
        print(
            f"  t={change['at_s']:6.2f} s  request {change['request']:>4}: {change['old']:>8} -> {change['new']:<8} "
            f"({change['reason']}, window mean {change['window_mean_ms']:.1f} ms)"
        )
    control = result["quality_control"]
    print(f"  requests per level {control['requests_at_level']}; final level {control['final_level']}")
    quality = result["quality_scores"]
    print(f"  quality: overall {fmt(quality['overall'])}, depth {fmt(quality['depth'])}; categories {quality['categories']}")
    print(f"  monitor alerts: {result['monitor']['alerts_by_kind'] or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the 20 Hz pi5 run (part 2)")
    parser.add_argument("--overhead-queries", type=int, default=5000, help="calls per cache path (part 1)")
    parser.add_argument("--slow-duration", type=float, default=10.0, help="seconds of the slowed run (part 3)")
    args = parser.parse_args()
    overhead_section(args.overhead_queries)
    realtime_section(args.duration)
    slow_section(args.slow_duration)


if __name__ == "__main__":
    main()
