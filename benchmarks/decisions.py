"""Decisions you can trust: the quickstart recipe N times in a row on one machine, then a real
slow-down that `mc report compare` must catch.

    python benchmarks/decisions.py [--runs 3] [--recipe quickstart] [--slow-variant int8-dynamic]

1. Repeatability: `mc run RECIPE` N >= 3 times on one (warm) cache: the recommendation of each run
   (it must be the same every time), and per variant the spread of its side-by-side speed ratio over
   the runs against the width of its 95% interval (a spread well inside the width: the interval
   says how much a ratio moves from run to run); the wall time the side-by-side sampling cost.
2. Compare: `mc report compare` of every pair of those runs with the default tolerance: each must PASS.
3. A real slow-down: the slow variant's ONNX file with a chain of MatMul/Tanh added on a side branch
   whose result is multiplied by zero and added to the logits (same answers, more work), the chain
   sized until the model alone measures about 1.5x slower (printed). The side-by-side timing of the
   last run's artifacts is measured again twice, once as they are (a control) and once with the slowed
   file in place, each into a copy of the last report; compare against the first run must PASS the
   control and FAIL the slowed one, naming only the slowed variant.

Figures are from one run of this script on a shared machine: they say what this machine did.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _mc(*args: str, env: dict[str, str]) -> tuple[int, float, str]:
    began = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "mc_cli.main", *args], env=env, capture_output=True, text=True)
    return completed.returncode, time.perf_counter() - began, completed.stdout + completed.stderr


def slowed_onnx(source: Path, output: Path, width: int, depth: int) -> None:
    """`source` plus a side branch: `depth` MatMul(width x width) + Tanh on the input, reduced, times
    zero, added to the first output. The answers are unchanged; the work is real (ORT does not fold a
    product with zero: it would change NaN and infinity)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    data = graph.input[0].name
    features = graph.input[0].type.tensor_type.shape.dim[-1].dim_value
    rng = np.random.default_rng(0)
    nodes, initializers = [], []
    previous, inner = data, features
    cast = f"{data}_slow_cast"
    if graph.input[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [data], [cast], to=TensorProto.FLOAT))
        previous = cast
    for index in range(depth):
        weight = numpy_helper.from_array((rng.standard_normal((inner, width)) / np.sqrt(inner)).astype(np.float32),
                                         f"slow_w{index}")
        initializers.append(weight)
        nodes.append(helper.make_node("MatMul", [previous, weight.name], [f"slow_mm{index}"]))
        nodes.append(helper.make_node("Tanh", [f"slow_mm{index}"], [f"slow_t{index}"]))
        previous, inner = f"slow_t{index}", width
    logits = graph.output[0].name
    rank = len(graph.output[0].type.tensor_type.shape.dim)
    axes = numpy_helper.from_array(np.arange(1, 3, dtype=np.int64), "slow_axes")  # [batch, 1, width] -> [batch]
    zero = numpy_helper.from_array(np.zeros([1] * rank, np.float32), "slow_zero")
    initializers += [axes, zero]
    nodes += [
        helper.make_node("ReduceSum", [previous, axes.name], ["slow_sum"], keepdims=0),
        helper.make_node("Unsqueeze", ["slow_sum", "slow_axes_1"], ["slow_column"]),
        helper.make_node("Mul", ["slow_column", zero.name], ["slow_nothing"]),
    ]
    initializers.append(numpy_helper.from_array(np.array([1], np.int64), "slow_axes_1"))
    renamed = f"{logits}_before_slow"
    for node in graph.node:
        node.output[:] = [renamed if name == logits else name for name in node.output]
        node.input[:] = [renamed if name == logits else name for name in node.input]
    nodes.append(helper.make_node("Add", [renamed, "slow_nothing"], [logits]))
    graph.node.extend(nodes)
    graph.initializer.extend(initializers)
    onnx.checker.check_model(model)
    onnx.save(model, str(output))


def model_ms(path: Path, shape: tuple[int, ...], rounds: int = 400) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros(shape, np.float32)}
    for _ in range(50):
        session.run(None, feed)
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - began)
    return 1e3 * statistics.median(times)


def calibrate_slowdown(source: Path, output: Path, shape: tuple[int, ...], goal: float = 1.5) -> float:
    """Deepen the side chain until the model alone is about `goal` x slower; the slow-down measured."""
    base = model_ms(source, shape)
    width, depth, ratio = 64, 1, 1.0
    for _ in range(40):
        slowed_onnx(source, output, width, depth)
        ratio = model_ms(output, shape) / model_ms(source, shape)
        if ratio >= goal * 0.97:
            break
        grow = max(1, round(depth * (goal - 1) / max(ratio - 1, 0.05) - depth))
        depth += min(grow, 8)
        if depth > 24:
            width, depth = width * 2, max(1, depth // 4)
    print(f"  slowed file: {depth} x MatMul({width}x{width}) + Tanh on a side branch; model alone "
          f"{base:.3f} ms -> {base * ratio:.3f} ms: {ratio:.2f}x slower (median of 400 calls, 1 thread)")
    return ratio


def _variants(report: dict) -> dict[str, dict]:
    return {variant["name"]: variant for variant in report["variants"]}


def retimed_report(report: dict, run_dir: Path, swap: dict[str, Path], env: dict[str, str]) -> tuple[dict, float]:
    """A copy of `report` whose side-by-side ratios are measured again on its own artifacts, with the
    files in `swap` put in their place: the same measurement `mc run` makes, made now."""
    from mc.recipes.timing import time_side_by_side

    paths = {name: str(swap.get(name, run_dir / variant["artifact"])) for name, variant in _variants(report).items()
             if variant["status"] == "ok" and variant.get("artifact")}
    shape = tuple(report["recipe"].get("input_shape") or ()) or None
    began = time.perf_counter()
    os.environ.update({"MC_HOME": env["MC_HOME"]})
    timing = time_side_by_side(paths, report["measurement"].get("threads", 1), shape, report["target"]["name"],
                               report["reference"])
    seconds = time.perf_counter() - began
    if "error" in timing:
        sys.exit(f"side-by-side timing failed: {timing['error']}")
    fresh = copy.deepcopy(report)
    for name, variant in _variants(fresh).items():
        interval = (timing.get("ratios") or {}).get(name)
        if not interval or name == report["reference"]:
            continue
        figures = variant["figures"]
        figures["latency_ratio"].update(value=interval["ratio"], low=interval["low"], high=interval["high"],
                                        verdict=interval.get("verdict"))
        figures["speedup"].update(value=1 / interval["ratio"], low=1 / interval["high"], high=1 / interval["low"],
                                  verdict=interval.get("verdict"))
    return fresh, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--recipe", default="quickstart")
    parser.add_argument("--slow-variant", default="int8-dynamic")
    parser.add_argument("--keep", type=Path, default=None, help="copy each run's report.json here, to study them later")
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mc-decisions-") as tmp:
        env = {**os.environ, "MC_HOME": str(Path(tmp) / "home")}
        runs: list[tuple[Path, dict, float]] = []
        for index in range(args.runs):
            out = Path(tmp) / f"run{index}"
            code, seconds, log = _mc("run", args.recipe, "--out", str(out), env=env)
            if code not in (0, 1):
                sys.exit(f"run {index + 1} failed (exit {code}):\n{log[-3000:]}")
            latest = next(out.iterdir()) / "latest"
            report = json.loads((latest / "report.json").read_text())
            runs.append((latest.resolve(), report, seconds))
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                (args.keep / f"run{index + 1}.json").write_text(json.dumps(report))
            print(f"run {index + 1}: {seconds / 60:.1f} min wall, recommendation: {report['recommendation']['variant']} "
                  f"({report['recommendation']['reason']})", flush=True)

        print("\n1. repeatability")
        chosen = {report["recommendation"]["variant"] for _, report, _ in runs}
        print(f"  recommendation: {'the same every run: ' + str(chosen.pop()) if len(chosen) == 1 else 'DIFFERS: ' + str(chosen)}")
        names = [name for name, variant in _variants(runs[0][1]).items() if variant["status"] == "ok"]
        print(f"  {'variant':<16} {'ratios (variant / reference time)':<34} {'spread':>7} {'mean CI width':>14} {'spread/width':>13}")
        for name in names:
            figures = [_variants(report)[name]["figures"].get("latency_ratio") or {} for _, report, _ in runs]
            ratios = [figure.get("value") for figure in figures]
            widths = [figure["high"] - figure["low"] for figure in figures if figure.get("low") is not None]
            if None in ratios or not widths:
                print(f"  {name:<16} n/a")
                continue
            spread = max(ratios) - min(ratios)
            width = statistics.mean(widths)
            print(f"  {name:<16} {', '.join(f'{ratio:.3f}' for ratio in ratios):<34} {spread:>7.3f} {width:>14.3f} "
                  f"{spread / width if width else float('inf'):>13.2f}")
        timing_s = [report["run"].get("seconds") for _, report, _ in runs]
        print(f"  wall per run: {', '.join(f'{seconds / 60:.1f} min' for *_, seconds in runs)} (recorded run seconds: {timing_s})")

        print("\n2. compare, every pair of runs, default tolerance")
        for (i, (first, _, _)), (j, (second, _, _)) in itertools.combinations(enumerate(runs), 2):
            code, _, log = _mc("report", "compare", str(first / "report.json"), str(second / "report.json"), env=env)
            regressions = [line for line in log.splitlines() if "❌" in line]
            print(f"  run {i + 1} vs run {j + 1}: {'PASS' if code == 0 else f'FAIL (exit {code})'}"
                  + ("".join(f"\n    {line}" for line in regressions) if regressions else ""))

        print(f"\n3. a real 1.5x slow-down of {args.slow_variant}")
        last_dir, last, _ = runs[-1]
        variant = _variants(last)[args.slow_variant]
        source = last_dir / variant["artifact"]
        slowed = Path(tmp) / f"{args.slow_variant}-slowed.onnx"
        shape = (1, 1, 40)
        calibrate_slowdown(source, slowed, shape)
        base_path = runs[0][0] / "report.json"
        for label, swap in (("control (the same files)", {}), ("slowed", {args.slow_variant: slowed})):
            fresh, seconds = retimed_report(last, last_dir, swap, env)
            path = Path(tmp) / f"retimed-{'slow' if swap else 'control'}.json"
            path.write_text(json.dumps(fresh))
            ratio = _variants(fresh)[args.slow_variant]["figures"]["latency_ratio"]
            code, _, log = _mc("report", "compare", str(base_path), str(path), env=env)
            named = sorted({line.split("|")[1].strip() for line in log.splitlines()
                            if "❌ regression" in line and "| latency |" in line})
            print(f"  {label}: side by side again in {seconds:.0f} s; {args.slow_variant} ratio {ratio['value']:.3f} "
                  f"[{ratio['low']:.3f}, {ratio['high']:.3f}]; compare vs run 1: "
                  f"{'PASS' if code == 0 else f'FAIL (exit {code})'}, latency regressions named: {named or 'none'}")
    print(f"\ntotal wall time {(time.perf_counter() - began) / 60:.1f} min")


if __name__ == "__main__":
    main()
