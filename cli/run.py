"""`mc run RECIPE`: every variant of a recipe built, benched and reported; the recommendation printed."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mc_cli._console import RichProgress, err, out, print_table, state, write_json_result
from mc_cli._errors import handles_errors


def _fmt(figure, spec: str) -> str:
    if figure is None or figure.value is None:
        return "n/a"
    return format(figure.value, spec) + ("*" if figure.method == "estimated" else "")


def _speedup(figure) -> str:
    """The side-by-side speed-up with its 95% interval and verdict: the one speed figure the
    recommendation reads."""
    if figure is None or figure.value is None:
        return "n/a"
    span = figure.interval()
    text = f"{figure.value:.2f}x" + (f" [{span[0]:.2f}-{span[1]:.2f}]" if span else "")
    return text + (" ≈" if figure.verdict == "indistinguishable" else "")


def _delta(variant, reference, key: str, spec: str) -> str:
    """Variant minus reference, like every delta mc shows: + is up, whatever the figure."""
    mine, theirs = variant.figures.get(key), reference.figures.get(key) if reference is not None else None
    if variant is reference:
        return "-"
    if mine is None or theirs is None or mine.value is None or theirs.value is None:
        return "n/a"
    text = format(mine.value - theirs.value, spec)
    return text if any(digit in "123456789" for digit in text) else "±" + text.lstrip("+-")  # no sign it lacks


def _verdict(variant) -> str:
    """`pass`, or `FAIL: <the gates it failed>`; a variant that did not run says so."""
    if variant.status != "ok":
        return f"[red]{variant.status.upper()}[/]"
    failed = [gate.name for gate in variant.gates if gate.passed is False]
    if failed:
        return "[red]FAIL[/]: " + ", ".join(failed)
    unjudged = [gate.name for gate in variant.gates if gate.passed is None]
    return f"[yellow]not judged[/]: {', '.join(unjudged)}" if unjudged else "[green]pass[/]"


# The summary's columns after the variant's name, in order: (header, how a cell reads). Another column
# is one more entry here; at 80 columns the table stacks (cli._console.print_table) instead of truncating.
SUMMARY_COLUMNS = (
    ("gates", lambda variant, reference: _verdict(variant)),
    ("size MB", lambda variant, reference: _fmt(variant.figures.get("size_mb"), ".3f")),
    ("accuracy %", lambda variant, reference: _fmt(variant.figures.get("accuracy"), ".2f")),
    ("Δ acc pt", lambda variant, reference: _delta(variant, reference, "accuracy", "+.2f")),
    ("AUROC", lambda variant, reference: _fmt(variant.figures.get("confidence_auroc"), ".3f")),
    ("Δ AUROC", lambda variant, reference: _delta(variant, reference, "confidence_auroc", "+.3f")),
    ("speed-up vs ref, side by side [95%]", lambda variant, reference: _speedup(variant.figures.get("speedup"))),
    ("bench model p50 ms", lambda variant, reference: _fmt(variant.figures.get("model_p50_ms"), ".3f")),
    ("pipeline p99 ms", lambda variant, reference: _fmt(variant.figures.get("realtime_p99_ms"), ".2f")),
)


def print_summary(report) -> None:
    from rich.markup import escape

    table = Table(title=f"{report.recipe['name']} on {report.target.get('name')} ({report.measurement.get('label', '')})")
    columns = list(SUMMARY_COLUMNS)
    target = report.target.get("name", "target")
    for key, header in (("estimated_model_p50_ms", f"est. model p50 ms on {target}"),
                        ("estimated_realtime_p99_ms", f"est. pipeline p99 ms on {target}")):
        if any(variant.figures.get(key) for variant in report.variants):  # off the target: beside its measured twin
            columns.append((header, lambda variant, reference, key=key: _fmt(variant.figures.get(key), ".3f")))
    table.add_column("variant")
    for header, _ in columns:
        table.add_column(header, justify="left" if header == "gates" else "right")
    reference = report.variant(report.reference)
    for variant in report.variants:
        name = escape(variant.name) + (" (ref)" if variant.name == report.reference else "")
        table.add_row(name, *(cell(variant, reference) for _, cell in columns))
    print_table(table)
    out().print("[dim]MB = 10^6 bytes. Δ: variant minus reference (+ is up). speed-up: the reference's time over the "
                "variant's, interleaved in one process (a worker each where their thread counts differ), with its 95% interval (≈: indistinguishable from the reference); "
                "bench p50: the model alone in its own process; pipeline p99: the real-time scenario, queueing included. "
                "*: estimated, not measured.[/dim]")
    for variant in report.variants:
        if variant.status != "ok":
            err().print(f"[yellow]{escape(variant.name)}:[/] {escape(variant.error or '')}", soft_wrap=True)
    recommendation = report.recommendation
    if recommendation.variant:
        out().print(f"[bold]recommendation: ship {recommendation.variant}[/]: {escape(recommendation.reason)}")
    else:
        out().print(f"[bold red]no recommendation[/]: {escape(recommendation.reason)}")


@handles_errors
def run(
    recipe: str = typer.Argument(..., help="A recipe .yaml, or a shipped recipe name (quickstart, pi5, jetson-orin-nano, x86-cpu, gpu)."),
    only: list[str] | None = typer.Option(None, "--only", help="Run only this variant (repeatable); the reference is always added."),
    out_dir: Path = typer.Option(Path("reports"), "--out", help="Reports root: the run goes to OUT/<recipe>/<run-id>/."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild every step instead of reusing cached artifacts."),
    cache_dir: Path | None = typer.Option(None, "--cache", help="The artifact cache folder \\[default: MC_HOME/cache/artifacts]. "
                                          "With --executor ray, a folder every node mounts at this path: tasks then read and "
                                          "write it directly instead of sending artifacts through Ray's object store."),
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

    cache_dir = cache_dir.expanduser().resolve() if cache_dir is not None else None
    if cache_dir is not None and no_cache:
        raise InputError("--cache and --no-cache: give one (--no-cache builds everything in a throwaway cache)")
    loaded = load_recipe(recipe)
    if objective is not None:
        if objective not in ("latency", "size", "accuracy"):
            raise InputError(f"--objective {objective}: choose latency, size or accuracy")
        loaded = loaded.model_copy(update={"objective": objective})
    out().print(f"recipe {loaded.name} ({loaded.source}): {len(loaded.variants)} variant(s), target {loaded.target}, "
                f"{loaded.bench.scenario} {loaded.bench.duration:g} s each")
    engine = open_executor(executor, address, debug=state().debug, shared_cache=cache_dir)
    try:
        outcome = run_recipe(loaded, out_dir, RichProgress(), only=only or None, use_cache=not no_cache, cache_root=cache_dir,
                             debug=state().debug,
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
