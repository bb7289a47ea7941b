"""Where engine exceptions become exit codes: 2 input/usage, 1 a failed check, 3 a bug in mc.

One line on stderr with the fix; a traceback only with --debug. What the operating system refuses
(a read-only folder, a full disk, a file where a folder should be) is the user's environment, not
a bug in mc, and so is a usage error Click finds while parsing: each is one line and exit 2 too.
"""

from __future__ import annotations

import errno
import functools
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.markup import escape
from typer.core import TyperGroup

from mc.errors import McError
from mc.processes import interrupt_in
from mc_cli._console import err, state

EXIT_INTERNAL = 3
EXIT_USAGE = 2
F = TypeVar("F", bound=Callable[..., Any])

# Click's UsageError (BadParameter, MissingParameter, NoSuchOption, "No such command" ...), found
# through a public name: Typer re-exports BadParameter, whether it vendors Click or depends on it.
UsageError: type[Exception] = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError")

# What the operating system says, and what the user can do about it.
_OS_FIXES: dict[int, str] = {
    errno.EACCES: "permission denied: fix its permissions or choose another path",
    errno.EPERM: "operation not permitted: fix its permissions or choose another path",
    errno.EROFS: "read-only file system: choose a path on a writable file system",
    errno.ENOSPC: "no space left on the device: free some space or write elsewhere",
    errno.EDQUOT: "disk quota exceeded: free some space or write elsewhere",
    errno.ENOTDIR: "a part of this path is a file, not a folder: fix the path",
    errno.EEXIST: "a file is in the way where a folder is needed: fix the path or move the file",
    errno.EISDIR: "is a folder, not a file: name a file instead",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter path",
    errno.EFBIG: "file too large for this file system or the file-size limit: write elsewhere or raise the limit",
}


def os_error_line(error: OSError) -> str | None:
    """One line for an OSError the user's environment caused (None: not one of those, a bug).

    For a rename the destination is what was refused; a temp file's name would mean nothing to the
    user, so the line names the path they gave when the failing name is a dot-file beside it.
    """
    fix = _OS_FIXES.get(error.errno or -1)
    if fix is None:
        return None
    name = error.filename2 if error.filename2 is not None else error.filename
    path = str(name) if name is not None else None
    line = f"{path}: {fix}" if path else fix[0].upper() + fix[1:]
    if path:
        from mc.paths import mc_home

        home = mc_home()
        if Path(path) == home or home in Path(path).parents:
            line += f" (it is under MC_HOME={home}: set MC_HOME to a writable folder)"
    return line


def _internal_error(error: BaseException) -> None:
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    err().print(
        f"[bold red]internal error:[/] {escape(type(error).__name__)}: {escape(detail[:300])} "
        "(a bug in mc: rerun with --debug for the traceback and report it)",
        soft_wrap=True,
    )


def _interrupted() -> NoReturn:
    err().print("[bold red]interrupted:[/] nothing half-written was left behind")
    raise typer.Exit(130) from None


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
            _interrupted()
        except OSError as error:
            if state().debug:
                err().print(traceback.format_exc(), markup=False)
            if interrupt_in(error) is not None:
                _interrupted()
            line = os_error_line(error)
            if line is None:
                _internal_error(error)
                raise typer.Exit(EXIT_INTERNAL) from None
            err().print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
            raise typer.Exit(EXIT_USAGE) from None
        except Exception as error:  # a bug in mc: still one line, the traceback on request
            if state().debug:
                err().print(traceback.format_exc(), markup=False)
            if interrupt_in(error) is not None:
                _interrupted()
            _internal_error(error)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def usage_line(error: Exception) -> str:
    """Click's message as mc's own errors read: lower case, no "Value error," and the help to try."""
    message = error.format_message().strip() if hasattr(error, "format_message") else str(error)  # type: ignore[attr-defined]
    message = message.replace("Value error, ", "").replace(". Did you mean", "; did you mean").rstrip(".")
    message = message[:1].lower() + message[1:]
    ctx = getattr(error, "ctx", None)
    where = ctx.command_path if ctx is not None else "mc"
    return f"{message} (try: {where} --help)"


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    try:
        yield
    except UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `mc` alone prints the help, as asked
            raise
        err().print(f"[bold red]error:[/] {escape(usage_line(error))}", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None


class OneLineUsageErrors(TyperGroup):
    """The root command group, with Click's usage errors (a bad `--epochs abc`, a missing `-o`, an
    unknown command) as one line like mc's own, instead of Typer's multi-line usage box. Parsing
    happens in `make_context` (the root's options) and `invoke` (the command and its options)."""

    def make_context(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        with _one_line_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):  # type: ignore[override]
        with _one_line_usage_errors():
            return super().invoke(ctx)


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
