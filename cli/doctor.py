"""`mc doctor`: which backends this machine has, with versions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from mc_cli._console import out, print_table, write_json_result
from mc_cli._errors import handles_errors


@handles_errors
def doctor(json_path: Path | None = typer.Option(None, "--json", help="Write the report as JSON here.")) -> None:
    """Report Python, the CPU's ISA facts, and each backend: present or missing, with its version."""
    from mc.doctor import environment_report

    report = environment_report()
    cpu = report["cpu"]
    isa = ", ".join(f"{flag} {'yes' if on else 'no'}" for flag, on in cpu["isa"].items())
    console = out()
    console.print(f"python {report['python']}  |  {cpu['machine']} {cpu['model']}, {cpu['cores']} cores  |  {isa}")
    table = Table(title="backends")
    for column in ("library", "status", "version", "used for", "to install"):
        table.add_column(column)
    for backend in report["backends"]:
        if backend["present"]:
            status = "[green]present[/]"
        elif backend["problem"]:
            status = f"[red]broken[/] ({backend['problem']})"
        else:
            status = "[yellow]missing[/]"
        table.add_row(escape(backend["name"]), status, escape(backend["version"] or ""), escape(backend["purpose"]),
                      "" if backend["present"] else escape(backend["install"]))  # 'mc[tensorrt]' is no markup
    print_table(table, console)
    cuda = report["cuda"]
    console.print(
        "CUDA: " + (f"[green]available[/] ({cuda['device']}, {cuda['count']} device(s))" if cuda["available"]
                    else f"[yellow]not available[/] (torch CUDA build: {cuda.get('torch_cuda_build') or 'none, CPU build'})")
    )
    console.print("ONNX Runtime providers: " + ", ".join(report["onnxruntime_providers"]))
    pairing = report["torch_tensorrt"]
    if pairing["torch_tensorrt"] is None:
        console.print(f"torch-tensorrt: [yellow]not installed[/] (torch {pairing['torch']}; {escape(pairing['install'])})")
    elif pairing["paired"]:
        console.print(f"torch-tensorrt: {pairing['torch_tensorrt']} [green]pairs with[/] torch {pairing['torch']}")
    else:
        console.print(f"torch-tensorrt: [red]mismatch[/]: {escape(pairing['problem'])}")
    compile_table = Table(title="mc compile backends")
    for column in ("backend", "device", "status"):
        compile_table.add_column(column)
    for entry in report["compile_backends"]:
        status = "[green]available[/]" if entry["available"] else f"[yellow]missing[/]: {escape(entry['missing'])}"
        compile_table.add_row(entry["backend"], entry["device"], status)
    print_table(compile_table, console)
    write_json_result(json_path, report)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
