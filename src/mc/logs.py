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


@contextlib.contextmanager
def quiet_torch_loggers() -> Iterator[None]:
    """torch.export, the ONNX exporter and the compilers log notes ('torchvision is not installed',
    shape guards) straight to their own stderr handlers; a failure, if any, is reported as one line instead."""
    names = [name for name in list(logging.root.manager.loggerDict) if name.startswith("torch")] + ["torch"]
    with loggers_at(logging.CRITICAL, names):
        yield
