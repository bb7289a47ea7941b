"""`mc distill TEACHER --student STUDENT`: knowledge distillation, confidence head included."""

from __future__ import annotations

from pathlib import Path

import typer

from mc_cli._console import RichProgress, out, write_json_result
from mc_cli._errors import build_config, handles_errors
from mc_cli.evaluate import format_metrics


@handles_errors
def distill(
    teacher: str = typer.Argument(..., help="Teacher: zoo name, checkpoint or file.py:factory."),
    student: str | None = typer.Option(None, help="Student: a zoo name (trained from scratch) or a checkpoint."),
    width_mult: float | None = typer.Option(None, help="Student = the teacher's family at this width multiplier (e.g. 0.25)."),
    temperature: float = typer.Option(4.0, help="Softmax temperature of the soft targets."),
    alpha: float = typer.Option(0.7, help="Weight of the soft targets against the labels."),
    epochs: int = typer.Option(80, help="Maximum epochs (early stopping may end sooner)."),
    patience: int = typer.Option(15, help="Epochs without validation improvement before stopping."),
    seed: int = typer.Option(0, help="Random seed."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Checkpoint path [default: out/<student>.distilled.pt]."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """Distil TEACHER into a smaller student: softened answers, labels, and the confidence head."""
    import torch

    from mc.errors import InputError
    from mc.models.source import is_zoo_spec, load_torch_model, untrained_zoo_model
    from mc.passes import run_pass
    from mc.passes.distill import DistillConfig, scaled_student

    config = build_config(DistillConfig, temperature=temperature, alpha=alpha, epochs=epochs, patience=patience, seed=seed)
    if (student is None) == (width_mult is None):
        raise InputError("give exactly one of --student NAME and --width-mult X")
    if width_mult is not None and not 0 < width_mult < 1:
        raise InputError(f"--width-mult {width_mult}: a student is narrower than its teacher, pick a value in (0, 1)")
    teacher_model = load_torch_model(teacher)
    torch.manual_seed(seed)
    if width_mult is not None:
        student_model = scaled_student(teacher_model, width_mult)
    elif is_zoo_spec(student):  # type: ignore[arg-type]
        student_model = untrained_zoo_model(student)  # type: ignore[arg-type]
    else:
        student_model = load_torch_model(student)  # type: ignore[arg-type]
    name = student_model.display_name
    destination = output or Path("out") / f"{name}.distilled.pt"
    if destination.suffix not in (".pt", ".pth"):
        raise InputError(f"-o {destination}: a checkpoint path must end in .pt")
    out().print(f"distilling {teacher_model.description} -> {student_model.description} (T={temperature}, alpha={alpha})")
    outcome = run_pass(config, teacher_model, student_model, destination, RichProgress())
    metrics = outcome.record.metrics
    for role in ("teacher", "student"):
        row = metrics[role]
        out().print(f"{role}: {row['parameters']:,} params, {row['macs']:,} MACs; test {format_metrics(row['test'])}")
    ratio = metrics["teacher"]["parameters"] / metrics["student"]["parameters"]
    out().print(f"{ratio:.1f}x fewer parameters; wrote {destination} and {destination}.json")
    write_json_result(json_path, outcome.record.to_json())


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)
