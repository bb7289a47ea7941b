"""`mc report`: show or re-render a run's report, and compare two reports (the CI gate)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from mc_cli._console import out, print_table
from mc_cli._errors import handles_errors

app = typer.Typer(help="Show, render and compare run reports (compare is the CI regression gate).", no_args_is_help=True)


@app.command("show")
@handles_errors
def show(report: Path = typer.Argument(..., help="A report.json or a run directory (e.g. reports/quickstart/latest).")) -> None:
    """Print a run's summary table and recommendation."""
    from mc.report.load import read_report
    from mc_cli.run import print_summary

    print_summary(read_report(report))


@app.command("render")
@handles_errors
def render(report: Path = typer.Argument(..., help="A report.json or a run directory."),
           output: Path | None = typer.Option(None, "-o", "--output", help="Directory for report.md and report.html \\[default: beside the JSON].")) -> None:
    """Write report.md and report.html again from report.json alone."""
    from mc.report.load import read_report
    from mc.report.render import write_renderings

    loaded = read_report(report)
    directory = output or (report if report.is_dir() else report.parent)
    directory.mkdir(parents=True, exist_ok=True)
    for path in write_renderings(loaded, directory):
        out().print(f"wrote {path}")


@app.command("compare")
@handles_errors
def compare(
    base: Path = typer.Argument(..., help="The baseline report.json (e.g. a committed one)."),
    new: Path = typer.Argument(..., help="The new report.json or run directory."),
    fail_on: str | None = typer.Option(None, help="Checks that fail the gate, comma-separated: status,gates,size,accuracy,auroc,fidelity,latency \\[default: all]."),
    size_tolerance: float = typer.Option(0.01, help="Relative size growth allowed."),
    accuracy_tolerance: float = typer.Option(0.2, help="Accuracy points that may be lost."),
    auroc_tolerance: float = typer.Option(0.01, help="Confidence AUROC that may be lost."),
    fidelity_tolerance: float = typer.Option(0.005, help="Text models: mean embedding cosine that may be lost."),
    latency_tolerance: float = typer.Option(0.25, help="Relative growth of a variant's same-run latency ratio allowed (noise)."),
    markdown: Path | None = typer.Option(None, "--markdown", help="Also write the Markdown summary here (e.g. for a PR comment)."),
) -> None:
    """Compare NEW against BASE: exit 0 pass, 1 regression, 2 error. The Markdown summary goes to
    stdout and, under GitHub Actions, to $GITHUB_STEP_SUMMARY."""
    from mc.errors import CheckFailed
    from mc.report.compare import Tolerances, compare_reports, parse_fail_on, render_comparison
    from mc.report.load import read_report
    from mc_cli._errors import build_config

    checks = parse_fail_on(fail_on)
    tolerances = build_config(Tolerances, {"size": "--size-tolerance", "accuracy": "--accuracy-tolerance",
                                           "auroc": "--auroc-tolerance", "fidelity": "--fidelity-tolerance",
                                           "latency": "--latency-tolerance"},
                              size=size_tolerance, accuracy=accuracy_tolerance, auroc=auroc_tolerance, fidelity=fidelity_tolerance,
                              latency=latency_tolerance)
    comparison = compare_reports(read_report(base), read_report(new), checks, tolerances, str(base), str(new))
    text = render_comparison(comparison, checks)
    if out().is_terminal:  # a person reading: a table that fits the terminal (names whole, stacked if need be)
        _print_comparison(comparison, checks)
    else:
        print(text, end="")  # a pipe or a CI log: plain Markdown, no rich markup, so it pipes cleanly
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    if not comparison.passed:
        raise CheckFailed(f"{len(comparison.regressions)} regression(s) against {base}")


def _print_comparison(comparison, checks: frozenset[str]) -> None:
    """The comparison for a terminal: regressions first, as the Markdown orders them."""
    from rich.markup import escape
    from rich.table import Table

    from mc.report.compare import CHECKS

    console = out()
    verdict = "[bold green]PASS[/]" if comparison.passed else f"[bold red]FAIL[/]: {len(comparison.regressions)} regression(s)"
    console.print(f"mc report compare: {verdict}")
    console.print(f"base {escape(comparison.base_label)} against new {escape(comparison.new_label)}; gated: "
                  f"{', '.join(sorted(checks))}. Latency only as each variant's ratio to its reference, side by side in one run.")
    for warning in comparison.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    table = Table()
    for header in ("variant", "check", "base", "new", "verdict", "note"):
        table.add_column(header)
    order = {"regression": 0, "warning": 1, "new": 2, "skipped": 3, "improved": 4, "ok": 5}
    styles = {"regression": "[bold red]REGRESSION[/]", "warning": "[yellow]warning[/]", "improved": "[green]improved[/]",
              "ok": "ok", "new": "new", "skipped": "[dim]skipped[/]"}
    for finding in sorted(comparison.findings, key=lambda f: (order[f.verdict], f.variant, CHECKS.index(f.check))):
        table.add_row(escape(finding.variant), finding.check, escape(finding.base), escape(finding.new),
                      styles.get(finding.verdict, finding.verdict), escape(finding.note))
    print_table(table, console)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="report")
