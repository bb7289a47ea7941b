"""The runtimes a target really runs, side by side: ONNX Runtime, OpenVINO and ExecuTorch, each at its
defaults, fp32 and int8, on the same model, interleaved in one run.

    python benchmarks/runtimes.py [--models mobile-small mobile-base] [--threads 1 2] [--workdir DIR]

Every variant is built through mc's own CLI (`mc export`, `mc quantize --mode static`, `mc compile
--backend openvino|executorch`), so what is timed is what a user gets; the build is kept in
--workdir and reused when run again. Latency is batch 1, every variant opened by mc's one opener
with the same thread count and timed in interleaved rounds (`mc.ratios.interleaved_ratios`), printed
as the ratio of ORT fp32's latency to the variant's (speed-up, > 1 is faster) with its 95% interval,
for each thread count. Accuracy drop (points) and confidence AUROC are on the MNIST-1D test set.
mobile-base has no shipped checkpoint: run `mc train mobile-base` first. Absolute times on a shared
2-core machine mean little; say which CPU and how loaded it was.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

# (label, file name, how to build it from the model name and the fp32 ONNX file)
VARIANTS: tuple[tuple[str, str, list[str]], ...] = (
    ("ORT fp32", "fp32.onnx", ["export", "{model}", "-o", "{out}"]),
    ("ORT int8 static (mc)", "static.onnx", ["quantize", "{fp32}", "--mode", "static", "-o", "{out}"]),
    ("OpenVINO fp32", "ov-fp32.xml", ["compile", "{model}", "--backend", "openvino", "-o", "{out}"]),
    ("OpenVINO int8 NNCF", "ov-int8.xml", ["compile", "{model}", "--backend", "openvino", "--precision", "int8",
                                           "--min-agreement", "0.9", "-o", "{out}"]),
    ("ExecuTorch fp32", "et-fp32.pte", ["compile", "{model}", "--backend", "executorch", "-o", "{out}"]),
    ("ExecuTorch int8 PT2E", "et-int8.pte", ["compile", "{model}", "--backend", "executorch", "--precision", "int8",
                                             "--min-agreement", "0.9", "-o", "{out}"]),
)


def build(model: str, workdir: Path) -> dict[str, Path]:
    """Each variant's file, built through the CLI unless already there; a variant that fails is left out, with why."""
    folder = workdir / model
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "fp32.onnx"
    built: dict[str, Path] = {}
    for label, name, args in VARIANTS:
        out = folder / name
        if not out.exists():
            command = [sys.executable, "-m", "mc_cli.main", *(arg.format(model=model, fp32=fp32, out=out) for arg in args), "--quiet"]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                print(f"  {label}: not built ({(result.stderr.strip().splitlines() or ['?'])[-1]})", flush=True)
                continue
        built[label] = out
    return built


def accuracy(paths: dict[str, Path]) -> dict[str, dict[str, float]]:
    from mc.data.evaluation import evaluation_data
    from mc.metrics import classification_report
    from mc.runtimes import open_model, predict_all

    data = evaluation_data((1, 40))
    results: dict[str, dict[str, float]] = {}
    reference = None
    for label, path in paths.items():
        outputs = predict_all(open_model(path, threads=2).predictor, data.x, 256)
        reference = outputs[0] if reference is None else reference
        report = classification_report(outputs[0], outputs[1], data.y, reference_logits=reference)
        results[label] = {"accuracy": float(report["accuracy"]), "auroc": float(report["confidence_auroc"] or 0)}
    return results


def time_all(paths: dict[str, Path], threads: int, max_seconds: float) -> dict[str, tuple[float, float, float]]:
    """Speed-up over ORT fp32 (its latency / the variant's) with the interval, interleaved at `threads`."""
    import numpy as np

    from mc.ratios import interleaved_ratios
    from mc.runtimes import open_model

    predictors = {label: open_model(path, threads=threads, shared_cores=True).predictor for label, path in paths.items()}
    sample = np.random.default_rng(0).standard_normal((1, 1, 40)).astype(np.float32)
    timing = interleaved_ratios(predictors, sample, "ORT fp32", max_seconds=max_seconds)
    return {label: (1 / ratio.ratio, 1 / ratio.high, 1 / ratio.low) for label, ratio in timing.ratios.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobile-small", "mobile-base"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--workdir", type=Path, default=None, help="where the variants are built and kept [default: a temp folder]")
    parser.add_argument("--seconds", type=float, default=30.0, help="most seconds of timing per model and thread count")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mc-runtimes-"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.lower().startswith("model name")), platform.processor())
    print(f"host: {cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; batch 1; speed-up over ORT fp32 "
          "(> 1 is faster), median of interleaved rounds [95% interval]")
    for model in args.models:
        print(f"\n{model}: building in {workdir / model}", flush=True)
        paths = build(model, workdir)
        if "ORT fp32" not in paths:
            continue
        scores = accuracy(paths)
        speed = {threads: time_all(paths, threads, args.seconds) for threads in args.threads}
        header = "| variant | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in args.threads) + " | accuracy drop (pt) | AUROC |"
        print(header + "\n|" + "---|" * (header.count("|") - 1))
        base = scores["ORT fp32"]["accuracy"]
        for label in paths:
            cells = " | ".join(f"{speed[t][label][0]:.2f}x [{speed[t][label][1]:.2f}, {speed[t][label][2]:.2f}]" for t in args.threads)
            print(f"| {label} | {cells} | {100 * (base - scores[label]['accuracy']):+.1f} | {scores[label]['auroc']:.3f} |")


if __name__ == "__main__":
    main()
