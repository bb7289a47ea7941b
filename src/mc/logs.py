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


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null for the length of a call: native runtimes (ExecuTorch's
    C++ runtime, OpenVINO) print to the descriptor itself, out of reach of Python's sys.stderr."""
    import os
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor (a captured stream): nothing native to hide
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
