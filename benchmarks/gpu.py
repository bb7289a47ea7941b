"""The GPU path, measured: torch eager fp32 vs fp16 vs torch.compile vs ONNX Runtime (CPU provider,
CUDA provider) vs TensorRT, for mobile-small and mobile-base at batch 1 and batch 64, then the
realtime scenario at 20 Hz through `mc bench` (a fresh worker process per variant).

    python benchmarks/gpu.py [--models mobile-small mobile-base] [--duration 10] [--workdir DIR]

mobile-base does not ship: train it once with `mc train mobile-base` (about 2 minutes on 2 cores),
or pass --train-missing to have this script do it. On a host without CUDA every GPU row says why it
is unavailable (the same line `mc compile` prints) and the CPU rows still run, so the script is
checked anywhere; the figures that matter come from a GPU host.

Method: every variant is built by mc's own passes (export, compile) and verified against torch by
them; latency is `mc.timing.interleaved_ms` (interleaved rounds, median of per-round means, warm-up
first, so lazy compilation is never timed), end to end: a batch goes in as NumPy and the outputs come
back to the host, which synchronizes the GPU. TensorRT engines (Torch-TensorRT and ORT's provider)
are tuned for batch 1 (`--opt-batch 1`) with a profile up to 1024. Compare figures within one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Interleaved CPU runtimes must not steal cores from each other between calls: idle OpenMP threads sleep.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from mc.runtimes.availability import cuda_status, missing  # noqa: E402
from mc.data.evaluation import evaluation_data  # noqa: E402
from mc.errors import McError  # noqa: E402
from mc.models.source import find_zoo_checkpoint, load_torch_model  # noqa: E402
from mc.passes import PassContext, apply_pass  # noqa: E402
from mc.passes.compile import CompileConfig  # noqa: E402
from mc.passes.export import ExportConfig, export_torch  # noqa: E402
from mc.progress import SilentProgress  # noqa: E402
from mc.runtimes.compiled_torch import CompiledTorchPredictor  # noqa: E402
from mc.runtimes.onnxruntime import OnnxRuntimePredictor  # noqa: E402
from mc.timing import interleaved_ms  # noqa: E402
from mc.versions import distribution_version  # noqa: E402

BATCHES = (1, 64)


def device_line() -> str:
    cuda = cuda_status()
    versions = f"torch {distribution_version('torch')}, onnxruntime {distribution_version('onnxruntime-gpu') or distribution_version('onnxruntime')}"
    trt = distribution_version("torch-tensorrt")
    versions += f", torch-tensorrt {trt}" if trt else ", no torch-tensorrt"
    if cuda.torch_can_use:
        return f"device: {cuda.name} (CUDA {cuda.torch_cuda_build}); {versions}; host {platform.node()}, {os.cpu_count()} cores"
    cpu = platform.processor() or platform.machine()
    return f"device: no CUDA GPU here (CPU only: {cpu}, {os.cpu_count()} cores); {versions}"


def ensure_checkpoint(name: str, train: bool) -> bool:
    if find_zoo_checkpoint(name) is not None:
        return True
    if not train:
        print(f"{name}: no checkpoint: run `mc train {name}` once (or pass --train-missing); skipped")
        return False
    print(f"{name}: training it first (`mc train {name}`)")
    subprocess.run([sys.executable, "-m", "mc_cli.main", "train", name], check=True)
    return True


class Row:
    def __init__(self, label: str, predictor=None, note: str = ""):
        self.label, self.predictor, self.note = label, predictor, note
        self.ms: dict[int, float] = {}


def _compile(config: CompileConfig, source: str, output: Path) -> tuple[Path | None, str]:
    """`source` is what a user would type as MODEL (a zoo name or an .onnx path)."""
    problem = missing(config.backend, config.precision, config.device)
    if problem:
        return None, problem
    try:
        apply_pass(config, source, output, PassContext.for_target("gpu"))
    except McError as error:
        return None, str(error)
    return output, ""


def build_rows(name: str, workdir: Path) -> tuple[list[Row], dict[str, Path]]:
    """Every variant of one model, built by mc's passes; unavailable ones carry the reason."""
    import torch

    model = load_torch_model(name)
    data = evaluation_data(model.sample_shape)
    cuda = cuda_status().torch_can_use
    device = "cuda" if cuda else "cpu"
    rows: list[Row] = []
    files: dict[str, Path] = {}

    fp32 = load_torch_model(name).module.to(device).eval()  # `model` stays on the CPU: the passes' reference
    rows.append(Row(f"torch eager fp32 ({device})", CompiledTorchPredictor(fp32, device, "torch")))
    if cuda:
        half = load_torch_model(name).module.half().to(device).eval()
        rows.append(Row("torch eager fp16 (cuda)", CompiledTorchPredictor(half, device, "torch", "float16")))
    else:
        rows.append(Row("torch eager fp16 (cuda)", note="no CUDA GPU"))
    jit = torch.compile(load_torch_model(name).module.to(device).eval())
    rows.append(Row(f"torch.compile JIT fp32 ({device})", CompiledTorchPredictor(jit, device, "torch.compile")))

    aoti, why = _compile(CompileConfig(backend="torch-compile", device=device), name, workdir / f"{name}.{device}.pt2")
    rows.append(_loaded(f"torch.compile AOTInductor fp32 ({device})", aoti, why, files, "aoti"))

    onnx = workdir / f"{name}.onnx"
    export_torch(ExportConfig(), load_torch_model(name), onnx, data, SilentProgress())
    files["onnx-cpu"] = onnx
    rows.append(Row(f"ORT CPU EP fp32 ({os.cpu_count()} threads)", OnnxRuntimePredictor(onnx, threads=os.cpu_count())))
    for backend, precision in (("ort-cuda", "fp32"), ("ort-cuda", "fp16"), ("ort-tensorrt", "fp16")):
        path, why = _compile(CompileConfig(backend=backend, precision=precision), str(onnx), workdir / f"{name}.{backend}.{precision}.onnx")
        provider = {"ort-cuda": "CUDA", "ort-tensorrt": "TensorRT"}[backend]
        rows.append(_loaded(f"ORT {provider} EP {precision}", path, why, files, f"{backend}-{precision}"))
    for precision in ("fp32", "fp16"):
        path, why = _compile(CompileConfig(backend="tensorrt", precision=precision), name, workdir / f"{name}.trt.{precision}.ep")
        rows.append(_loaded(f"TensorRT {precision} (Torch-TensorRT)", path, why, files, f"tensorrt-{precision}"))
    return rows, files


def _loaded(label: str, path: Path | None, why: str, files: dict[str, Path], key: str) -> Row:
    if path is None:
        return Row(label, note=why)
    from mc.runtimes import open_model

    files[key] = path
    return Row(label, open_model(path).predictor)


def measure(rows: list[Row], sample_shape: tuple[int, ...]) -> None:
    x = evaluation_data(sample_shape).x
    live = {row.label: row.predictor for row in rows if row.predictor is not None}
    for batch in BATCHES:
        sample = np.resize(x, (batch, *x.shape[1:])).astype(np.float32)
        for label, value in interleaved_ms(live, sample, rounds=7, calls=30, warmup=20).items():
            next(row for row in rows if row.label == label).ms[batch] = value


def print_table(name: str, rows: list[Row]) -> None:
    base = rows[0].ms
    print(f"\n{name}")
    print("| variant | batch 1 ms | batch 64 ms | samples/s at 64 | vs eager fp32 (b1 / b64) |")
    print("|---|---|---|---|---|")
    for row in rows:
        if row.predictor is None:
            print(f"| {row.label} | unavailable | | | {row.note} |")
            continue
        b1, b64 = row.ms.get(1), row.ms.get(64)
        ratio = f"{base[1] / b1:.2f}x / {base[64] / b64:.2f}x" if b1 and b64 else ""
        print(f"| {row.label} | {b1:.3f} | {b64:.3f} | {64 / b64 * 1e3:,.0f} | {ratio} |")


def realtime(files: dict[str, Path], name: str, duration: float) -> None:
    """The realtime scenario at 20 Hz through `mc bench`: one fresh worker process per variant."""
    from mc.bench.config import BenchConfig
    from mc.bench.runner import run_bench

    target = "gpu" if cuda_status().torch_can_use else "x86-cpu"
    artifacts = [name] + [str(path) for path in files.values()]
    result = run_bench(artifacts, target, BenchConfig(scenario="realtime", duration=duration, rate=20.0), SilentProgress())
    print(f"\n{name}: realtime at 20 Hz for {duration:g} s per variant, target {target} ({result['measurement']['label']})")
    print("| variant | runtime | p50 ms | p90 ms | p99 ms | max ms | > 50 ms | > 100 ms | dropped | first call s | GPU memory MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for variant in result["variants"]:
        if variant["status"] != "ok":
            print(f"| {variant['artifact']} | failed | | | | | | | | | {variant['error']} |")
            continue
        measured = variant["measured"]
        scenario = measured["scenario"]
        latency, misses = scenario["latency_ms"], scenario["misses"]
        gpu = measured.get("gpu_memory") or {}
        memory = gpu.get("torch_peak_allocated_mb", gpu.get("process_used_mb", gpu.get("device_used_mb")))

        def fmt(value: Any) -> str:
            return "n/a" if value is None else f"{value:.2f}"

        print(
            f"| {Path(variant['artifact']).name} | {variant['runtime']} | {fmt(latency['p50'])} | {fmt(latency['p90'])} | {fmt(latency['p99'])} | "
            f"{fmt(latency['max'])} | {misses['over_target']} | {misses['over_limit']} | {scenario['dropped']} | "
            f"{fmt(measured['first_call_s'].get('1'))} | {fmt(memory)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["mobile-small", "mobile-base"])
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of the realtime scenario per variant (p90 needs 64 requests: 3.2 s; p99 needs 662: 33.1 s)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the compiled artifacts here")
    parser.add_argument("--train-missing", action="store_true", help="train a zoo model that has no checkpoint yet")
    parser.add_argument("--skip-realtime", action="store_true")
    args = parser.parse_args()
    print(device_line())
    with tempfile.TemporaryDirectory(prefix="mc-gpu-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for name in args.models:
            if not ensure_checkpoint(name, args.train_missing):
                continue
            rows, files = build_rows(name, workdir)
            measure(rows, load_torch_model(name).sample_shape)
            print_table(name, rows)
            if not args.skip_realtime:
                realtime(files, name, args.duration)


if __name__ == "__main__":
    main()
