"""`mc train MODEL`: train a model of the family (or a user factory) on MNIST-1D."""

from __future__ import annotations

from pathlib import Path

import typer

from mc_cli._console import RichProgress, out, write_json_result
from mc_cli._errors import build_config, handles_errors
from mc_cli.evaluate import format_metrics


@handles_errors
def train(
    model: str = typer.Argument(..., help="Zoo name (trained from scratch), checkpoint (fine-tuned) or file.py:factory."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Checkpoint path [default: the mc cache, where zoo names find it]."),
    epochs: int = typer.Option(80, help="Maximum epochs (early stopping may end sooner)."),
    batch_size: int = typer.Option(64, help="Mini-batch size."),
    learning_rate: float = typer.Option(3e-3, "--lr", help="Peak learning rate (AdamW, warm-up then cosine)."),
    patience: int = typer.Option(15, help="Epochs without validation improvement before stopping."),
    val_fraction: float = typer.Option(0.1, help="Share of the training set held out for validation."),
    seed: int = typer.Option(0, help="Random seed (data split, initialisation, batches)."),
    input_shape: str | None = typer.Option(None, help="A factory's input shape, batch first, e.g. 1,1,40."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """Train MODEL on MNIST-1D; write the checkpoint and its metadata (<checkpoint>.json)."""
    import torch

    from mc.errors import InputError
    from mc.models.source import is_zoo_spec, load_torch_model, parse_input_shape, untrained_zoo_model
    from mc.passes import run_pass
    from mc.passes.train import TrainConfig
    from mc.paths import trained_checkpoint_path

    config = build_config(
        TrainConfig, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
        val_fraction=val_fraction, seed=seed,
    )
    torch.manual_seed(seed)  # zoo models are built (initialised) under the seed
    if is_zoo_spec(model):
        source = untrained_zoo_model(model)  # a zoo name trains from scratch
    else:
        source = load_torch_model(model, parse_input_shape(input_shape) if input_shape else None)
    if output is None and "model" not in source.origin:
        raise InputError(f"{model} is not a zoo model: pass -o PATH for its checkpoint")
    destination = output or trained_checkpoint_path(source.display_name)
    if destination.suffix not in (".pt", ".pth"):
        raise InputError(f"-o {destination}: a checkpoint path must end in .pt")
    out().print(f"training [bold]{source.display_name}[/] on MNIST-1D (seed {seed}) -> {destination}")
    outcome = run_pass(config, source, destination, RichProgress())
    metrics = outcome.record.metrics
    out().print(
        f"test {format_metrics(metrics['test'])}  params {outcome.record.model['parameters']:,}  "
        f"best epoch {metrics['best_epoch']}/{metrics['epochs_run']} ({metrics['train_seconds']:.0f} s)"
    )
    out().print(f"wrote {destination} and {destination}.json")
    write_json_result(json_path, outcome.record.to_json())


def register(app: typer.Typer) -> None:
    app.command("train")(train)
