"""Where engine exceptions become exit codes: 2 input/usage, 1 a failed check, 3 a bug in mc.

One line on stderr with the fix; a traceback only with --debug.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.markup import escape

from mc.errors import McError
from mc_cli._console import err, state

EXIT_INTERNAL = 3
F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except McError as error:
            if state().debug:
                err().print(traceback.format_exc(), markup=False)
            err().print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)  # `pip install 'mc[gpu]'` is no markup
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            err().print("[bold red]interrupted:[/] nothing half-written was left behind")
            raise typer.Exit(130) from None
        except Exception as error:  # a bug in mc: still one line, the traceback on request
            if state().debug:
                err().print(traceback.format_exc(), markup=False)
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            err().print(
                f"[bold red]internal error:[/] {type(error).__name__}: {detail[:300]} "
                "(a bug in mc: rerun with --debug for the traceback and report it)",
                soft_wrap=True, markup=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def build_config(config_type: type, options: dict[str, str] | None = None, **values: Any) -> Any:
    """A pass config from CLI options; a value out of range names its option (`--val-fraction: ...`).
    `options` maps config fields to the CLI options that set them where the names differ."""
    from pydantic import ValidationError

    from mc.errors import InputError

    try:
        return config_type(**values)
    except ValidationError as error:
        first = error.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a rule across options (e.g. "exactly one of --amount or --target-speedup")
            raise InputError(message) from None
        field = str(first["loc"][0])
        option = (options or {}).get(field, "--" + field.replace("_", "-"))
        raise InputError(f"{option}: {message} (got {first.get('input')!r})") from None
