"""`mc run --executor ray` against the local executor on this machine: a 9-variant recipe, each run
on an empty cache, wall times of the build phase, the bench phase and the whole run, and the
deterministic figures of both reports compared (they must be identical).

    python benchmarks/scale_out.py [--model mobile-tiny] [--cpus N]

On a 2-core machine the build phase can at most halve (two steps at a time); the bench is one task
taking the whole node either way, so it does not speed up and must not. Ray's start is counted
separately (a cluster is started once and serves many runs). Figures are wall times of this one run
on a shared machine: report the CPU and the load with them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

RECIPE = """\
name: scale-out
model: {model}
target: x86-cpu
reference: fp32
variants:
  fp32: [export]
  int8-dynamic: [export, {{quantize: {{mode: dynamic}}}}]
  int8-static: [export, {{quantize: {{mode: static}}}}]
  fp16: [export, {{quantize: {{mode: fp16}}}}]
  pruned-20: [{{prune: {{amount: 0.2, finetune_epochs: 0}}}}, export]
  pruned-30: [{{prune: {{amount: 0.3, finetune_epochs: 0}}}}, export]
  pruned-40: [{{prune: {{amount: 0.4, finetune_epochs: 0}}}}, export]
  pruned-50: [{{prune: {{amount: 0.5, finetune_epochs: 0}}}}, export]
  pruned-30-dynamic: [{{prune: {{amount: 0.3, finetune_epochs: 0}}}}, export, {{quantize: {{mode: dynamic}}}}]
bench: {{scenario: latency, queries: 64, warmup: 4, duration: 1}}
gates: {{max_accuracy_drop: 100, max_size_mb: 100, min_agreement: 0.0}}
"""

DETERMINISTIC = ("size_mb", "accuracy", "accuracy_drop", "agreement", "confidence_auroc", "confidence_ece")


class Timed:
    """An executor with its build and bench phases timed."""

    def __init__(self, inner) -> None:
        self.inner, self.build_s, self.bench_s = inner, 0.0, 0.0

    def build(self, *args, **kwargs):
        began = time.perf_counter()
        try:
            return self.inner.build(*args, **kwargs)
        finally:
            self.build_s = time.perf_counter() - began

    def bench(self, *args, **kwargs):
        began = time.perf_counter()
        try:
            return self.inner.bench(*args, **kwargs)
        finally:
            self.bench_s = time.perf_counter() - began

    def close(self) -> None:
        self.inner.close()


def figures(report: dict) -> dict:
    return {variant["name"]: {"status": variant["status"], "hashes": [step["sha256"] for step in variant["steps"]],
                              **{key: figure["value"] for key, figure in variant["figures"].items() if key in DETERMINISTIC}}
            for variant in report["variants"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobile-tiny")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray")
    args = parser.parse_args()
    from mc.progress import SilentProgress
    from mc.recipes.executor import LocalExecutor
    from mc.recipes.executor_ray import RayExecutor
    from mc.recipes.loader import load_recipe
    from mc.recipes.runner import run_recipe

    with tempfile.TemporaryDirectory(prefix="mc-scale-out-") as tmp:
        path = Path(tmp) / "scale-out.yaml"
        path.write_text(RECIPE.format(model=args.model))
        recipe = load_recipe(str(path))
        results = {}
        for name in ("local", "ray"):
            began = time.perf_counter()
            inner = LocalExecutor() if name == "local" else RayExecutor(num_cpus=args.cpus)
            start_s = time.perf_counter() - began
            executor = Timed(inner)
            began = time.perf_counter()
            try:
                outcome = run_recipe(recipe, Path(tmp) / name, SilentProgress(), cache_root=Path(tmp) / f"cache-{name}",
                                     executor=executor)
            finally:
                executor.close()
            total = time.perf_counter() - began
            results[name] = {"start_s": start_s, "build_s": executor.build_s, "bench_s": executor.bench_s, "run_s": total,
                             "figures": figures(json.loads((outcome.run_dir / "report.json").read_text()))}
            print(f"{name:5s}: start {start_s:6.1f} s, build {executor.build_s:6.1f} s, bench {executor.bench_s:6.1f} s, "
                  f"run {total:6.1f} s", flush=True)
        local, ray = results["local"], results["ray"]
        same = local["figures"] == ray["figures"]
        print(f"host: {platform.node()}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
              f"{len(recipe.variants)} variants, model {args.model}")
        print(f"build phase: local / ray = {local['build_s'] / ray['build_s']:.2f}x "
              f"(at most {args.cpus}x on {args.cpus} CPUs)")
        print(f"whole run:   local / ray = {local['run_s'] / ray['run_s']:.2f}x "
              f"(ray's start, {ray['start_s']:.1f} s, not counted)")
        print(f"deterministic figures (hashes, sizes, accuracies, AUROC, ECE) identical: {same}")
        if not same:
            for variant in local["figures"]:
                if local["figures"][variant] != ray["figures"].get(variant):
                    print(f"  {variant}: local {local['figures'][variant]}\n  {' ' * len(variant)}  ray   {ray['figures'].get(variant)}")
            raise SystemExit(1)


if __name__ == "__main__":
    main()
