"""`mc targets`: the hardware target profiles."""

from __future__ import annotations

import platform
from pathlib import Path

import typer
from rich.table import Table

from mc_cli._console import out, print_table, write_json_result
from mc_cli._errors import handles_errors


@handles_errors
def targets(json_path: Path | None = typer.Option(None, "--json", help="Write the profiles as JSON here.")) -> None:
    """List the target profiles: cores, ISA facts, int8 preset, budgets, and whether this host is one."""
    from mc.runtimes.availability import runtime_status
    from mc.targets import load_target, target_names

    profiles = [load_target(name) for name in target_names()]
    table = Table(title="target profiles (recipes/targets/*.yaml)")
    for column in ("target", "kind", "threads", "ISA", "int8", "size / latency / RAM", "figures here"):
        table.add_column(column, no_wrap=column in ("target", "int8"))
    for profile in profiles:
        isa = ", ".join(flag for flag, on in profile.isa.model_dump().items() if on) or "-"
        preset = profile.quantization
        signs = "".join("U8" if kind == "uint8" else "S8" for kind in (preset.activation_type, preset.weight_type))
        int8 = f"{preset.format.upper()} {signs}" + (" rr" if preset.reduce_range else "")
        budgets = f"{profile.budgets.model_size_mb:g} MB / {profile.budgets.latency_ms:g} ms / {profile.budgets.ram_mb:g} MB"
        threads = f"{profile.threads}" + (f" (host: {profile.host_threads()})" if profile.host_threads() < profile.threads else "")
        table.add_row(profile.name, profile.kind, threads, isa, int8, budgets, "measured" if profile.is_host() else "estimated")
    print_table(table)
    out().print("runtimes each target runs, in order of preference (measurable on this host, or what is missing):")
    for profile in profiles:
        listed = ", ".join(row["runtime"] + ("" if row["measurable"] else " [yellow](not here)[/]") for row in runtime_status(profile))
        isa = "" if profile.arch_matches_host() else f" [dim]({profile.arch}: measured here with {platform.machine()} kernels)[/]"
        out().print(f"  {profile.name}: {listed}{isa}")
    out().print("[dim]int8: format and activation/weight signedness; rr = reduce_range. "
                "`estimated`: a bench here measures on this host and estimates for the target.[/dim]")
    write_json_result(json_path, [{**profile.model_dump(), "runtimes_here": runtime_status(profile)} for profile in profiles])


def register(app: typer.Typer) -> None:
    app.command("targets")(targets)
