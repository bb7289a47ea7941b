"""`mc eval MODEL`: accuracy and metacognition of any model on the held-out data."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mc_cli._console import out, write_json_result
from mc_cli._errors import handles_errors
from mc_cli._render import format_metrics


@handles_errors
def evaluate(
    model: str = typer.Argument(..., help="Zoo name, checkpoint, factory or .onnx file."),
    data: Path | None = typer.Option(None, help="Labelled data (.npz with x and y) or a built-in setting (mnist1d-hard) \\[default: MNIST-1D test set]."),
    reference: str | None = typer.Option(None, help="A reference model (e.g. the fp32 original) for top-1 agreement."),
    input_shape: str | None = typer.Option(None, help="A factory's input shape, batch first, e.g. 1,1,40."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """Score MODEL: task accuracy, confidence AUROC (type 2), calibration error, agreement."""
    from mc.evaluation import evaluate as run_evaluation
    from mc.models.source import parse_input_shape

    result = run_evaluation(model, data, parse_input_shape(input_shape) if input_shape else None, reference)
    out().print(f"{escape(str(result['model']))} on {escape(str(result['data']))}:")
    out().print(format_metrics(result["metrics"]))
    write_json_result(json_path, result)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
