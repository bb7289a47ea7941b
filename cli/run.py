"""`mc run RECIPE`: every variant of a recipe built, benched and reported; the recommendation printed."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mc_cli._console import RichProgress, err, out, state, write_json_result
from mc_cli._errors import handles_errors


def _fmt(figure, spec: str) -> str:
    if figure is None or figure.value is None:
        return "n/a"
    return format(figure.value, spec) + ("*" if figure.method == "estimated" else "")


def print_summary(report) -> None:
    table = Table(title=f"{report.recipe['name']} on {report.target.get('name')} ({report.measurement.get('label', '')})")
    for column in ("variant", "status", "size MB", "accuracy", "drop pt", "AUROC", "model p50 ms (bench)", "speed-up (side by side)", "rt p99 ms", "gates"):
        table.add_column(column, justify="left" if column in ("variant", "status", "gates") else "right")
    for variant in report.variants:
        figures = variant.figures
        gates = "pass" if variant.passes_gates() else ", ".join(g.name for g in variant.gates if not g.passed) or variant.status
        table.add_row(
            variant.name + (" (ref)" if variant.name == report.reference else ""),
            variant.status if variant.status == "ok" else f"[red]{variant.status}[/]",
            _fmt(figures.get("size_mb"), ".3f"), _fmt(figures.get("accuracy"), ".2f"), _fmt(figures.get("accuracy_drop"), "+.2f"),
            _fmt(figures.get("confidence_auroc"), ".3f"), _fmt(figures.get("model_p50_ms"), ".3f"), _fmt(figures.get("speedup"), ".2f"),
            _fmt(figures.get("realtime_p99_ms"), ".2f"), gates if variant.status == "ok" else (variant.error or "")[:80],
        )
    out().print(table)
    for variant in report.variants:
        if variant.status != "ok":
            err().print(f"[yellow]{variant.name}:[/] {variant.error}", soft_wrap=True)
    recommendation = report.recommendation
    if recommendation.variant:
        out().print(f"[bold]recommendation: ship {recommendation.variant}[/]: {recommendation.reason}")
    else:
        out().print(f"[bold red]no recommendation[/]: {recommendation.reason}")


@handles_errors
def run(
    recipe: str = typer.Argument(..., help="A recipe .yaml, or a shipped recipe name (quickstart, pi5, jetson-orin-nano, x86-cpu, gpu)."),
    only: list[str] | None = typer.Option(None, "--only", help="Run only this variant (repeatable); the reference is always added."),
    out_dir: Path = typer.Option(Path("reports"), "--out", help="Reports root: the run goes to OUT/<recipe>/<run-id>/."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild every step instead of reusing cached artifacts."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write report.json here."),
    objective: str | None = typer.Option(None, "--objective", help="latency, size or accuracy: what the recommendation "
                                         "optimizes among variants that pass every gate \\[default: the recipe's objective, else latency]."),
    executor: str = typer.Option("local", "--executor", help="local (this machine, one step after another) or ray "
                                 "(steps as Ray tasks, benches placed on a whole node; needs mc\\[ray])."),
    address: str | None = typer.Option(None, "--address", help="With --executor ray: the Ray cluster to connect to "
                                       "(e.g. 10.0.0.5:6379) \\[default: a local Ray started for the run]."),
) -> None:
    """Run a recipe end to end: build, bench and report every variant; recommend one.

    Identical steps are shared through a content-addressed cache; each variant is benched in the
    real-time meta pipeline under the target; report.json, report.md and report.html go to
    OUT/<recipe>/<run-id>/. Exit 1 when no variant passes every gate."""
    from mc.errors import CheckFailed, InputError
    from mc.recipes.loader import load_recipe
    from mc.recipes.executor import open_executor
    from mc.recipes.runner import run_recipe

    loaded = load_recipe(recipe)
    if objective is not None:
        if objective not in ("latency", "size", "accuracy"):
            raise InputError(f"--objective {objective}: choose latency, size or accuracy")
        loaded = loaded.model_copy(update={"objective": objective})
    out().print(f"recipe {loaded.name} ({loaded.source}): {len(loaded.variants)} variant(s), target {loaded.target}, "
                f"{loaded.bench.scenario} {loaded.bench.duration:g} s each")
    engine = open_executor(executor, address, debug=state().debug)
    try:
        outcome = run_recipe(loaded, out_dir, RichProgress(), only=only or None, use_cache=not no_cache, debug=state().debug,
                             log=lambda message: out().print(message, soft_wrap=True, markup=False), executor=engine)
    finally:
        engine.close()
    print_summary(outcome.report)
    out().print(f"wrote {outcome.run_dir}/ (report.json, report.md, report.html, artifacts/); "
                f"{out_dir / loaded.name / 'latest'} points at it")
    write_json_result(json_path, outcome.report.to_json())
    if outcome.report.recommendation.variant is None:
        raise CheckFailed("no variant passes every gate: see the gates in report.md")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
