"""Pruning and distillation that make models faster, measured (ORT fp32, batch 1, 1 thread).

    python benchmarks/pruning.py [--finetune-epochs 3] [--rounds 15]

Runs the real commands on mobile-base (train it first: `mc train mobile-base`):
  mc prune mobile-base --structured --amount 0.5     (then fine-tuning)
  mc distill mobile-base --student mobile-tiny
  mc quantize <pruned> --mode auto                  (prune, then quantize)
and compares each against unpruned mobile-base and the shipped mobile-tiny trained alone. All
latencies are interleaved in one run and printed as ratios; accuracy is on the MNIST-1D test set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from mc.data.evaluation import evaluation_data  # noqa: E402
from mc.models.source import find_zoo_checkpoint  # noqa: E402
from mc.quantization.evaluate import reference_outputs, score  # noqa: E402
from mc.timing import onnx_latency_ms  # noqa: E402


def mc(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "mc_cli.main", "-q", *args], check=True)


def params_of(path: Path) -> int:
    record = json.loads(Path(str(path) + ".json").read_text())
    return record["model"]["parameters"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    if find_zoo_checkpoint("mobile-base") is None:
        sys.exit("no trained mobile-base: run `mc train mobile-base` first")
    with tempfile.TemporaryDirectory(prefix="mc-bench-prune-") as tmp:
        work = Path(tmp)
        mc("export", "mobile-base", "-o", str(work / "base.onnx"))
        mc("export", "mobile-tiny", "-o", str(work / "tiny.onnx"))
        mc("prune", "mobile-base", "--structured", "--amount", "0.5", "--finetune-epochs", str(args.finetune_epochs), "-o", str(work / "pruned.pt"))
        mc("export", str(work / "pruned.pt"), "-o", str(work / "pruned.onnx"))
        mc("quantize", str(work / "pruned.onnx"), "--mode", "auto", "--threads", "1", "-o", str(work / "pruned.auto.onnx"))
        mc("distill", "mobile-base", "--student", "mobile-tiny", "-o", str(work / "distilled.pt"))
        mc("export", str(work / "distilled.pt"), "-o", str(work / "distilled.onnx"))

        variants = {
            "mobile-base fp32": work / "base.onnx",
            "pruned 50% + fine-tune": work / "pruned.onnx",
            "pruned + mc auto int8": work / "pruned.auto.onnx",
            "distilled -> mobile-tiny": work / "distilled.onnx",
            "mobile-tiny trained alone": work / "tiny.onnx",
        }
        data = evaluation_data((1, 40))
        times = onnx_latency_ms(variants, data.x[:1], threads=1, rounds=args.rounds, calls=60)
        reference = reference_outputs(work / "base.onnx", data.x, data.y, threads=1)
        parameters = {
            "mobile-base fp32": json.loads(Path(str(work / "base.onnx") + ".json").read_text())["model"]["parameters"],
            "pruned 50% + fine-tune": params_of(work / "pruned.pt"),
            "pruned + mc auto int8": params_of(work / "pruned.pt"),
            "distilled -> mobile-tiny": params_of(work / "distilled.pt"),
            "mobile-tiny trained alone": json.loads(Path(str(work / "tiny.onnx") + ".json").read_text())["model"]["parameters"],
        }
        rows = {}
        for label, path in variants.items():
            result = score(path, reference, threads=1)
            rows[label] = {**result, "latency_ratio": times[label] / times["mobile-base fp32"], "params": parameters[label],
                           "size_ratio": path.stat().st_size / (work / "base.onnx").stat().st_size}

    base = rows["mobile-base fp32"]
    print(f"\n{'variant':<28}{'latency':>9}{'params':>11}{'params':>8}{'size':>7}{'accuracy':>10}{'drop':>8}{'agree':>8}{'AUROC':>7}")
    for label, row in rows.items():
        print(f"{label:<28}{row['latency_ratio']:>8.2f}x{row['params']:>11,}{row['params'] / base['params']:>7.2f}x{row['size_ratio']:>6.2f}x"
              f"{row['accuracy']:>10.2%}{(base['accuracy'] - row['accuracy']) * 100:>7.2f}{row['top1_agreement']:>8.1%}{row['confidence_auroc']:>7.3f}")
    print("\nlatency and params relative to mobile-base fp32 (ORT fp32, batch 1, 1 thread, interleaved); drop in points.")
    pruned, distilled, alone = rows["pruned 50% + fine-tune"], rows["distilled -> mobile-tiny"], rows["mobile-tiny trained alone"]
    checks = [
        (f"structured 50%: latency <= 0.6x ({pruned['latency_ratio']:.2f}x)", pruned["latency_ratio"] <= 0.6),
        (f"structured 50%: params <= 0.35x ({pruned['params'] / base['params']:.2f}x)", pruned["params"] / base["params"] <= 0.35),
        (f"structured 50%: accuracy drop <= 1 pt ({(base['accuracy'] - pruned['accuracy']) * 100:.2f})", base["accuracy"] - pruned["accuracy"] <= 0.01),
        (f"distilled: >= 6x fewer params ({base['params'] / distilled['params']:.1f}x)", base["params"] / distilled["params"] >= 6),
        (f"distilled: >= 3x faster ({1 / distilled['latency_ratio']:.2f}x)", distilled["latency_ratio"] <= 1 / 3),
        (f"distilled: <= 2 pt below teacher ({(base['accuracy'] - distilled['accuracy']) * 100:.2f})", base["accuracy"] - distilled["accuracy"] <= 0.02),
        (f"distilled beats mobile-tiny alone ({distilled['accuracy']:.2%} vs {alone['accuracy']:.2%})", distilled["accuracy"] > alone["accuracy"]),
    ]
    for text, passed in checks:
        print(f"  [{'pass' if passed else 'FAIL'}] {text}")


if __name__ == "__main__":
    main()
