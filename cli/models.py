"""`mc models`: the built-in model family and its checkpoints."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mc_cli._console import out, print_table, write_json_result
from mc_cli._errors import handles_errors


@handles_errors
def models(json_path: Path | None = typer.Option(None, "--json", help="Write the table as JSON here.")) -> None:
    """List the model family: parameters, MACs per sample, checkpoint and its test accuracy."""
    from mc.models.catalog import model_catalog

    rows = model_catalog()
    table = Table(title="mc model family (input: MNIST-1D, 1x40)")
    table.add_column("model", no_wrap=True)
    for column in ("params", "MACs", "test acc", "conf. AUROC", "hard acc"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("checkpoint")
    for row in rows:
        accuracy = "" if row["test_accuracy"] is None else f"{row['test_accuracy']:.1%}"
        auroc = "" if row["confidence_auroc"] is None else f"{row['confidence_auroc']:.3f}"
        hard = "" if row.get("hard_accuracy") is None else f"{row['hard_accuracy']:.1%}"
        checkpoint = (row["checkpoint_kind"] or "[dim]none[/dim]").replace(" checkpoint", "")
        count = lambda value: "n/a" if value is None else f"{value:,}"  # noqa: E731
        table.add_row(row["name"], count(row["parameters"]), count(row["macs"]), accuracy, auroc, hard, checkpoint)
    print_table(table)
    for row in rows:
        if row.get("modality") == "text":
            note = row.get("unavailable") or f"backbone {row['backbone']}, MACs for {row['input_shape'][1]} tokens; export, quantize and bench it by name"
            out().print(f"[dim]{row['name']}: a text model; {note}[/dim]")
    if any(row.get("hard_accuracy") is not None for row in rows):
        out().print("[dim]hard acc: on mnist1d-hard (more noise, shear and scale; `--data mnist1d-hard` in train, eval, bench)[/dim]")
    if any(row["checkpoint"] is None for row in rows):
        out().print("[dim]a model with no checkpoint gets one with `mc train NAME`[/dim]")
    write_json_result(json_path, rows)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
