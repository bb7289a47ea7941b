"""Consoles and the rich progress bar the engine's Progress protocol plugs into."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import contextvars
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@dataclass
class CliState:
    debug: bool = False
    quiet: bool = False


# Set by the root callback at the start of every invocation (so CliRunner runs never leak into each other).
_STATE: contextvars.ContextVar[CliState] = contextvars.ContextVar("mc_cli_state", default=CliState())


def set_state(value: CliState) -> None:
    _STATE.set(value)


def state() -> CliState:
    return _STATE.get()


def out() -> Console:
    return Console(quiet=state().quiet, highlight=False, soft_wrap=True)


def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


class _RichTask:
    def __init__(self, bar: Progress, task_id: int):
        self._bar, self._id = bar, task_id

    def advance(self, steps: int = 1, status: str = "") -> None:
        self._bar.update(self._id, advance=steps, status=escape(status))


class RichProgress:
    """Progress bars on stderr, so that stdout stays clean for tables and piping."""

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[_RichTask]:
        if state().quiet:
            from mc.progress import SilentProgress

            with SilentProgress().task(description, total) as silent:
                yield silent  # type: ignore[misc]
            return
        bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
            console=err(), transient=True,  # results follow as lines; a failed step leaves only its error
        )
        with bar:
            yield _RichTask(bar, bar.add_task(escape(description), total=total, status=""))


def write_json_result(path: Path | None, data: Any) -> None:
    """`--json PATH`: the command's result as machine-readable data, written atomically."""
    if path is None:
        return
    from mc.atomic import write_json_atomic

    write_json_atomic(path, data)
    json.dumps(data)  # fail loudly in tests if a result is not JSON-serialisable
