"""`mc optimize MODEL --target T --max-accuracy-drop X -o DIR`: every runtime the target lists x
precision, built, judged and timed side by side here; the best by the objective is written to DIR."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from mc_cli._console import err, out, write_json_result
from mc_cli._errors import build_config, handles_errors
from mc_cli._render import pass_context, say


def _split(text: str | None) -> tuple[str, ...] | None:
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text else None


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def print_candidates(result: dict) -> None:
    reference = result["timing"]["reference"]
    table = Table(title=f"every candidate: speed vs {reference}, interleaved here ({result['threads']} thread(s)); "
                        f"judged on {result['selection_data']}; * Pareto front")
    for column in ("candidate", "built by", "speed [95%]", "accuracy", "agree", "AUROC", "KiB", "verdict"):
        table.add_column(column, justify="left" if column in ("candidate", "built by", "verdict") else "right")
    for row in result["candidates"]:
        speed = ""
        if row["ratio"]:
            speed = f"{1 / row['ratio']:.2f}x" + (f" [{1 / row['high']:.2f}, {1 / row['low']:.2f}]" if row["low"] and row["high"] else "")
        name = ("[bold]" if row["kept"] else "") + escape(row["name"]) + (" *" if row["pareto"] else "") + ("[/]" if row["kept"] else "")
        verdict = row["status"] if row["status"] != "ok" else ""
        verdict = f"{verdict}: {row['reason']}" if verdict and row["reason"] else (verdict or row["reason"])
        if row["status"] == "unavailable" and "pip install" not in row["reason"] and "no fp16" not in row["reason"]:
            verdict = f"unavailable: {row['reason']}"
        table.add_row(name, escape(row["how"]), speed, _fmt(row["accuracy"], ".2%"), _fmt(row["top1_agreement"], ".1%"),
                      _fmt(row["confidence_auroc"], ".3f"), "" if row["size_bytes"] is None else f"{row['size_bytes'] / 1024:.0f}",
                      escape(verdict))
    out().print(table)


@handles_errors
def optimize(
    model: str = typer.Argument(..., help="A zoo name, checkpoint or factory (every runtime), or an .onnx file (ONNX runtimes only)."),
    target: str = typer.Option(..., help="Target profile (or a .yaml): the runtimes it lists are the candidates, with its threads."),
    output: Path = typer.Option(..., "-o", "--output", help="A new folder: the winner's model and sidecar, optimize.json (the table)."),
    max_accuracy_drop: float = typer.Option(0.5, help="Largest accuracy drop allowed against fp32, in points."),
    min_agreement: float = typer.Option(0.99, help="Smallest top-1 agreement with fp32 allowed."),
    max_auroc_drop: float = typer.Option(0.02, help="Largest confidence-AUROC drop allowed."),
    objective: str = typer.Option("latency", help="Among candidates indistinguishable on speed from the fastest: latency "
                                  "(fastest point estimate), size (smallest) or accuracy (most accurate)."),
    runtimes: str | None = typer.Option(None, help="Runtimes to try, comma-separated \\[default: every one the target lists]."),
    precisions: str = typer.Option("fp32,int8,fp16", help="Precisions to try (fp16 only where the target computes in fp16)."),
    max_seconds: float = typer.Option(20.0, help="Budget of the side-by-side timing, in seconds."),
    tune_threads: bool = typer.Option(True, "--tune-threads/--no-tune-threads", help="Also time the winner on fewer threads "
                                      "than the target's (1, 2, 4, ...), each in its own process; the folder runs on the fastest count significantly faster."),
    max_batch: int = typer.Option(1, help="Largest batch compiled candidates are built for: 1, one frame a call, makes static "
                                  "ExecuTorch programs (larger batches then run a sample at a time)."),
    threads: int | None = typer.Option(None, min=1, help="Threads \\[default: the target's, capped at this host's cores]."),
    data: Path | None = typer.Option(None, help="Labelled data (.npz with x, y) the candidates are judged on \\[default: MNIST-1D validation split]."),
    calibration: Path | None = typer.Option(None, help="Calibration data for int8 \\[default: 512 MNIST-1D training samples]."),
    input_shape: str | None = typer.Option(None, help="A factory's sample shape, e.g. 1,40."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the whole result (optimize.json) here too."),
) -> None:
    """Try every runtime x precision the target runs, keep the best within the accuracy budget, measured here."""
    import json

    from mc.passes import run_pass, source_artifact
    from mc.passes.optimize import OptimizeConfig

    config = build_config(
        OptimizeConfig, {"max_seconds": "--max-seconds"}, runtimes=_split(runtimes), precisions=_split(precisions) or (),
        max_accuracy_drop=max_accuracy_drop, min_agreement=min_agreement, max_auroc_drop=max_auroc_drop,
        objective=objective, max_seconds=max_seconds, max_batch=max_batch, tune_threads=tune_threads,
    )
    config.check_output(output, "compiled")  # an existing folder is refused before any work
    ctx = pass_context(target, threads, data=data, calibration=calibration, input_shape=input_shape)
    for note in ctx.notes:
        err().print(f"[yellow]note:[/] {escape(note)}")
    source = source_artifact(model, ctx.input_shape)
    say(f"optimizing {escape(model)} for {escape(ctx.target.name)} ({ctx.threads} thread(s)): runtimes "
        f"{', '.join(config.runtimes or ctx.target.runtimes)} x {', '.join(config.precisions)}, objective {config.objective}")
    artifact = run_pass(config, source, output, ctx)
    result = json.loads((output / "optimize.json").read_text())
    print_candidates(result)
    say(f"[bold]{escape(result['verdict'])}[/]")
    model_file = json.loads((output / "artifact.json").read_text())["file"]
    out().print(f"wrote {escape(str(output))}/: {escape(model_file)} with its sidecar, and optimize.json (every candidate)")
    write_json_result(json_path, result)
    del artifact


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)
