"""`mc quantize MODEL --mode dynamic|static|fp16|auto`: int8 and fp16 over ONNX Runtime, or
PyTorch-native dynamic int8 with `--backend torch`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from mc_cli._console import err, print_table
from mc_cli._errors import build_config, handles_errors
from mc_cli._render import format_metrics, pass_context, say, wrote

OPTION_NAMES = {"method": "--method", "format": "--format", "objective": "--objective", "op_types": "--op-types", "exclude_nodes": "--exclude-nodes"}


class Mode(str, Enum):
    dynamic = "dynamic"
    static = "static"
    fp16 = "fp16"
    auto = "auto"


def _split(text: str | None) -> tuple[str, ...] | None:
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text else None


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _print_precision(table: dict, show_nodes: bool) -> None:
    if "summary" in table:
        summary = Table(title="what was quantized")
        for column in ("op type", "int8", "fp16", "int8 weights only", "fp32"):
            summary.add_column(column, justify="left" if column == "op type" else "right")
        for op, counts in table["summary"].items():
            summary.add_row(escape(op), *(str(counts.get(key, 0)) for key in ("int8", "fp16", "int8 weights, fp32 compute", "fp32")))
        print_table(summary)
    if show_nodes:
        nodes = Table(title="per node")
        for column in ("node", "module", "op", "precision", "kernel"):
            nodes.add_column(column)
        for row in table["nodes"]:
            nodes.add_row(*(escape(str(row.get(key, ""))) for key in ("node", "module", "op_type", "precision", "kernel")))
        print_table(nodes)


def _print_candidates(rows: list[dict]) -> None:
    text = any("mean_cosine" in row for row in rows)
    table = Table(title="auto search: every candidate (speed vs fp32, interleaved; judged on the selection data)")
    columns = ("candidate", "speed", "mean cos", "min cos", "KiB", "verdict") if text else \
        ("candidate", "speed", "accuracy", "agree", "AUROC", "KiB", "verdict")
    for column in columns:
        table.add_column(column, justify="left" if column in ("candidate", "verdict") else "right")
    for row in rows:
        speed = "" if row["ratio_to_fp32"] is None else f"{1 / row['ratio_to_fp32']:.2f}x"
        figures = ([_fmt(row.get("mean_cosine"), ".4f"), _fmt(row.get("min_cosine"), ".4f")] if text else
                   [_fmt(row.get("accuracy"), ".2%"), _fmt(row.get("top1_agreement"), ".1%"), _fmt(row.get("confidence_auroc"), ".3f")])
        table.add_row(escape(row["short_label"]), speed, *figures, f"{row['size_bytes'] / 1024:.0f}", escape(str(row["error"] or row["reason"])))
    print_table(table)


@handles_errors
def quantize(
    model: str = typer.Argument(..., help="An .onnx file, a zoo name / checkpoint / factory / Hugging Face directory (exported first), or an exported text model directory."),
    mode: Mode | None = typer.Option(None, help="dynamic, static (calibrated), fp16, or auto (measured search) \\[default: static; dynamic for text models]."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Output path \\[default: <input>.<mode>.onnx]."),
    target: str = typer.Option("x86-cpu", help="Target profile: its int8 preset and thread count (or a .yaml)."),
    backend: str = typer.Option("onnxruntime", help="onnxruntime, or torch (dynamic int8 of Linear/LSTM/GRU in PyTorch)."),
    calibration: Path | None = typer.Option(None, help="Calibration data (.npz/.npy/folder) \\[default: 512 MNIST-1D training samples]."),
    calibration_samples: int = typer.Option(256, help="How many calibration samples to use."),
    method: str | None = typer.Option(None, help="Calibration method: minmax, entropy, percentile \\[default: minmax]."),
    quant_format: str | None = typer.Option(None, "--format", help="qdq or qoperator \\[default: the target's]."),
    activation_type: str | None = typer.Option(None, help="int8 or uint8 activations \\[default: the target's]."),
    weight_type: str | None = typer.Option(None, help="int8 or uint8 weights \\[default: the target's]."),
    per_channel: bool | None = typer.Option(None, "--per-channel/--per-tensor", help="Weight scales per output channel \\[default: the target's]."),
    reduce_range: bool | None = typer.Option(None, "--reduce-range/--full-range", help="7-bit weights, for x86 without VNNI \\[default: the target's]."),
    op_types: str | None = typer.Option(None, help="Op types to quantize, comma-separated (e.g. Conv,MatMul)."),
    exclude_nodes: str | None = typer.Option(None, help="Node names to keep in fp32, comma-separated."),
    preprocess: bool = typer.Option(True, "--preprocess/--no-preprocess", help="ORT's quant_pre_process first."),
    max_accuracy_drop: float = typer.Option(0.5, help="auto: largest accuracy drop allowed, in points."),
    min_agreement: float = typer.Option(0.99, help="auto: smallest top-1 agreement with fp32 allowed."),
    min_mean_cosine: float = typer.Option(0.99, help="Text models, auto: smallest mean cosine similarity to fp32 embeddings."),
    min_cosine: float = typer.Option(0.98, help="Text models, auto: smallest cosine similarity to fp32 on any one text."),
    objective: str = typer.Option("latency", help="auto: latency (fastest beyond timing noise; ties: smallest), size (smallest not "
                                  "significantly slower than fp32) or accuracy (most accurate of those faster than fp32)."),
    threads: int | None = typer.Option(None, min=1, help="Threads for timing and scoring \\[default: the target's, capped at this host's cores]."),
    data: Path | None = typer.Option(None, help="Labelled held-out data (.npz with x, y) \\[default: MNIST-1D test set]; text models: a text file."),
    show_nodes: bool = typer.Option(False, "--nodes", help="Print the per-node precision table too."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """Quantize MODEL and report what was quantized and what it cost (size, accuracy vs fp32)."""
    from mc.artifact import kind_of_spec
    from mc.passes import apply_pass
    from mc.passes.quantize import QuantizeConfig

    config = build_config(
        QuantizeConfig, OPTION_NAMES, mode=mode.value if mode else None, backend=backend, method=method, format=quant_format,
        activation_type=activation_type, weight_type=weight_type, per_channel=per_channel, reduce_range=reduce_range,
        op_types=_split(op_types), exclude_nodes=_split(exclude_nodes) or (), preprocess=preprocess,
        calibration_samples=calibration_samples, max_accuracy_drop=max_accuracy_drop, min_agreement=min_agreement,
        min_mean_cosine=min_mean_cosine, min_cosine=min_cosine, objective=objective,
    )
    text = kind_of_spec(model) in ("text-torch", "text-onnx")
    ctx = pass_context(target, threads, data=None if text else data, corpus=data if text else None, calibration=calibration)
    say(f"quantizing {escape(model)}: mode {config.mode_for('text-onnx' if text else 'onnx')} (target {escape(ctx.target.name)}, "
        f"{ctx.threads} thread(s))")
    for note in ctx.notes:
        err().print(f"[yellow]note:[/] {escape(note)}")
    artifact = apply_pass(config, model, output, ctx, log=say)
    metrics = artifact.record.metrics
    search = metrics.get("search")
    if search:
        _print_candidates(search["candidates"])
        say(f"[bold]{escape(search['verdict'])}[/]")
    for warning in metrics.get("warnings", []):
        err().print(f"[yellow]warning:[/] {escape(warning)}")
    if "precision" in metrics:
        _print_precision(metrics["precision"], show_nodes)
        say(escape(f"quantized: {metrics['precision_summary']}  (pre-processing: {metrics.get('preprocess') or 'n/a'})"))
    else:
        say(escape(f"quantized modules (torch dynamic int8): {metrics['quantized_modules']}"))
    accuracy, fidelity = metrics.get("accuracy"), metrics.get("fidelity")
    if accuracy and "accuracy" in accuracy["quantized"]:
        say(f"fp32:      {format_metrics(accuracy['fp32'])}   {escape('[' + str(accuracy['data']) + ']')}")
        say(f"quantized: {format_metrics(accuracy['quantized'])}")
    elif accuracy and "max_abs_diff" in accuracy["quantized"]:
        say(f"max |fp32 - quantized| {accuracy['quantized']['max_abs_diff']:.3g} on {escape(str(accuracy['data']))}")
    if fidelity:
        say(f"fidelity to fp32 on {escape(str(fidelity['data']))}: mean cosine {fidelity['mean_cosine']:.4f}, min {fidelity['min_cosine']:.4f}")
        budget = metrics.get("budget", {})
        if not search and budget and (fidelity["mean_cosine"] < budget["min_mean_cosine"] or fidelity["min_cosine"] < budget["min_cosine"]):
            say(f"[yellow]below the fidelity budget (mean >= {budget['min_mean_cosine']}, min >= {budget['min_cosine']}); try --mode auto[/]")
    size = metrics["size"]
    if "bytes" in size:
        detail = f": {size['bytes'] / 1024:.0f} KiB ({size['ratio']:.2f}x fp32)"
    else:
        detail = f": state {size['state_bytes'] / 1024:.0f} KiB ({size['ratio']:.2f}x fp32)"
    wrote(artifact, json_path, detail)


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize)
