"""`mc export MODEL -o out.onnx`: torch -> ONNX, checked against torch numerically."""

from __future__ import annotations

from pathlib import Path

import typer

from mc_cli._console import RichProgress, out, write_json_result
from mc_cli._errors import build_config, handles_errors
from mc_cli.evaluate import format_metrics


@handles_errors
def export(
    model: str = typer.Argument(..., help="Zoo name, checkpoint (.pt), file.py:factory, module:factory or a Hugging Face model directory."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the .onnx file (its sidecar goes to <file>.json); a directory for text models."),
    opset: int = typer.Option(18, help="ONNX opset (17 or newer)."),
    tolerance: float = typer.Option(1e-4, help="Largest allowed |torch - onnx| difference on any output."),
    data: Path | None = typer.Option(None, help="Evaluation data (.npz/.npy/folder) [default: MNIST-1D test set]; text models: a text file."),
    input_shape: str | None = typer.Option(None, help="A factory's input shape, batch first, e.g. 1,1,40."),
    task: str = typer.Option("feature-extraction", help="Hugging Face directories: the Optimum task to export for."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """Export MODEL to ONNX (dynamic batch axis), run onnx.checker and check parity against torch.

    A Hugging Face model directory (or the text zoo model) goes through Optimum (torch.onnx for the
    memory-augmented wrapper) into a directory: model.onnx, its sidecar and the tokenizer.
    """
    from mc.hf.source import is_text_model

    if is_text_model(model):
        from mc_cli._hf import export_text

        export_text(model, output, opset, tolerance, task, data, json_path)
        return
    from mc.data.evaluation import evaluation_data
    from mc.errors import InputError
    from mc.models.source import load_torch_model, parse_input_shape
    from mc.passes import run_pass
    from mc.passes.export import ExportConfig

    if output.suffix != ".onnx":
        raise InputError(f"-o {output}: the output must end in .onnx")
    config = build_config(ExportConfig, opset=opset, tolerance=tolerance)
    source = load_torch_model(model, parse_input_shape(input_shape) if input_shape else None)
    evaluation = evaluation_data(source.sample_shape, data)
    out().print(f"exporting [bold]{source.description}[/] (opset {opset}) -> {output}")
    outcome = run_pass(config, source, output, evaluation, RichProgress())
    parity = outcome.parity
    differences = "  ".join(f"{name} {value:.2e}" for name, value in parity["max_abs_diff"].items())
    out().print(
        f"parity on {parity['data']}, batch sizes {parity['batch_sizes_checked']}: max |torch - onnx| {differences} "
        f"(tolerance {parity['tolerance']:g}) [bold green]passed[/]"
    )
    accuracy = outcome.record.metrics.get("accuracy")
    if accuracy:
        out().print(f"torch: {format_metrics(accuracy['torch'])}")
        out().print(f"onnx:  {format_metrics(accuracy['onnx'])}")
    out().print(f"wrote {output} ({outcome.record.size_bytes / 1024:.1f} KiB) and {output}.json")
    write_json_result(json_path, outcome.record.to_json())


def register(app: typer.Typer) -> None:
    app.command("export")(export)
