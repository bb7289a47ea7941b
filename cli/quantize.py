"""`mc quantize MODEL --mode dynamic|static|fp16|auto`: int8 and fp16 over ONNX Runtime, or
PyTorch-native dynamic int8 with `--backend torch`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.table import Table

from mc_cli._console import RichProgress, err, out, write_json_result
from mc_cli._errors import build_config, handles_errors
from mc_cli.evaluate import format_metrics


STATIC_OPTIONS = {"calibration_method": "--method", "format": "--format", "op_types": "--op-types", "exclude_nodes": "--exclude-nodes"}


class Mode(str, Enum):
    dynamic = "dynamic"
    static = "static"
    fp16 = "fp16"
    auto = "auto"


def _split(text: str | None) -> tuple[str, ...] | None:
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text else None


def _default_output(model: str, mode: str, backend: str) -> Path:
    suffix = ".pt" if backend == "torch" else ".onnx"
    if model.endswith(".onnx"):
        source = Path(model)
        return source.with_name(f"{source.stem}.{mode}{suffix}")
    name = Path(model.split(":")[-1]).stem if (":" in model or model.endswith((".pt", ".pth"))) else model
    return Path("out") / f"{name}.{mode}{suffix}"


def _print_precision(table: dict, show_nodes: bool) -> None:
    summary = Table(title="what was quantized")
    for column in ("op type", "int8", "fp16", "int8 weights only", "fp32"):
        summary.add_column(column, justify="left" if column == "op type" else "right")
    for op, counts in table["summary"].items():
        summary.add_row(op, *(str(counts.get(key, 0)) for key in ("int8", "fp16", "int8 weights, fp32 compute", "fp32")))
    out().print(summary)
    if show_nodes:
        nodes = Table(title="per node")
        for column in ("node", "module", "op", "precision", "kernel"):
            nodes.add_column(column)
        for row in table["nodes"]:
            nodes.add_row(row["node"], row["module"], row["op_type"], row["precision"], row["kernel"])
        out().print(nodes)


def _print_candidates(rows: list[dict]) -> None:
    table = Table(title="auto search: every candidate (speed vs fp32, interleaved; judged on the selection data)")
    for column in ("candidate", "speed", "accuracy", "agree", "AUROC", "KiB", "verdict"):
        table.add_column(column, justify="left" if column in ("candidate", "verdict") else "right")
    for row in rows:
        speed = "" if row["ratio_to_fp32"] is None else f"{1 / row['ratio_to_fp32']:.2f}x"
        fmt = lambda v, spec: "" if v is None else format(v, spec)  # noqa: E731
        table.add_row(row["short_label"], speed, fmt(row["accuracy"], ".2%"), fmt(row["top1_agreement"], ".1%"),
                      fmt(row["confidence_auroc"], ".3f"), f"{row['size_bytes'] / 1024:.0f}", row["error"] or row["reason"])
    out().print(table)


@handles_errors
def quantize(
    model: str = typer.Argument(..., help="An .onnx file, a zoo name / checkpoint / factory / Hugging Face directory (exported first), or an exported text model directory."),
    mode: Mode | None = typer.Option(None, help="dynamic, static (calibrated), fp16, or auto (measured search) [default: static; dynamic for text models]."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Output path [default: <input>.<mode>.onnx]."),
    target: str = typer.Option("x86-cpu", help="Target profile: its int8 preset and thread count (or a .yaml)."),
    backend: str = typer.Option("onnxruntime", help="onnxruntime, or torch (dynamic int8 of Linear/LSTM/GRU in PyTorch)."),
    calibration: Path | None = typer.Option(None, help="Calibration data (.npz/.npy/folder) [default: 512 MNIST-1D training samples]."),
    calibration_samples: int = typer.Option(256, help="How many calibration samples to use."),
    method: str | None = typer.Option(None, help="Calibration method: minmax, entropy, percentile [default: minmax]."),
    quant_format: str | None = typer.Option(None, "--format", help="qdq or qoperator [default: the target's]."),
    activation_type: str | None = typer.Option(None, help="int8 or uint8 activations [default: the target's]."),
    weight_type: str | None = typer.Option(None, help="int8 or uint8 weights [default: the target's]."),
    per_channel: bool | None = typer.Option(None, "--per-channel/--per-tensor", help="Weight scales per output channel [default: the target's]."),
    reduce_range: bool | None = typer.Option(None, "--reduce-range/--full-range", help="7-bit weights, for x86 without VNNI [default: the target's]."),
    op_types: str | None = typer.Option(None, help="Op types to quantize, comma-separated (e.g. Conv,MatMul)."),
    exclude_nodes: str | None = typer.Option(None, help="Node names to keep in fp32, comma-separated."),
    preprocess: bool = typer.Option(True, "--preprocess/--no-preprocess", help="ORT's quant_pre_process first."),
    max_accuracy_drop: float = typer.Option(0.5, help="auto: largest accuracy drop allowed, in points."),
    min_agreement: float = typer.Option(0.99, help="auto: smallest top-1 agreement with fp32 allowed."),
    min_mean_cosine: float = typer.Option(0.99, help="Text models, auto: smallest mean cosine similarity to fp32 embeddings."),
    min_cosine: float = typer.Option(0.98, help="Text models, auto: smallest cosine similarity to fp32 on any one text."),
    threads: int | None = typer.Option(None, help="Threads for timing and scoring [default: the target's, capped at this host's cores]."),
    data: Path | None = typer.Option(None, help="Labelled held-out data (.npz with x, y) [default: MNIST-1D test set]; text models: a text file."),
    show_nodes: bool = typer.Option(False, "--nodes", help="Print the per-node precision table too."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """Quantize MODEL and report what was quantized and what it cost (size, accuracy vs fp32)."""
    from mc.data.evaluation import evaluation_data
    from mc.data.samples import load_samples
    from mc.errors import InputError
    from mc.hf.source import is_text_model
    from mc.targets import load_target

    if is_text_model(model):
        from mc_cli._hf import quantize_text

        quantize_text(model, (mode or Mode.dynamic).value, output, target, per_channel, reduce_range, weight_type, _split(op_types),
                      _split(exclude_nodes) or (), threads, data, min_mean_cosine, min_cosine, show_nodes, json_path)
        return
    mode = mode or Mode.static
    profile = load_target(target)
    threads = threads or profile.host_threads()
    destination = output or _default_output(model, mode.value, backend)
    if backend not in ("onnxruntime", "torch"):
        raise InputError(f"--backend {backend!r}: use onnxruntime or torch")
    if backend == "torch":
        _quantize_torch(model, mode, destination, data, json_path)
        return
    if destination.suffix != ".onnx":
        raise InputError(f"-o {destination}: the output must end in .onnx")

    from mc.quantization.request import QuantizeRequest, default_calibration, quantize_onnx

    request = build_config(
        QuantizeRequest, STATIC_OPTIONS, mode=mode.value, method=method, format=quant_format,
        activation_type=activation_type, weight_type=weight_type, per_channel=per_channel, reduce_range=reduce_range,
        op_types=_split(op_types), exclude_nodes=_split(exclude_nodes) or (), preprocess=preprocess,
        calibration_samples=calibration_samples, max_accuracy_drop=max_accuracy_drop, min_agreement=min_agreement,
    )
    onnx_model = _onnx_source(model, destination)
    evaluation = evaluation_data(onnx_model.sample_shape, data)
    samples = load_samples(calibration, onnx_model.sample_shape).x if calibration else default_calibration(onnx_model.sample_shape)
    if mode is Mode.auto:
        out().print(f"auto search on {onnx_model.path}: target {profile.name}, {threads} thread(s), budget: accuracy drop "
                    f"<= {request.max_accuracy_drop} pt, agreement >= {request.min_agreement:.0%}; final figures on "
                    f"{evaluation.description}")
    else:
        from mc.quantization.request import plan_for

        out().print(f"quantizing {onnx_model.path}: {plan_for(request, profile).label()} (target {profile.name}, {threads} thread(s))")
    outcome = quantize_onnx(request, onnx_model, destination, profile, samples, evaluation, threads, RichProgress(), data)
    search = outcome.record.metrics.get("search")
    if search:
        _print_candidates(search["candidates"])
        out().print(f"[bold]{search['verdict']}[/]")
    for warning in outcome.warnings:
        err().print(f"[yellow]warning:[/] {warning}")
    metrics = outcome.record.metrics
    _print_precision(outcome.precision, show_nodes)
    out().print(f"quantized: {metrics['precision_summary']}  (pre-processing: {metrics.get('preprocess', 'n/a')})")
    accuracy = metrics["accuracy"]
    if "accuracy" in accuracy["quantized"]:
        out().print(f"fp32:      {format_metrics(accuracy['fp32'])}   [{accuracy['data']}]")
        out().print(f"quantized: {format_metrics(accuracy['quantized'])}")
    else:
        out().print(f"max |fp32 - quantized| {accuracy['quantized']['max_abs_diff']:.3g} on {accuracy['data']}")
    size = metrics["size"]
    out().print(f"wrote {destination}: {size['bytes'] / 1024:.0f} KiB ({size['ratio']:.2f}x fp32) and {destination}.json")
    write_json_result(json_path, outcome.record.to_json())


def _onnx_source(model: str, destination: Path):
    """An .onnx file as it is; a torch model is exported (and verified) first, beside the output."""
    from mc.onnx_file import load_onnx_model

    if model.endswith(".onnx"):
        return load_onnx_model(Path(model))
    from mc.data.evaluation import evaluation_data
    from mc.models.source import load_torch_model
    from mc.passes import run_pass
    from mc.passes.export import ExportConfig

    source = load_torch_model(model)
    fp32_path = destination.with_name(destination.stem.rsplit(".", 1)[0] + ".fp32.onnx")
    out().print(f"exporting {source.description} -> {fp32_path} (the fp32 reference)")
    run_pass(ExportConfig(), source, fp32_path, evaluation_data(source.sample_shape), RichProgress())
    return load_onnx_model(fp32_path)


def _quantize_torch(model: str, mode: Mode, destination: Path, data: Path | None, json_path: Path | None) -> None:
    from mc.data.evaluation import evaluation_data
    from mc.errors import InputError
    from mc.models.source import load_torch_model
    from mc.passes import run_pass
    from mc.passes.torch_quantize import TorchDynamicQuantizeConfig

    if mode is not Mode.dynamic:
        raise InputError(f"--backend torch supports --mode dynamic only (got {mode.value}); use ONNX Runtime for {mode.value}")
    if destination.suffix not in (".pt", ".pth"):
        raise InputError(f"-o {destination}: a torch checkpoint path must end in .pt")
    source = load_torch_model(model)
    outcome = run_pass(TorchDynamicQuantizeConfig(), source, destination, evaluation_data(source.sample_shape, data), RichProgress())
    metrics = outcome.record.metrics
    out().print(f"quantized modules (torch dynamic int8): {metrics['quantized_modules']}")
    if "accuracy" in metrics:
        out().print(f"fp32:      {format_metrics(metrics['accuracy']['fp32'])}")
        out().print(f"quantized: {format_metrics(metrics['accuracy']['quantized'])}")
    out().print(f"wrote {destination}: state {metrics['size']['state_bytes'] / 1024:.0f} KiB ({metrics['size']['ratio']:.2f}x fp32) and {destination}.json")
    write_json_result(json_path, outcome.record.to_json())


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize)
