"""Subcommands of the mission that this version does not have yet: each says so and exits 2."""

from __future__ import annotations

import typer

from mc.errors import NotBuiltYet
from mc_cli._errors import handles_errors

PLANNED = {
    "compile": ("Compile for a GPU backend (TensorRT, torch.compile).", 7),
    "run": ("Run a recipe end to end: variants, bench, report.", 6),
    "report": ("Render and compare reports (CI regression gate).", 6),
}


def _planned_command(name: str, issue: int):
    @handles_errors
    def command() -> None:
        raise NotBuiltYet(f"`mc {name}` is not built yet (tracked in issue {issue}); nothing was done")

    return command


def register(app: typer.Typer) -> None:
    for name, (help_text, issue) in PLANNED.items():
        app.command(
            name,
            help=f"{help_text} [dim](not built yet)[/dim]",
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        )(_planned_command(name, issue))
