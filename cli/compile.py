"""`mc compile MODEL --backend B --precision P -o PATH`: compile for a GPU backend (or torch-compile for this CPU)."""

from __future__ import annotations

from pathlib import Path

import typer

from mc_cli._console import RichProgress, out, write_json_result
from mc_cli._errors import build_config, handles_errors
from mc_cli.evaluate import format_metrics


@handles_errors
def compile_model(
    model: str = typer.Argument(..., help="Zoo name, checkpoint (.pt), file.py:factory, module:factory, or .onnx (ort-* backends)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write it: .ep (tensorrt), .pt2 (torch-compile), .onnx (ort-cuda, ort-tensorrt)."),
    backend: str = typer.Option(..., help="tensorrt | torch-compile | ort-cuda | ort-tensorrt."),
    precision: str = typer.Option("fp32", help="fp32 | fp16 | int8 (int8: tensorrt via ModelOpt, ort-tensorrt via a calibration table)."),
    device: str = typer.Option("cuda", help="cuda, or cpu (torch-compile only: an AOTInductor build for this CPU)."),
    max_batch: int = typer.Option(1024, help="Largest batch the compiled model accepts."),
    opt_batch: int = typer.Option(1, help="Batch size TensorRT tunes for (1 for real-time, larger for throughput)."),
    tolerance: float | None = typer.Option(None, help="fp32: largest allowed |source - compiled| on any output [default: 1e-3 on CPU, 1e-2 on CUDA (TF32)]."),
    min_agreement: float = typer.Option(0.97, help="fp16/int8: least top-1 agreement with the source."),
    calibration: Path | None = typer.Option(None, help="int8 calibration data (.npz/.npy/folder) [default: 512 MNIST-1D training samples]."),
    calibration_samples: int = typer.Option(256, help="How many calibration samples to use (int8)."),
    data: Path | None = typer.Option(None, help="Parity data (.npz/.npy/folder) [default: MNIST-1D test set]."),
    input_shape: str | None = typer.Option(None, help="A factory's input shape, batch first, e.g. 1,1,40."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the artifact record as JSON here."),
) -> None:
    """Compile MODEL for TensorRT, torch.compile (AOTInductor) or ONNX Runtime's GPU providers, checked against the source.

    The artifact is saved with its lineage (sidecar <file>.json). A backend this host lacks is one line
    naming what to install (exit 2); `mc doctor` lists what this host has.
    """
    from mc.data.evaluation import evaluation_data
    from mc.errors import InputError
    from mc.passes import run_pass
    from mc.passes.compile import CompileConfig, check_available, check_output

    config = build_config(
        CompileConfig, backend=backend, precision=precision, device=device, max_batch=max_batch, opt_batch=opt_batch,
        tolerance=tolerance, min_agreement=min_agreement, calibration_samples=calibration_samples,
    )
    check_available(config)
    check_output(config, output)
    if model.endswith(".onnx"):
        if not config.takes_onnx:
            raise InputError(
                f"{model} is ONNX; --backend {config.backend} compiles a torch model (zoo name, checkpoint or factory): "
                "pass that, or use --backend ort-tensorrt / ort-cuda for ONNX files"
            )
        from mc.onnx_file import load_onnx_model

        source = load_onnx_model(Path(model))
        sample_shape, description = source.sample_shape, f"{model} (onnx)"
        if any(dim <= 0 for dim in sample_shape):
            raise InputError(f"{model} has symbolic input dimensions {sample_shape}; re-export it with `mc export`")
    else:
        from mc.models.source import load_torch_model, parse_input_shape

        source = load_torch_model(model, parse_input_shape(input_shape) if input_shape else None)
        sample_shape, description = source.sample_shape, source.description
    evaluation = evaluation_data(sample_shape, data)
    samples = None
    if config.precision == "int8":
        samples = _calibration(calibration, sample_shape, config.calibration_samples)
    out().print(f"compiling [bold]{description}[/] with {config.backend} ({config.precision}, {config.device}) -> {output}")
    outcome = run_pass(config, source, output, evaluation, samples, RichProgress())
    parity = outcome.parity
    gate = (f"max |source - compiled| {parity['max_abs_diff']:.2e} (tolerance {parity['tolerance']:g})" if parity["gate"] == "max_abs_diff"
            else f"top-1 agreement {parity['top1_agreement']:.2%} (min {parity['min_agreement']:.0%}), max |diff| {parity['max_abs_diff']:.2e}")
    out().print(f"parity on {parity['data']}, batch sizes {parity['batch_sizes_checked']}: {gate} [bold green]passed[/]")
    accuracy = parity.get("accuracy")
    if accuracy:
        out().print(f"source:   {format_metrics(accuracy['source'])}")
        out().print(f"compiled: {format_metrics(accuracy['compiled'])}")
    metrics = outcome.record.metrics
    out().print(f"wrote {output} ({outcome.record.size_bytes / 1024:.1f} KiB) and {output}.json in {metrics['compile_s']:.1f} s")
    write_json_result(json_path, outcome.record.to_json())


def _calibration(path: Path | None, sample_shape: tuple[int, ...], count: int):
    from mc.data.samples import load_samples
    from mc.errors import InputError

    if path is not None:
        return load_samples(path, sample_shape, min_samples=16).x[:count]
    from mc.data.calibration import make_calibration_set
    from mc.data.mnist1d import INPUT_SHAPE

    if tuple(sample_shape) != tuple(INPUT_SHAPE):
        raise InputError(f"--precision int8 needs calibration data shaped like the model's input {sample_shape}: pass --calibration PATH")
    return make_calibration_set(512, seed=0)[0][:count]


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_model)
