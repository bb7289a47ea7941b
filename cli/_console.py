"""Consoles and the rich progress bar the engine's Progress protocol plugs into."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import contextvars
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


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


def elapsed_label(seconds: float) -> str:
    """`[2m05s]`: short, fixed-format, sortable by eye in a CI log."""
    minutes, secs = divmod(int(seconds), 60)
    return f"[{minutes}m{secs:02d}s]"


class _PlainTask:
    """One plain line per step that starts (what runs, n of m) and per step that reports a status;
    steps that end silently print nothing until the task is done. For logs: no cursor movement."""

    def __init__(self, description: str, total: int, started: float, console: Console):
        self.description, self.total, self.started, self.console = description, total, started, console
        self.completed = 0
        self.finished = False

    def line(self, text: str) -> None:
        self.console.print(f"{elapsed_label(time.monotonic() - self.started)} {self.description}: {text}",
                           markup=False, highlight=False, soft_wrap=True)

    def advance(self, steps: int = 1, status: str = "") -> None:
        if steps == 0:
            if status:  # a step begins: say which one
                self.line(f"{min(self.completed + 1, self.total)} of {self.total} · {status}")
            return
        self.completed += steps
        if self.completed >= self.total:
            self.finished = True
            self.line(f"{self.total} of {self.total} done" + (f" · {status}" if status else ""))
        elif status:
            self.line(f"{self.completed} of {self.total} · {status}")


class RichProgress:
    """Progress on stderr, so that stdout stays clean for tables and piping: a live bar on a
    terminal; plain lines (`[2m05s] benching: 3 of 6 · int8-static`) in a pipe or CI log, where
    a live bar shows nothing at all."""

    def __init__(self) -> None:
        self.started = time.monotonic()  # elapsed times count from the command's start

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[_RichTask | _PlainTask]:
        if state().quiet:
            from mc.progress import SilentProgress

            with SilentProgress().task(description, total) as silent:
                yield silent  # type: ignore[misc]
            return
        console = err()
        if not console.is_terminal:
            plain = _PlainTask(description, total, self.started, console)
            plain.line(f"started ({total} step{'s' if total != 1 else ''})")
            yield plain
            if not plain.finished:
                plain.line(f"{plain.completed} of {total} done")
            return
        bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
            console=console, transient=True,  # results follow as lines; a failed step leaves only its error
        )
        with bar:
            yield _RichTask(bar, bar.add_task(escape(description), total=total, status=""))


def print_table(table: Table, console: Console | None = None) -> None:
    """Print a table so that it reads at the console's width (80 in a pipe): the first column (the
    variant, model or target name) is never wrapped or truncated; other columns wrap between words;
    a table too wide even so is stacked: printed as several tables, each repeating the first column."""
    console = console or out()
    first, *rest = table.columns
    first.no_wrap = True
    width = console.width
    if not rest or _minimum_width(console, table) <= width:
        console.print(_fitted(console, table, width))
        return
    groups: list[list] = []
    current: list = []
    for column in rest:
        if current and _minimum_width(console, _part(table, [first, *current, column], None)) > width:
            groups.append(current)
            current = []
        current.append(column)
    groups.append(current)
    for index, group in enumerate(groups):
        title = table.title if index == 0 else None
        caption = table.caption if index == len(groups) - 1 else None
        console.print(_fitted(console, _part(table, [first, *group], title, caption), width))


SHORT_HEADER = 12  # characters: headers up to this long are never wrapped


def _column_ranges(console: Console, table: Table) -> tuple[list[int], list[int], int]:
    """Per column the longest word and the longest line (no padding), and what borders and padding
    add to the table: a no-wrap column needs its longest line (rich measures its words)."""
    unbounded = console.options.update_width(10**6)  # a measurement is capped at the width it is given
    ranges = [[Measurement.get(console, unbounded, cell) for cell in (column.header, *column.cells)]
              for column in table.columns]
    highs = [max(r.maximum for r in cells) for cells in ranges]
    # A short header ("p99 ms", "size MB") stays on one line; a long one wraps between its words.
    lows = [high if column.no_wrap else max(max(r.minimum for r in cells), min(cells[0].maximum, SHORT_HEADER))
            for column, cells, high in zip(table.columns, ranges, highs)]
    overhead = Measurement.get(console, unbounded, table).maximum - sum(highs)
    return lows, highs, overhead


def _minimum_width(console: Console, table: Table) -> int:
    lows, _, overhead = _column_ranges(console, table)
    return overhead + sum(lows)


def _fitted(console: Console, table: Table, width: int) -> Table:
    """Column widths that keep every word whole where the words fit: each column gets its longest
    word, and what is left is shared in proportion to how much more each would use. (rich, short
    of room, narrows the widest columns first, folding short words: `checkp|oint`.)"""
    lows, highs, overhead = _column_ranges(console, table)
    if overhead + sum(highs) <= width or overhead + sum(lows) > width:
        return table
    spare = width - overhead - sum(lows)
    wanted = [high - low for low, high in zip(lows, highs)]
    total = sum(wanted) or 1
    for column, low, want in zip(table.columns, lows, wanted):
        if not column.no_wrap:
            column.width = low + (want * spare) // total
    return table


def _part(table: Table, columns: list, title, caption=None) -> Table:
    part = Table(*[column.copy() for column in columns], title=title, caption=caption, box=table.box,
                 show_header=table.show_header, show_lines=table.show_lines, padding=table.padding)
    cells = [list(column.cells) for column in columns]
    for row in range(table.row_count):
        part.add_row(*[column_cells[row] for column_cells in cells])
    return part


def write_json_result(path: Path | None, data: Any) -> None:
    """`--json PATH`: the command's result as machine-readable data, written atomically."""
    if path is None:
        return
    from mc.atomic import write_json_atomic

    write_json_atomic(path, data)
    json.dumps(data)  # fail loudly in tests if a result is not JSON-serialisable
