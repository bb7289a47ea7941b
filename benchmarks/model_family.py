"""The model family as shipped: size, cost, accuracy and export parity, and how ONNX Runtime fp32
compares to torch eager at batch 1 on one thread (ratios, measured interleaved in one run).

    python benchmarks/model_family.py [--rounds 15] [--calls 50]

Absolute times on a shared 2-core machine mean little, so latencies are printed as ratios to
torch eager of the same model, measured in alternating rounds so drift hits both alike.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from mc.data.evaluation import evaluation_data  # noqa: E402
from mc.models.source import find_zoo_checkpoint, load_torch_model, untrained_zoo_model  # noqa: E402
from mc.models.stats import count_macs, count_parameters  # noqa: E402
from mc.passes.export import ExportConfig, export_torch  # noqa: E402
from mc.progress import SilentProgress  # noqa: E402
from mc.timing import interleaved_ms  # noqa: E402
from mc.runtimes.onnxruntime import OnnxRuntimePredictor  # noqa: E402
from mc.runtimes.torch_eager import TorchPredictor  # noqa: E402

MODELS = ("mobile-tiny", "mobile-small", "mobile-base", "cpu-mlp", "gru-small")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x1 = evaluation_data((1, 40)).x[:1]
    header = f"{'model':<13}{'params':>10}{'MACs':>12}{'ckpt':>9}{'acc torch':>11}{'acc onnx':>10}{'AUROC':>8}{'max|diff|':>11}{'ORT/torch':>11}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as workdir:
        for name in MODELS:
            found = find_zoo_checkpoint(name)
            trained = found is not None
            torch.manual_seed(0)
            model = load_torch_model(name) if trained else untrained_zoo_model(name)
            data = evaluation_data(model.sample_shape)
            onnx_path = Path(workdir) / f"{name}.onnx"
            record = export_torch(ExportConfig(), model, onnx_path, data, SilentProgress())
            metrics = record.metrics
            accuracy = metrics.get("accuracy", {})
            times = interleaved_ms(
                {"torch": TorchPredictor(model.module), "ort": OnnxRuntimePredictor(onnx_path, threads=1)},
                x1, rounds=args.rounds, calls=args.calls,
            )
            acc_t = f"{accuracy['torch']['accuracy']:.1%}" if trained else "untrained"
            acc_o = f"{accuracy['onnx']['accuracy']:.1%}" if trained else ""
            auroc = f"{accuracy['onnx']['confidence_auroc']:.3f}" if trained else ""
            print(
                f"{name:<13}{count_parameters(model.module):>10,}{count_macs(model.module, model.sample_shape):>12,}"
                f"{found[1].split()[0] if found else '-':>9}{acc_t:>11}{acc_o:>10}{auroc:>8}"
                f"{max(metrics['parity']['max_abs_diff'].values()):>11.1e}{times['ort'] / times['torch']:>10.2f}x"
            )
    print("\nORT/torch: ONNX Runtime fp32 latency as a fraction of torch eager, batch 1, 1 thread (lower is faster).")


if __name__ == "__main__":
    main()
