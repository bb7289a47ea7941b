"""The runtimes a target really runs, side by side: what a user gets from each runtime's defaults,
from mc's own int8 search, and from `mc optimize`, which picks across them by measurement.

    python benchmarks/runtimes.py [--models mobile-small mobile-base] [--threads 1 2] [--seconds 20]

For each model and thread count (batch 1, every variant given that many threads, each in a worker
process of its own (mc.runtimes.isolated) and timed in interleaved rounds, ratios to ORT fp32 with
95% bootstrap intervals, mc.ratios): ORT fp32; ORT `quantize_static` with its defaults (the
shipped calibration set); OpenVINO fp32 and OpenVINO + NNCF int8 (`mc compile --backend openvino`);
ExecuTorch XNNPACK fp32 and int8 as ExecuTorch's documented flow builds them with its defaults
(`executorch_defaults`: no mc code in the build); `mc quantize --mode auto`; and the pick of `mc
optimize` (x86-cpu's runtimes plus executorch and openvino, at that thread count).
A variant whose library is missing prints its one-line reason. Accuracy drop and AUROC drop are
against ORT fp32 on the MNIST-1D test set; "of peak" is the fraction of this host's measured GEMM
peak at the thread count the variant ran on (mc.bench.peak); "threads" is that count: mc optimize's
thread check may run its pick on fewer than it was given.

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


def executorch_defaults(model: str, precision: str, output: Path) -> Path:
    """ExecuTorch's documented XNNPACK flow with its defaults, as a user who follows its tutorial builds
    it: `torch.export` at the example input's shape (one sample: a static program); int8 by PT2E with
    the XNNPACKQuantizer's symmetric per-channel config, calibrated on the shipped calibration set a
    sample at a time; `to_edge_transform_and_lower(partitioner=[XnnpackPartitioner()])`; `.to_executorch()`.
    No mc code builds it; a sidecar describing it (input shape, delegation, FLOPs counted on the source
    module as mc counts its own) lets mc's one opener run it like any program."""
    import json

    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from mc.artifact import Lineage, build_record, sidecar_path
    from mc.compilation.executorch import delegation_report, program_costs
    from mc.data.calibration import make_calibration_set
    from mc.models.source import load_torch_model

    source = load_torch_model(model)
    module = source.module.eval()
    example = (torch.zeros(1, *source.sample_shape),)
    if precision == "int8":
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = XNNPACKQuantizer()
        quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True))
        prepared = prepare_pt2e(torch.export.export(module, example).module(), quantizer)
        with torch.no_grad():
            for sample in make_calibration_set(512, seed=0)[0]:
                prepared(torch.from_numpy(sample[None]))
        module = convert_pt2e(prepared)
    with torch.no_grad():
        program = torch.export.export(module, example)
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    output.write_bytes(edge.to_executorch().buffer)
    settings = {"dynamic_batch": None, "delegation": delegation_report(edge.exported_program()),
                "costs": program_costs(source.module, source.sample_shape, precision, [])}
    record = build_record(kind="executorch-program", file=output, final_name=output.name,
                          model={"input_shape": list(source.sample_shape)}, parent=Lineage(source=model),
                          pass_name="compile", pass_config={"backend": "executorch", "precision": precision,
                                                            "flow": "ExecuTorch's defaults (benchmarks/runtimes.py)"},
                          metrics={"settings": settings})
    sidecar_path(output).write_text(json.dumps(record.to_json(), indent=2) + "\n")
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
    for label, precision in (("ExecuTorch fp32", "fp32"), ("ExecuTorch int8", "int8")):
        try:
            output = workdir / f"executorch-defaults-{precision}.pte"
            paths[label] = output if output.exists() else executorch_defaults(model, precision, output)
        except ImportError as error:
            missing[label] = f"{error}: pip install 'mc[executorch]'"
    for label, backend, precision in (("OpenVINO fp32", "openvino", "fp32"), ("OpenVINO+NNCF int8", "openvino", "int8")):
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
    """Each variant opened by mc's one opener at `threads` in a worker process of its own
    (mc.runtimes.isolated: ExecuTorch's thread pool is one per process, and mc optimize's folder may
    run on fewer threads than it was given), judged on the test set, and timed interleaved."""
    import json
    from contextlib import ExitStack

    from mc.bench.peak import fraction_of_peak, host_peak
    from mc.bench.roofline import summarize_costs
    from mc.data.evaluation import evaluation_data
    from mc.metrics import classification_report
    from mc.ratios import interleaved_ratios
    from mc.runtimes import open_model, predict_all
    from mc.runtimes.isolated import IsolatedPredictor

    rows: dict[str, dict[str, Any]] = {}
    with ExitStack() as workers:
        isolated = {name: workers.enter_context(IsolatedPredictor(path, None, threads)) for name, path in paths.items()}
        data = evaluation_data(open_model(paths["ORT fp32"], threads=1).sample_shape)
        reference_logits = None
        for name, predictor in isolated.items():
            outputs = predict_all(predictor, data.x)
            logits = np.asarray(outputs[0], dtype=np.float64).reshape(len(data.x), -1)
            report = classification_report(logits, np.asarray(outputs[1]).reshape(len(data.x), -1)[:, 0], data.y, reference_logits)
            if reference_logits is None:
                reference_logits = logits
            rows[name] = {"accuracy": report["accuracy"], "auroc": report["confidence_auroc"], "runtime": predictor.opened["runtime"],
                          "threads": predictor.threads}
        timing = interleaved_ratios(dict(isolated), data.x[:1], "ORT fp32", max_seconds=seconds, block_ms=20.0)
    peak = host_peak(threads)
    for name, path in paths.items():
        interval = timing.ratios[name]
        rows[name].update(ratio=interval.ratio, low=interval.low, high=interval.high, verdict=interval.verdict,
                          ms=timing.median_ms[name])
        try:  # FLOPs by precision, from the opener (the model is not run in this process)
            flops = summarize_costs(open_model(path, threads=threads).costs()[0])["flops_by_precision"]
            rows[name]["of_peak"] = fraction_of_peak(flops, timing.median_ms[name], host_peak(rows[name]["threads"]))["fraction"]
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
    print(f"{'variant':<24} {'speed':>7} {'interval':>15} {'ms':>8} {'acc drop':>9} {'AUROC drop':>10} {'of peak':>8} {'threads':>7}")
    for name, row in rows.items():
        speed = 1 / row["ratio"]
        interval = f"[{1 / row['high']:.2f}, {1 / row['low']:.2f}]"
        drop = (reference["accuracy"] - row["accuracy"]) * 100
        auroc = reference["auroc"] - row["auroc"]
        peak = f"{row['of_peak']:.2%}" if row.get("of_peak") else "n/a"
        pick = f"  pick: {row['pick']}" if "pick" in row else ""
        print(f"{name:<24} {speed:>6.2f}x {interval:>15} {row['ms']:>8.4f} {drop:>+8.2f}pt {auroc:>+10.3f} {peak:>8} {row['threads']:>7}{pick}")
    for name, why in missing.items():
        print(f"{name:<24} unavailable: {why}")
    verdicts = []
    best = rows.get("mc optimize")
    peers = {name: row for name, row in rows.items() if name in PEERS}
    if best and peers:
        fastest_name, fastest = min(peers.items(), key=lambda item: item[1]["ratio"])
        advantage = fastest["ratio"] / best["ratio"]
        ran = f", optimize on {best['threads']} of {threads} threads" if best["threads"] != threads else ""
        within = (reference["accuracy"] - best["accuracy"]) * 100 <= 0.5 and reference["auroc"] - best["auroc"] <= 0.02
        if model == "mobile-base":
            reached = advantage >= 1.15 and within
            verdicts.append(f"{model} {threads}t: optimize {advantage:.2f}x the fastest peer default ({fastest_name}{ran}); "
                            f"goal >= 1.15x within budget: {'REACHED' if reached else 'NOT reached'}")
        else:
            slower = [name for name, row in peers.items() if best["low"] > row["high"]]
            verdicts.append(f"{model} {threads}t: optimize {advantage:.2f}x the fastest peer default ({fastest_name}{ran}); "
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
