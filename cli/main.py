"""The `mc` entry point: the root Typer app and its subcommands, one module per command group."""

from __future__ import annotations

import sys

import typer

from mc_cli import bench, compile, distill, doctor, evaluate, export, models, optimize, package, prune, quantize, report, run, targets, train
from mc_cli._console import CliState, set_state
from mc_cli._errors import OneLineUsageErrors

app = typer.Typer(
    name="mc",
    help="Model compression for small consciousness models on edge targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    cls=OneLineUsageErrors,  # usage errors as one line (`error: ... (try: mc CMD --help)`), exit 2
)


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and results files."),
) -> None:
    """mc: export, quantize, prune, distill, compile and bench small models for edge targets.

    Exit codes: 0 success, 1 a gate or check failed, 2 usage or input error, 3 a bug in mc,
    130 interrupted (Ctrl-C), 143 terminated (SIGTERM); either way nothing half-done is kept.
    """
    set_state(CliState(debug=debug, quiet=quiet))


for module in (train, export, evaluate, quantize, prune, distill, compile, bench, run, report, models, targets, doctor, optimize, package):
    module.register(app)

GLOBAL_FLAGS = ("--debug", "--quiet", "-q")


def hoist_global_flags(argv: list[str]) -> list[str]:
    """Let `mc export x --debug` work like `mc --debug export x`: move global flags to the front."""
    if "--" in argv:
        cut = argv.index("--")
        head, tail = argv[:cut], argv[cut:]
    else:
        head, tail = argv, []
    flags = [arg for arg in head if arg in GLOBAL_FLAGS]
    rest = [arg for arg in head if arg not in GLOBAL_FLAGS]
    return flags + rest + tail


EXIT_TERMINATED = 143  # 128 + SIGTERM, as shells report a process that SIGTERM ended


def main() -> None:
    """The `mc` command. SIGTERM (a supervisor, `kill`, a CI timeout) unwinds like Ctrl-C, so
    temporaries go, worker processes are stopped and nothing half-done is published; it exits 143
    where Ctrl-C exits 130, so a caller can still tell which one stopped it."""
    from mc.processes import raise_on_sigterm

    sigterm = raise_on_sigterm()
    try:
        app(args=hoist_global_flags(sys.argv[1:]), prog_name="mc")
    except KeyboardInterrupt:  # arrived outside any command (while parsing or importing)
        sys.exit(EXIT_TERMINATED if sigterm.received else 130)
    except SystemExit:
        if sigterm.received:
            sys.exit(EXIT_TERMINATED)
        raise


if __name__ == "__main__":
    main()
