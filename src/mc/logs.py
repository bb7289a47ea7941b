"""Quieting libraries that log advice to stderr handlers of their own, for the length of a call;
mc reports a failure as one line of its own instead. Levels are restored afterwards."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator


@contextlib.contextmanager
def loggers_at(level: int, names: Iterable[str]) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, previous in zip(loggers, levels):
            logger.setLevel(previous)
