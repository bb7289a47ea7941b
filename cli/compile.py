"""`mc compile MODEL --backend B --precision P -o PATH`: compile for a backend (GPU, or this CPU: torch-compile, executorch, openvino)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mc_cli._errors import build_config, handles_errors
from mc_cli._render import format_metrics, pass_context, say, wrote


@handles_errors
def compile_model(
    model: str = typer.Argument(..., help="Zoo name, checkpoint (.pt), file.py:factory, module:factory, or .onnx (ort-* backends)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write it: .ep (tensorrt), .pt2 (torch-compile), .onnx (ort-cuda, ort-tensorrt), .pte (executorch), .xml (openvino)."),
    backend: str = typer.Option(..., help="tensorrt | torch-compile | ort-cuda | ort-tensorrt | executorch | openvino (`mc doctor` lists what this host has)."),
    precision: str = typer.Option("fp32", help="fp32 | fp16 | int8 (int8: tensorrt via ModelOpt, ort-tensorrt via a calibration table)."),
    device: str | None = typer.Option(None, help="cuda or cpu \\[default: the backend's own: cuda for GPU backends, cpu for executorch and openvino]."),
    max_batch: int = typer.Option(1024, help="Largest batch the compiled model accepts (1, executorch: a static program for one frame a call; larger batches then run a sample at a time)."),
    opt_batch: int = typer.Option(1, help="Batch size TensorRT tunes for (1 for real-time, larger for throughput)."),
    tolerance: float | None = typer.Option(None, help="fp32: largest allowed |source - compiled| on any output \\[default: 1e-3 on CPU, 1e-2 on CUDA (TF32)]."),
    min_agreement: float = typer.Option(0.97, help="fp16/int8: least top-1 agreement with the source."),
    calibration: Path | None = typer.Option(None, help="int8 calibration data (.npz/.npy/folder) \\[default: 512 MNIST-1D training samples]."),
    calibration_samples: int = typer.Option(256, help="How many calibration samples to use (int8)."),
    int8_mode: str = typer.Option("static", help="int8: static (calibrated) or dynamic (activations quantized per call; executorch)."),
    max_accuracy_drop: float | None = typer.Option(None, help="int8: accuracy budget in points on a validation split: openvino (NNCF's accuracy control, then the confidence AUROC is checked), executorch (the modules mc ranks most sensitive kept in fp32, 0/1/2/4/8, until within it)."),
    fp32_module: list[str] = typer.Option([], "--fp32-module", help="int8: keep this module (qualified name) in fp32 (executorch); repeatable."),
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
        tolerance=tolerance, min_agreement=min_agreement, calibration_samples=calibration_samples, int8_mode=int8_mode,
        fp32_modules=tuple(fp32_module), max_accuracy_drop=max_accuracy_drop, options={"fp32_modules": "--fp32-module"},
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
    delegation = metrics["settings"].get("delegation") if isinstance(metrics.get("settings"), dict) else None
    if delegation:
        kinds = ", ".join(f"{name} x{count}" for name, count in delegation["non_delegated_kinds"].items()) or "none"
        say(f"delegation: {delegation['delegated_subgraphs']} subgraph(s) to {delegation['delegate']}; "
            f"{delegation['non_delegated_ops']} op(s) not delegated: {escape(kinds)}")
    control = metrics["settings"].get("accuracy_control") if isinstance(metrics.get("settings"), dict) else None
    if control:
        say(f"accuracy control: drop {control['accuracy_drop_points']:.2f} pt (budget {config.max_accuracy_drop:g}), "
            f"confidence AUROC drop {control['auroc_drop']:.3f} (max {control['max_auroc_drop']:g}) [bold green]passed[/]")
    for note in (metrics["settings"].get("notes") or []) if isinstance(metrics.get("settings"), dict) else []:
        say(f"note: {escape(note)}")
    wrote(artifact, json_path, f" ({artifact.record.size_bytes / 1024:.1f} KiB, in {metrics['compile_s']:.1f} s)")


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_model)
