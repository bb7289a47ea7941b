"""The runtimes a target really runs, side by side: what a user gets from each runtime's defaults,
from mc's own int8 search, and from `mc optimize`, which picks across them by measurement.

    python benchmarks/runtimes.py [--models mobile-small mobile-base] [--threads 1 2] [--seconds 20]

For each model and thread count (batch 1, every variant interleaved in one process, ratios to ORT
fp32 with 95% bootstrap intervals, mc.ratios): ORT fp32; ORT `quantize_static` with its defaults (the
shipped calibration set); OpenVINO fp32 and OpenVINO + NNCF int8 (`mc compile --backend openvino`);
ExecuTorch XNNPACK fp32 and int8 (`mc compile --backend executorch`); `mc quantize --mode auto`; and
the pick of `mc optimize` (x86-cpu's runtimes plus executorch and openvino, at that thread count).
A variant whose library is missing prints its one-line reason. Accuracy drop and AUROC drop are
against ORT fp32 on the MNIST-1D test set; "of peak" is the fraction of this host's measured GEMM
peak at that thread count (mc.bench.peak).

Goals (issue 15): on mobile-base, `mc optimize` >= 1.15x faster than the fastest peer default at each
thread count within 0.5 pt accuracy and 0.02 AUROC of fp32; on mobile-small, never slower than any
peer default (its interval never wholly above theirs). mobile-base ships no checkpoint: `mc train
mobile-base` first (a few minutes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

PEERS = ("ORT static (defaults)", "OpenVINO fp32", "OpenVINO+NNCF int8", "ExecuTorch fp32", "ExecuTorch int8")


def ort_static_defaults(fp32: Path, output: Path) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    from mc.data.calibration import make_calibration_set

    calibration = make_calibration_set(512, seed=0)[0]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.samples = iter(calibration[i : i + 1] for i in range(len(calibration)))

        def get_next(self):
            sample = next(self.samples, None)
            return None if sample is None else {"input": sample}

    quantize_static(str(fp32), str(output), Reader())
    return output


def build(model: str, threads: int, workdir: Path, optimize_seconds: float) -> tuple[dict[str, Path], dict[str, str]]:
    """Every variant's file at `threads` (the searches time at that count); (paths, why not)."""
    from mc.passes import PassContext, run_pass, source_artifact
    from mc.passes.compile import CompileConfig
    from mc.passes.export import ExportConfig
    from mc.passes.optimize import OptimizeConfig
    from mc.passes.quantize import QuantizeConfig

    ctx = PassContext.for_target("x86-cpu", threads=threads)
    source = source_artifact(model)
    paths: dict[str, Path] = {}
    missing: dict[str, str] = {}
    fp32 = workdir / "fp32.onnx"
    if not fp32.exists():
        run_pass(ExportConfig(), source, fp32, ctx)
    paths["ORT fp32"] = fp32
    static = workdir / "ort-static.onnx"
    paths["ORT static (defaults)"] = static if static.exists() else ort_static_defaults(fp32, static)
    fp32_artifact = source_artifact(str(fp32))
    for label, backend, precision in (("OpenVINO fp32", "openvino", "fp32"), ("OpenVINO+NNCF int8", "openvino", "int8"),
                                      ("ExecuTorch fp32", "executorch", "fp32"), ("ExecuTorch int8", "executorch", "int8")):
        try:
            config = CompileConfig(backend=backend, precision=precision, device="cpu")
            config.check_available()
            output = workdir / f"{backend}-{precision}{config.suffix}"
            if not output.exists():
                parent = source if "torch" in config.accepts() else fp32_artifact
                run_pass(config, parent, output, ctx)
            paths[label] = output
        except Exception as error:  # a backend this mc or this host lacks: say why, go on
            errors = getattr(error, "errors", None)  # a pydantic ValidationError: its first message
            missing[label] = (errors()[0]["msg"] if callable(errors) else str(error).splitlines()[0])[:200]
    auto = workdir / f"mc-auto-{threads}t.onnx"
    run_pass(QuantizeConfig(mode="auto", max_accuracy_drop=0.5), fp32_artifact, auto, ctx)
    paths["mc auto"] = auto
    best = workdir / f"optimize-{threads}t"
    run_pass(OptimizeConfig(runtimes=("onnxruntime", "openvino", "executorch"), max_accuracy_drop=0.5, max_auroc_drop=0.02,
                            max_seconds=optimize_seconds), source, best, ctx)
    paths["mc optimize"] = best
    return paths, missing


def measure(paths: dict[str, Path], threads: int, seconds: float) -> dict[str, dict[str, Any]]:
    import json

    from mc.bench.peak import fraction_of_peak, host_peak
    from mc.bench.roofline import summarize_costs
    from mc.data.evaluation import evaluation_data
    from mc.metrics import classification_report
    from mc.ratios import interleaved_ratios
    from mc.runtimes import open_model, predict_all

    opened = {name: open_model(path, threads=threads, shared_cores=threads > 1) for name, path in paths.items()}
    data = evaluation_data(opened["ORT fp32"].sample_shape)
    rows: dict[str, dict[str, Any]] = {}
    reference_logits = None
    for name, model in opened.items():
        outputs = predict_all(model.predictor, data.x)
        logits = np.asarray(outputs[0], dtype=np.float64).reshape(len(data.x), -1)
        report = classification_report(logits, np.asarray(outputs[1]).reshape(len(data.x), -1)[:, 0], data.y, reference_logits)
        if reference_logits is None:
            reference_logits = logits
        rows[name] = {"accuracy": report["accuracy"], "auroc": report["confidence_auroc"], "runtime": model.runtime}
    timing = interleaved_ratios({name: model.predictor for name, model in opened.items()}, data.x[:1], "ORT fp32",
                                max_seconds=seconds, block_ms=20.0)
    peak = host_peak(threads)
    for name, model in opened.items():
        interval = timing.ratios[name]
        rows[name].update(ratio=interval.ratio, low=interval.low, high=interval.high, verdict=interval.verdict,
                          ms=timing.median_ms[name])
        try:
            costs, _ = model.costs()
            rows[name]["of_peak"] = fraction_of_peak(summarize_costs(costs)["flops_by_precision"], timing.median_ms[name], peak)["fraction"]
        except Exception:
            rows[name]["of_peak"] = None
    if "mc optimize" in paths:
        rows["mc optimize"]["pick"] = json.loads((paths["mc optimize"] / "optimize.json").read_text())["winner"]
    rows["_"] = {"rounds": timing.rounds, "peak": peak.as_dict()}
    return rows


def report(model: str, threads: int, rows: dict[str, dict[str, Any]], missing: dict[str, str]) -> list[str]:
    meta = rows.pop("_")
    reference = rows["ORT fp32"]
    print(f"\n{model}, {threads} thread(s), batch 1, {meta['rounds']} interleaved rounds; speed vs ORT fp32 [95%]; "
          f"host peak fp32 {meta['peak']['fp32_gflops']:.1f} GFLOP/s, int8 {meta['peak']['int8_gops'] or 0:.1f} GOP/s "
          f"({meta['peak']['int8_kernel']})")
    print(f"{'variant':<24} {'speed':>7} {'interval':>15} {'ms':>8} {'acc drop':>9} {'AUROC drop':>10} {'of peak':>8}")
    for name, row in rows.items():
        speed = 1 / row["ratio"]
        interval = f"[{1 / row['high']:.2f}, {1 / row['low']:.2f}]"
        drop = (reference["accuracy"] - row["accuracy"]) * 100
        auroc = reference["auroc"] - row["auroc"]
        peak = f"{row['of_peak']:.2%}" if row.get("of_peak") else "n/a"
        pick = f"  pick: {row['pick']}" if "pick" in row else ""
        print(f"{name:<24} {speed:>6.2f}x {interval:>15} {row['ms']:>8.4f} {drop:>+8.2f}pt {auroc:>+10.3f} {peak:>8}{pick}")
    for name, why in missing.items():
        print(f"{name:<24} unavailable: {why}")
    verdicts = []
    best = rows.get("mc optimize")
    peers = {name: row for name, row in rows.items() if name in PEERS}
    if best and peers:
        fastest_name, fastest = min(peers.items(), key=lambda item: item[1]["ratio"])
        advantage = fastest["ratio"] / best["ratio"]
        within = (reference["accuracy"] - best["accuracy"]) * 100 <= 0.5 and reference["auroc"] - best["auroc"] <= 0.02
        if model == "mobile-base":
            reached = advantage >= 1.15 and within
            verdicts.append(f"{model} {threads}t: optimize {advantage:.2f}x the fastest peer default ({fastest_name}); "
                            f"goal >= 1.15x within budget: {'REACHED' if reached else 'NOT reached'}")
        else:
            slower = [name for name, row in peers.items() if best["low"] > row["high"]]
            verdicts.append(f"{model} {threads}t: optimize {advantage:.2f}x the fastest peer default ({fastest_name}); "
                            f"never slower than a peer: {'REACHED' if not slower else 'NOT reached (slower than ' + ', '.join(slower) + ')'}")
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mobile-small"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seconds", type=float, default=20.0, help="side-by-side timing budget per model and thread count")
    args = parser.parse_args()
    from mc.models.source import find_zoo_checkpoint

    absent = [name for name in args.models if find_zoo_checkpoint(name) is None]
    if absent:
        sys.exit(f"no checkpoint for {', '.join(absent)}: run `mc train {absent[0]}` first")
    import platform

    print(f"host: {platform.node()}, {platform.processor() or platform.machine()}; one run, interleaved; a shared machine's figures are noisy")
    verdicts: list[str] = []
    began = time.perf_counter()
    for model in args.models:
        with tempfile.TemporaryDirectory(prefix=f"mc-runtimes-{model}-") as tmp:
            for threads in args.threads:
                paths, missing = build(model, threads, Path(tmp), optimize_seconds=args.seconds)
                verdicts += report(model, threads, measure(paths, threads, args.seconds), missing)
    print("\ngoals:")
    for line in verdicts:
        print("  " + line)
    print(f"({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
