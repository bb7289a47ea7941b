"""`mc export MODEL -o out.onnx`: torch -> ONNX, checked against torch numerically."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mc_cli._errors import build_config, handles_errors
from mc_cli._render import format_metrics, parity_line, pass_context, say, wrote


@handles_errors
def export(
    model: str = typer.Argument(..., help="Zoo name, checkpoint (.pt), file.py:factory, module:factory or a Hugging Face model directory."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the .onnx file (its sidecar goes to <file>.json); a directory for text models."),
    opset: int | None = typer.Option(None, help="ONNX opset \\[default: 18; Optimum's own for Hugging Face models]."),
    tolerance: float = typer.Option(1e-4, help="Largest allowed |torch - onnx| difference on any output."),
    data: Path | None = typer.Option(None, help="Evaluation data (.npz/.npy/folder) \\[default: MNIST-1D test set]; text models: a text file."),
    input_shape: str | None = typer.Option(None, help="A factory's input shape, batch first, e.g. 1,1,40."),
    task: str = typer.Option("feature-extraction", help="Hugging Face directories: the Optimum task to export for."),
    exporter: str = typer.Option("auto", help="auto, dynamo (torch.onnx) or optimum (Hugging Face directories)."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """Export MODEL to ONNX (dynamic batch axis), run onnx.checker and check parity against torch.

    A Hugging Face model directory goes through Optimum (the text zoo model through torch.onnx with
    its memory as inputs) into a directory: model.onnx, its sidecar and the tokenizer.
    """
    from mc.artifact import kind_of_spec
    from mc.passes import apply_pass
    from mc.passes.export import ExportConfig

    config = build_config(ExportConfig, opset=opset, tolerance=tolerance, task=task, exporter=exporter)
    text = kind_of_spec(model) in ("text-torch", "text-onnx")
    ctx = pass_context(data=None if text else data, corpus=data if text else None, input_shape=input_shape)
    say(f"exporting [bold]{escape(model)}[/] -> {escape(str(output))}")
    artifact = apply_pass(config, model, output, ctx)
    metrics = artifact.record.metrics
    if "optimum_check" in metrics:
        say(f"Optimum's output check (atol {tolerance:g}) [bold green]passed[/]")
    say(parity_line(metrics["parity"]))
    pooled = metrics["parity"].get("pooled")
    if pooled:
        say(f"mean-pooled embeddings, torch vs onnx: mean cosine {pooled['mean_cosine']:.6f}, min {pooled['min_cosine']:.6f}")
    accuracy = metrics.get("accuracy")
    if accuracy:
        say(f"torch: {format_metrics(accuracy['torch'])}")
        say(f"onnx:  {format_metrics(accuracy['onnx'])}")
    wrote(artifact, json_path, "" if text else f" ({artifact.record.size_bytes / 1024:.1f} KiB)")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
