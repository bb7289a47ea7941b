"""This host's measured GEMM peak (fp32 and int8) at a thread count, and how close a variant gets to it.

A latency alone does not say whether a model is near what the machine can do or far from it: 0.1 ms
is fast for a 1.5 M-parameter model on 1 thread and slow for a 30 k one. The fraction of peak says
that: the time the model's ops would take at the host's measured GEMM rate (fp32 ops at the fp32
peak, int8 ops at the int8 peak, op by op as `mc.runtimes.costs` counts them) over the time it took.
It is a fraction of a *measured* peak, the best dense kernel this host runs (large square GEMMs in
torch, and for int8 the faster of `torch._int_mm` and ONNX Runtime's MatMulInteger), not of a
datasheet figure; small models reach a small fraction because dispatch, memory and thread wake-ups
dominate their 0.1 ms, which is what the figure is for.

The peak is measured once per host, thread count and library versions, in a fresh process under
the bench's thread limits (a ~1-2 s fixed budget), and cached under MC_HOME/peaks/ (with when it
was measured) until `mc bench --remeasure-peak` measures it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

PEAK_SCHEMA = "mc.peak/1"
SIZES = (512, 1024)  # square GEMMs: large enough to be compute bound, small enough for a short budget
BUDGET_PER_KERNEL_S = 0.2  # per (kernel, size) after one warm-up call
MEASURE_TIMEOUT_S = 120.0  # a loaded machine: generous, the budget itself is ~2 s


@dataclass(frozen=True)
class HostPeak:
    """GEMM peaks in G(FL)OP/s (2 ops per multiply-add) at `threads` threads on this host."""

    threads: int
    fp32_gflops: float
    int8_gops: float | None  # None: no int8 GEMM kernel could run here
    int8_kernel: str | None
    fp32_kernel: str = "torch.mm"
    sizes: tuple[int, ...] = SIZES
    host: str = ""
    notes: list[str] = field(default_factory=list)
    measured: str = ""  # when (UTC, ISO 8601): a cached peak is reused until `mc bench --remeasure-peak`

    def as_dict(self) -> dict[str, Any]:
        return {"schema": PEAK_SCHEMA, **asdict(self), "sizes": list(self.sizes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HostPeak":
        fields = {key: data[key] for key in ("threads", "fp32_gflops", "int8_gops", "int8_kernel", "fp32_kernel", "host", "notes", "measured") if key in data}
        return cls(sizes=tuple(data.get("sizes", SIZES)), **fields)

    def peak_for(self, precision: str) -> float:
        """The peak that prices an op of `precision`: int8 ops at the int8 peak (fp32's where none was
        measured), fp32 and fp16 at the fp32 one (no fast fp16 arithmetic on these CPUs)."""
        if precision == "int8" and self.int8_gops:
            return self.int8_gops
        return self.fp32_gflops


def best_rate(call: Callable[[], Any], ops: float, budget_s: float) -> float:
    """Ops per second of the fastest call within `budget_s` (after one untimed warm-up call): a peak is
    what the kernel can do, and on a shared machine the best call is the one nothing interrupted."""
    call()
    best = float("inf")
    began = time.perf_counter()
    while True:
        start = time.perf_counter()
        call()
        end = time.perf_counter()
        best = min(best, end - start)
        if end - began >= budget_s:
            break
    return ops / best


def _torch_fp32(n: int, budget_s: float) -> float:
    import torch

    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=generator), torch.randn(n, n, generator=generator)
    return best_rate(lambda: torch.mm(a, b), 2.0 * n**3, budget_s)


def _torch_int8(n: int, budget_s: float) -> float:
    import torch

    generator = torch.Generator().manual_seed(0)
    a = torch.randint(-128, 128, (n, n), dtype=torch.int8, generator=generator)
    b = torch.randint(-128, 128, (n, n), dtype=torch.int8, generator=generator)
    return best_rate(lambda: torch._int_mm(a, b), 2.0 * n**3, budget_s)


def _ort_int8(n: int, budget_s: float, threads: int) -> float:
    """ONNX Runtime's MatMulInteger, uint8 activations x int8 weights (its VNNI/AVX2 u8s8 kernel)."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = rng.integers(-128, 128, size=(n, n), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w"], ["y"])], "peak",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, 9)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = {"a": rng.integers(0, 256, size=(n, n), dtype=np.uint8)}
    onnx.checker.check_model(model)
    return best_rate(lambda: session.run(None, feed), 2.0 * n**3, budget_s)


def measure_peak(threads: int, budget_s: float = BUDGET_PER_KERNEL_S, sizes: tuple[int, ...] = SIZES) -> HostPeak:
    """Measure in this process (the caller has set the thread limits; torch's are set here too)."""
    import torch

    torch.set_num_threads(threads)
    notes: list[str] = []
    fp32 = max(_torch_fp32(n, budget_s) for n in sizes)
    int8: dict[str, float] = {}
    for name, kernel in (("torch._int_mm", lambda n: _torch_int8(n, budget_s)),
                         ("onnxruntime MatMulInteger (u8s8)", lambda n: _ort_int8(n, budget_s, threads))):
        try:
            int8[name] = max(kernel(n) for n in sizes)
        except Exception as error:  # a kernel this build lacks: the other one may still run
            notes.append(f"{name} did not run here: {type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}")
    kernel = max(int8, key=int8.__getitem__) if int8 else None
    if int8:
        notes.append("int8 kernels: " + ", ".join(f"{name} {rate / 1e9:.1f} GOP/s" for name, rate in int8.items()))
    return HostPeak(threads=threads, fp32_gflops=fp32 / 1e9, int8_gops=int8[kernel] / 1e9 if kernel else None,
                    int8_kernel=kernel, sizes=tuple(sizes), host=host_key_text(threads), notes=notes,
                    measured=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_key_text(threads: int) -> str:
    """What a cached peak is valid for: this host's CPU, the thread count and the kernels' libraries."""
    from mc.versions import library_versions

    versions = library_versions()
    libraries = ", ".join(f"{name} {versions.get(name)}" for name in ("torch", "onnxruntime") if versions.get(name))
    return f"{platform.node()} | {_cpu_model()} | {os.cpu_count()} cpus | {threads} thread(s) | {libraries}"


def cache_path(threads: int) -> Path:
    from mc.paths import mc_home

    digest = hashlib.sha256(host_key_text(threads).encode()).hexdigest()[:16]
    return mc_home() / "peaks" / f"{digest}.json"


def host_peak(threads: int, remeasure: bool = False) -> HostPeak:
    """The cached peak for this host at `threads`, measured first (in a fresh process under the thread
    limits a bench worker gets) when there is none or when `remeasure` asks (a cached peak measured
    while the machine was busy stays low until then)."""
    path = cache_path(threads)
    try:
        data = json.loads(path.read_text())
        if not remeasure and data.get("schema") == PEAK_SCHEMA and data.get("threads") == threads:
            return HostPeak.from_dict(data)
    except (OSError, ValueError, TypeError, KeyError):
        pass
    from mc.atomic import write_json_atomic
    from mc.processes import thread_environment

    path.parent.mkdir(parents=True, exist_ok=True)
    out = path.with_name(path.name + f".{os.getpid()}.measure")
    env = {**os.environ, **thread_environment(threads)}
    try:
        subprocess.run([sys.executable, "-m", "mc.bench.peak", str(threads), str(out)], env=env, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=MEASURE_TIMEOUT_S)
        data = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    write_json_atomic(path, data)
    return HostPeak.from_dict(data)


def fraction_of_peak(flops_by_precision: dict[str, float], latency_ms: float, peak: HostPeak) -> dict[str, Any]:
    """GOP/s achieved at `latency_ms` and the fraction of the matching peak: the time the ops would
    take at the host's peak (each precision at its own) over the time they took."""
    if latency_ms <= 0:
        raise ValueError("latency must be positive")
    seconds = latency_ms / 1e3
    ops = float(sum(flops_by_precision.values()))
    ideal_s = sum(flops / (peak.peak_for(precision) * 1e9) for precision, flops in flops_by_precision.items())
    int8_ops = flops_by_precision.get("int8", 0.0)
    matching = "int8" if int8_ops > ops / 2 and peak.int8_gops else "fp32"
    return {
        "ops": ops,
        "gops": ops / seconds / 1e9,
        "fraction": ideal_s / seconds if ops > 0 else None,
        "peak_gops": peak.peak_for(matching),
        "peak_precision": matching,
        "latency_ms": latency_ms,
        "threads": peak.threads,
        "int8_kernel": peak.int8_kernel,
    }


def main(argv: list[str]) -> int:
    """`python -m mc.bench.peak THREADS OUT.json`: measure under the limits the parent set."""
    threads, out = int(argv[0]), Path(argv[1])
    peak = measure_peak(threads)
    out.write_text(json.dumps(peak.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
