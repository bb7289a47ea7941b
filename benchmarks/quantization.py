"""Quantization that pays off: mc's `--mode auto` against what ONNX Runtime's defaults give a user.

    python benchmarks/quantization.py [--models mobile-small mobile-base] [--rounds 15]

For each model: torch eager fp32, ORT fp32, ORT `quantize_dynamic` defaults, ORT `quantize_static`
defaults (the shipped calibration set, everything else default), and `mc quantize --mode auto`
(run through the CLI, 1 thread). Latency is batch 1 on 1 thread, all variants interleaved in one
run, printed as ratios to ORT fp32 (absolute times on a shared 2-core machine mean little).
Accuracy, top-1 agreement and confidence AUROC are on the MNIST-1D test set.
mobile-base has no shipped checkpoint (5.7 MB): run `mc train mobile-base` first.
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

import torch  # noqa: E402

from mc.data.calibration import make_calibration_set  # noqa: E402
from mc.data.evaluation import evaluation_data  # noqa: E402
from mc.metrics import classification_report  # noqa: E402
from mc.models.source import find_zoo_checkpoint, load_torch_model  # noqa: E402
from mc.passes.export import ExportConfig, export_torch  # noqa: E402
from mc.progress import SilentProgress  # noqa: E402
from mc.timing import interleaved_ms  # noqa: E402
from mc.runtimes import predict_all  # noqa: E402
from mc.runtimes.onnxruntime import OnnxRuntimePredictor  # noqa: E402
from mc.runtimes.torch_eager import TorchPredictor  # noqa: E402


def ort_defaults(fp32: Path, workdir: Path) -> tuple[dict[str, Path], list[str]]:
    from onnxruntime.quantization import CalibrationDataReader, quantize_dynamic, quantize_static

    calibration = make_calibration_set(512, seed=0)[0]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.samples = iter(calibration[i : i + 1] for i in range(len(calibration)))

        def get_next(self):
            sample = next(self.samples, None)
            return None if sample is None else {"input": sample}

    notes = []
    variants = {}
    for label, run in (
        ("ORT dynamic (defaults)", lambda src, dst: quantize_dynamic(str(src), str(dst))),
        ("ORT static (defaults)", lambda src, dst: quantize_static(str(src), str(dst), Reader())),
    ):
        target = workdir / f"{label.split()[1]}.onnx"
        try:
            run(fp32, target)
        except Exception as error:  # what a user of the library meets: report it, then do what ORT advises
            from mc.quantization.apply import preprocess

            notes.append(f"{label} fails on the raw export ({type(error).__name__}: {str(error)[:90]}); measured after quant_pre_process")
            preprocessed = workdir / "ort-preprocessed.onnx"
            preprocess(fp32, preprocessed)
            run(preprocessed, target) if "dynamic" in label else quantize_static(str(preprocessed), str(target), Reader())
        variants[label] = target
    return variants, notes


def bench_model(name: str, rounds: int, calls: int, workdir: Path) -> tuple[list[dict], list[tuple[str, bool]]]:
    model = load_torch_model(name)
    data = evaluation_data(model.sample_shape)
    fp32 = workdir / f"{name}.fp32.onnx"
    export_torch(ExportConfig(), model, fp32, data, SilentProgress())
    defaults, notes = ort_defaults(fp32, workdir)
    variants = {"ORT fp32": fp32, **defaults}
    auto = workdir / f"{name}.auto.onnx"
    subprocess.run([sys.executable, "-m", "mc_cli.main", "-q", "quantize", str(fp32), "--mode", "auto", "--threads", "1",
                    "-o", str(auto)], check=True)
    variants["mc auto"] = auto
    auto_record = json.loads(Path(str(auto) + ".json").read_text())

    predictors = {"torch eager fp32": TorchPredictor(model.module)}
    predictors.update({label: OnnxRuntimePredictor(path, threads=1) for label, path in variants.items()})
    times = interleaved_ms(predictors, data.x[:1], rounds=rounds, calls=calls, warmup=30)
    reference = predict_all(predictors["ORT fp32"], data.x)
    rows = []
    for label, predictor in predictors.items():
        logits, confidence = predict_all(predictor, data.x)
        report = classification_report(logits, confidence, data.y, reference_logits=reference[0])
        size = variants[label].stat().st_size if label in variants else None
        rows.append({"model": name, "variant": label, "ms": times[label], "vs_ort_fp32": times["ORT fp32"] / times[label],
                     "accuracy": report["accuracy"], "agreement": report["top1_agreement"], "auroc": report["confidence_auroc"],
                     "size_ratio": None if size is None else size / fp32.stat().st_size})
    by = {row["variant"]: row for row in rows}
    a, f, s = by["mc auto"], by["ORT fp32"], by["ORT static (defaults)"]
    checks = [(f"{name}: auto never slower than ORT fp32 ({a['vs_ort_fp32']:.2f}x)", a["ms"] <= f["ms"] * 1.03)]
    if name == "mobile-base":
        checks += [
            (f"{name}: auto >= 1.3x faster than ORT fp32 ({a['vs_ort_fp32']:.2f}x)", a["vs_ort_fp32"] >= 1.3),
            (f"{name}: auto >= 2x faster than ORT static defaults ({s['ms'] / a['ms']:.2f}x)", s["ms"] / a["ms"] >= 2.0),
            (f"{name}: accuracy drop <= 0.5 pt ({(f['accuracy'] - a['accuracy']) * 100:.2f} pt)", f["accuracy"] - a["accuracy"] <= 0.005),
            (f"{name}: top-1 agreement >= 99% ({a['agreement']:.2%})", a["agreement"] >= 0.99),
            (f"{name}: AUROC within 0.01 ({a['auroc'] - f['auroc']:+.3f})", abs(a["auroc"] - f["auroc"]) <= 0.01),
            (f"{name}: size <= 0.5x fp32 ({a['size_ratio']:.2f}x)", a["size_ratio"] <= 0.5),
        ]
    print(f"\n{name}: mc auto chose: {auto_record['metrics']['plan']}\n  {auto_record['metrics']['search']['verdict']}")
    for note in notes:
        print(f"  note: {note}")
    return rows, checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["mobile-small", "mobile-base"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(1)
    missing = [name for name in args.models if find_zoo_checkpoint(name) is None]
    if missing:
        sys.exit(f"no trained checkpoint for {', '.join(missing)}: run `mc train {missing[0]}` first")
    rows, checks = [], []
    with tempfile.TemporaryDirectory(prefix="mc-bench-quant-") as workdir:
        for name in args.models:
            model_rows, model_checks = bench_model(name, args.rounds, args.calls, Path(workdir))
            rows += model_rows
            checks += model_checks
    print(f"\n{'model':<13}{'variant':<24}{'speed vs ORT fp32':>18}{'accuracy':>10}{'agreement':>11}{'AUROC':>8}{'size':>7}")
    for row in rows:
        size = "" if row["size_ratio"] is None else f"{row['size_ratio']:.2f}x"
        print(f"{row['model']:<13}{row['variant']:<24}{row['vs_ort_fp32']:>17.2f}x{row['accuracy']:>10.2%}"
              f"{row['agreement']:>11.2%}{row['auroc']:>8.3f}{size:>7}")
    print("\nbatch 1, 1 thread, interleaved; speed > 1 is faster than ORT fp32. Size relative to the fp32 ONNX file.")
    for text, passed in checks:
        print(f"  [{'pass' if passed else 'FAIL'}] {text}")


if __name__ == "__main__":
    main()
