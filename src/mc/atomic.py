"""Atomic file writes: a reader never sees a half-written artifact, and a failure leaves nothing behind."""

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def staged_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target` (same filesystem, so a rename is atomic).

    The caller moves it into place when the content is verified; whatever is left is deleted on
    exit, on success, error or Ctrl-C alike.
    """
    target = Path(target)
    with _parents_made_for(target):
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; artifacts get the usual permissions
        try:
            yield tmp
        finally:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _parents_made_for(target: Path) -> Iterator[None]:
    """Make the folders `target` needs; if the block fails, remove those it made (when still
    empty), so a refused or failed write leaves no empty `out/` behind either."""
    made = []
    for parent in reversed(target.parents):
        if not parent.exists():
            made.append(parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds."""
    with staged_file(target) as tmp:
        yield tmp
        os.replace(tmp, target)


def write_json_atomic(target: Path, data: Any) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


@contextlib.contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary directory beside `target`, for an artifact made of several files (a text
    model and its tokenizer); `publish_directory` moves it into place, anything left is deleted."""
    import shutil

    target = Path(target)
    with _parents_made_for(target):
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def publish_directory(staged: Path, target: Path) -> None:
    """Rename a finished directory onto `target`. An earlier one there is swapped aside first and
    removed after, so a reader sees the old artifact or the new one, never a mix."""
    import shutil

    target = Path(target)
    if not target.exists():
        os.replace(staged, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rmdir(old)
    os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)
