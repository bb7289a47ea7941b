"""`mc distill TEACHER --student STUDENT`: knowledge distillation, confidence head included."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from mc_cli._errors import build_config, handles_errors
from mc_cli._render import format_metrics, pass_context, say, wrote


@handles_errors
def distill(
    teacher: str = typer.Argument(..., help="Teacher: zoo name, checkpoint or file.py:factory."),
    student: str | None = typer.Option(None, help="Student: a zoo name (trained from scratch) or a checkpoint."),
    width_mult: float | None = typer.Option(None, help="Student = the teacher's family at this width multiplier (e.g. 0.25)."),
    temperature: float = typer.Option(4.0, help="Softmax temperature of the soft targets."),
    alpha: float = typer.Option(0.7, help="Weight of the soft targets against the labels."),
    epochs: int = typer.Option(30, help="Epochs: the budget `mc train` gives a model alone."),
    early_stopping: str = typer.Option("none", help="none keeps the final epoch; val_loss or val_accuracy keep the best epoch on it."),
    patience: int = typer.Option(10, help="With --early-stopping: epochs without validation improvement before stopping."),
    recalibrate: bool = typer.Option(True, "--recalibrate/--no-recalibrate",
                                     help="Afterwards, retrain the student's confidence head alone on augmented training data (never the test set)."),
    data: str = typer.Option("mnist1d", "--data", help="Built-in data: mnist1d or mnist1d-hard."),
    seed: int = typer.Option(0, help="Random seed."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Checkpoint path \\[default: out/<student>.distilled.pt]."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """Distil TEACHER into a smaller student: softened answers, labels, and the confidence head."""
    from mc.passes import apply_pass
    from mc.passes.distill import DistillConfig

    config = build_config(DistillConfig, {"student": "--student", "width_mult": "--width-mult"}, student=student,
                          width_mult=width_mult, temperature=temperature, alpha=alpha, epochs=epochs, patience=patience, seed=seed,
                          early_stopping=early_stopping, recalibrate=recalibrate, data=data)
    say(f"distilling {escape(teacher)} -> {escape(student or f'width x{width_mult}')} (T={temperature}, alpha={alpha})")
    artifact = apply_pass(config, teacher, output, pass_context())
    metrics = artifact.record.metrics
    for role in ("teacher", "student"):
        row = metrics[role]
        say(f"{role}: {row['parameters']:,} params, {row['macs']:,} MACs; test {format_metrics(row['test'])}")
    if metrics.get("recalibration", {}).get("done"):
        say(f"student's confidence head recalibrated on {metrics['recalibration']['samples']:,} augmented training samples "
            "(test set untouched; --no-recalibrate skips it)")
    ratio = metrics["teacher"]["parameters"] / metrics["student"]["parameters"]
    say(f"{ratio:.1f}x fewer parameters")
    wrote(artifact, json_path)


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)
