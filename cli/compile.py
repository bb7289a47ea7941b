"""`mc compile MODEL --backend B --precision P -o PATH`: compile for a GPU backend (or torch-compile for this CPU)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mc_cli._errors import build_config, handles_errors
from mc_cli._render import format_metrics, pass_context, say, wrote


@handles_errors
def compile_model(
    model: str = typer.Argument(..., help="Zoo name, checkpoint (.pt), file.py:factory, module:factory, or .onnx (ort-* backends)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write it: .ep (tensorrt), .pt2 (torch-compile), .onnx (ort-cuda, ort-tensorrt)."),
    backend: str = typer.Option(..., help="tensorrt | torch-compile | ort-cuda | ort-tensorrt."),
    precision: str = typer.Option("fp32", help="fp32 | fp16 | int8 (int8: tensorrt via ModelOpt, ort-tensorrt via a calibration table)."),
    device: str = typer.Option("cuda", help="cuda, or cpu (torch-compile only: an AOTInductor build for this CPU)."),
    max_batch: int = typer.Option(1024, help="Largest batch the compiled model accepts."),
    opt_batch: int = typer.Option(1, help="Batch size TensorRT tunes for (1 for real-time, larger for throughput)."),
    tolerance: float | None = typer.Option(None, help="fp32: largest allowed |source - compiled| on any output \\[default: 1e-3 on CPU, 1e-2 on CUDA (TF32)]."),
    min_agreement: float = typer.Option(0.97, help="fp16/int8: least top-1 agreement with the source."),
    calibration: Path | None = typer.Option(None, help="int8 calibration data (.npz/.npy/folder) \\[default: 512 MNIST-1D training samples]."),
    calibration_samples: int = typer.Option(256, help="How many calibration samples to use (int8)."),
    data: Path | None = typer.Option(None, help="Parity data (.npz/.npy/folder) \\[default: MNIST-1D test set]."),
    input_shape: str | None = typer.Option(None, help="A factory's input shape, batch first, e.g. 1,1,40."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the artifact record as JSON here."),
) -> None:
    """Compile MODEL for TensorRT, torch.compile (AOTInductor) or ONNX Runtime's GPU providers, checked against the source.

    The artifact is saved with its lineage (sidecar <file>.json). A backend this host lacks is one line
    naming what to install (exit 2); `mc doctor` lists what this host has.
    """
    from mc.passes import apply_pass
    from mc.passes.compile import CompileConfig

    config = build_config(
        CompileConfig, backend=backend, precision=precision, device=device, max_batch=max_batch, opt_batch=opt_batch,
        tolerance=tolerance, min_agreement=min_agreement, calibration_samples=calibration_samples,
    )
    say(f"compiling [bold]{escape(model)}[/] with {config.backend} ({config.precision}, {config.device}) -> {escape(str(output))}")
    artifact = apply_pass(config, model, output, pass_context(data=data, calibration=calibration, input_shape=input_shape))
    metrics = artifact.record.metrics
    parity = metrics["parity"]
    gate = (f"max |source - compiled| {parity['max_abs_diff']:.2e} (tolerance {parity['tolerance']:g})" if parity["gate"] == "max_abs_diff"
            else f"top-1 agreement {parity['top1_agreement']:.2%} (min {parity['min_agreement']:.0%}), max |diff| {parity['max_abs_diff']:.2e}")
    say(f"parity on {escape(str(parity['data']))}, batch sizes {parity['batch_sizes_checked']}: {gate} [bold green]passed[/]")
    accuracy = parity.get("accuracy")
    if accuracy:
        say(f"source:   {format_metrics(accuracy['source'])}")
        say(f"compiled: {format_metrics(accuracy['compiled'])}")
    wrote(artifact, json_path, f" ({artifact.record.size_bytes / 1024:.1f} KiB, in {metrics['compile_s']:.1f} s)")


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_model)
