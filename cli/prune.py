"""`mc prune MODEL`: structured pruning that shrinks layers, or permanent unstructured sparsity."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from mc_cli._console import out, print_table
from mc_cli._errors import build_config, handles_errors
from mc_cli._render import format_metrics, pass_context, say, wrote


@handles_errors
def prune(
    model: str = typer.Argument(..., help="A zoo name or a checkpoint (pruned ones included)."),
    structured: bool = typer.Option(True, "--structured/--unstructured", help="Remove whole channels/heads, or single weights."),
    amount: float | None = typer.Option(None, help="Share to remove, in (0, 1)."),
    target_speedup: float | None = typer.Option(None, help="Structured: prune until ORT latency is this many times faster."),
    steps: int = typer.Option(1, help="Iterative schedule: prune in this many steps, fine-tuning after each."),
    finetune_epochs: int = typer.Option(3, help="Fine-tuning epochs after each step (0: none)."),
    importance: str = typer.Option("magnitude", help="Channel importance: magnitude or taylor."),
    global_pruning: bool = typer.Option(False, "--global/--per-layer", help="One ranking across layers, or the same ratio per layer."),
    round_to: int = typer.Option(8, help="Round channel counts to a multiple of this."),
    recalibrate: bool = typer.Option(True, "--recalibrate/--no-recalibrate",
                                     help="Afterwards, retrain the confidence head alone on augmented training data (never the test set)."),
    data: str = typer.Option("mnist1d", "--data", help="Built-in data to fine-tune and score on: mnist1d or mnist1d-hard."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Checkpoint path \\[default: out/<model>.pruned.pt]."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """Prune MODEL; fine-tune to recover accuracy; save a checkpoint that `mc export` takes as is."""
    from mc.passes import apply_pass
    from mc.passes.prune import PruneConfig

    config = build_config(
        PruneConfig, {"method": "--structured/--unstructured"}, method="structured" if structured else "unstructured",
        amount=amount, target_speedup=target_speedup, steps=steps, finetune_epochs=finetune_epochs,
        importance=importance, global_pruning=global_pruning, round_to=round_to, recalibrate=recalibrate, data=data,
    )
    say(f"pruning {escape(model)}: {config.method}, "
        + (f"amount {config.amount}" if config.amount else f"target speed-up {config.target_speedup}x")
        + f", {config.steps} step(s), {config.finetune_epochs} fine-tuning epoch(s) per step")
    artifact = apply_pass(config, model, output, pass_context())
    metrics = artifact.record.metrics
    table = Table(title=f"pruning effect ({config.data} test set)")
    for column in ("", "params", "MACs", "accuracy / AUROC / ECE"):
        table.add_column(column)
    for label in ("before", "after"):
        row = metrics[label]
        table.add_row(label, f"{row['parameters']:,}", f"{row['macs']:,}", format_metrics(row["test"]))
    print_table(table)
    out().print(f"params {metrics['ratios']['parameters']:.2f}x, MACs {metrics['ratios']['macs']:.2f}x; "
                f"{len(metrics['layers_shrunk'])} tensors shrank")
    if "recalibration" in metrics:
        out().print(_recalibration_line(metrics["recalibration"]))
    if "sparsity" in metrics:
        out().print(f"sparsity {metrics['sparsity']['pruned_weights']:.0%} of pruned weights (dense kernels: no speed-up); "
                    f"compressed state {metrics['compressed_bytes'] / 1024:.0f} KiB")
    if "speedup_trace" in metrics:
        out().print(f"measured speed-up (ORT fp32, 1 thread) at the last step: {metrics['speedup_trace'][-1]['speedup']:.2f}x")
    if "warning" in metrics:
        out().print(f"[yellow]warning:[/] {escape(metrics['warning'])}")
    wrote(artifact, json_path)


def _recalibration_line(recalibration: dict) -> str:
    if not recalibration.get("done"):
        return f"confidence head not recalibrated: {escape(recalibration.get('reason', ''))}"
    return (f"confidence head recalibrated: refitted on {recalibration['epochs']} clean and {recalibration['epochs']} augmented "
            f"copies of {recalibration['samples']:,} training samples (test set untouched; --no-recalibrate skips it)")


def register(app: typer.Typer) -> None:
    app.command("prune")(prune)
