"""`mc package ARTIFACT --target T -o BUNDLE/` and `mc package --verify BUNDLE`: parsing and rendering only."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from mc_cli._console import out, write_json_result
from mc_cli._errors import handles_errors


@handles_errors
def package(
    artifact: Path | None = typer.Argument(None, help="An ONNX model (fp32 or quantized) with its sidecar beside it."),
    target: str | None = typer.Option(None, "--target", help="Target profile name (see `mc targets`) or a .yaml profile."),
    output: Path | None = typer.Option(None, "-o", "--output", help="The bundle folder to write (must not exist)."),
    allow_over_budget: bool = typer.Option(False, "--allow-over-budget", help="Write the bundle even when it exceeds a budget (recorded in the manifest)."),
    verify: Path | None = typer.Option(None, "--verify", help="Re-check a bundle's file hashes against its manifest (exit 1 on a mismatch)."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="The port the Dockerfile and Deployment serve on."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the manifest (or the verification) as JSON here."),
) -> None:
    """Bundle a model for deployment: model + sidecar + manifest, run.py (numpy + onnxruntime only), requirements.txt, Dockerfile, deployment.yaml.

    The target's budgets are checked (model size, storage, RAM and p99 latency of run.py measured in a fresh process); a bundle over one is refused (exit 1) unless --allow-over-budget.
    """
    from mc.errors import InputError

    if verify is not None:
        if artifact is not None or output is not None:
            raise InputError("--verify BUNDLE takes no ARTIFACT or -o")
        from mc.packaging.bundle import verify_bundle

        result = verify_bundle(verify)
        out().print(f"{escape(str(verify))}: all {result['files']} files match the manifest ({escape(result['model'])} for {escape(str(result['target']))})")
        write_json_result(json_path, result)
        return
    if artifact is None or target is None or output is None:
        raise InputError("mc package needs ARTIFACT, --target and -o BUNDLE (or --verify BUNDLE)")
    from mc.packaging.bundle import build_bundle

    manifest = build_bundle(artifact, target, output, allow_over_budget=allow_over_budget, port=port)
    table = Table(title=f"{escape(str(output))}: {manifest['model']['file']} for {manifest['target']}")
    for column in ("budget", "value", "limit", "within", "how"):
        table.add_column(column, justify="right" if column in ("value", "limit") else "left")
    for name, check in manifest["budgets"].items():
        value = "n/a" if check["value"] is None else f"{check['value']:.3f} {check['unit']}"
        within = {True: "yes", False: "[bold red]OVER[/]", None: "n/a"}[check["within"]]
        table.add_row(name, value, f"{check['budget']:g} {check['unit']}", within, escape(check["how"]))
    out().print(table)
    out().print(f"run it: pip install -r {escape(str(output))}/requirements.txt && python {escape(str(output))}/run.py INPUT.npy "
                f"(or --serve {port}); check it: mc package --verify {escape(str(output))}")
    write_json_result(json_path, manifest)


def register(app: typer.Typer) -> None:
    app.command("package")(package)
