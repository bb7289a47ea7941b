"""How the engine reports progress on long work without printing: the CLI plugs in a rich bar."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol


class TaskHandle(Protocol):
    def advance(self, steps: int = 1, status: str = "") -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int) -> contextlib.AbstractContextManager[TaskHandle]: ...


class _SilentTask:
    def advance(self, steps: int = 1, status: str = "") -> None:
        return None


class SilentProgress:
    """For library use and tests: progress goes nowhere."""

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[TaskHandle]:
        yield _SilentTask()
