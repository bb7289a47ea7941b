"""Independent pieces of one pass's work fanned out: the candidates of a search (`quantize --mode
auto`, `mc optimize`) built and judged at once where there is room, and their timing run where
nothing else shares its cores.

A pass asks its context's `FanOut`:
- `map(fn, items, shared)`: `fn(shared, item)` for every item, the results in the items' order.
  Locally (`SerialFanOut`, the default) a plain loop in this process. Under `mc run --executor ray`
  each item is a Ray task (`mc.recipes.fanout_ray`), possibly on another machine: `fn` must be a
  module-level function, `shared` and the items plain data, and files `PortableFile`s, which travel
  with their bytes when pickled (a worker elsewhere does not see this machine's disk). A result
  names the files it made as `PortableFile`s too, so they come back the same way.
- `exclusive(fn, *args)`: `fn(*args)` with a whole node's CPUs to itself, for timing. Locally a plain
  call; under Ray a task taking every CPU of the node the search's results are valid for (its cache
  key names that host), so the paths it is given are that node's.
An exception `fn` raises reaches the caller as it was raised.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

_SCRATCH: Path | None = None


def _scratch() -> Path:
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix="mc-fanout-"))
        atexit.register(shutil.rmtree, _SCRATCH, True)
    return _SCRATCH


def scratch_path(name: str) -> Path:
    """A fresh path named `name` in this process's scratch folder (removed when the process exits):
    where fanned-out work writes what it returns as a `PortableFile`."""
    folder = _scratch() / uuid.uuid4().hex
    folder.mkdir()
    return folder / name


class PortableFile:
    """A file (or folder) that carries its bytes, and what travels with it (`mc.packed`), when it is
    pickled: unpickled in another process or on another machine it is a copy there, in a folder of
    its own in that process's scratch folder. Unpickled nowhere, it is the file itself."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __reduce__(self):
        from mc.packed import pack

        return (_arrive, (pack(self.path),))

    def copy_to(self, path: Path) -> Path:
        """This file, and what travels with it, copied to `path` (renamed as `mc.packed` renames);
        the original is left alone (it may be the user's own file)."""
        from mc.packed import pack, unpack

        path = Path(path)
        return unpack(pack(self.path), path.parent, path.name)

    def release(self) -> None:
        """Remove this file's scratch folder, once copied where it belongs (a file outside this
        process's scratch folder, such as the user's own, is never touched)."""
        if _SCRATCH is not None and _SCRATCH in self.path.parents and self.path.parent != _SCRATCH:
            shutil.rmtree(self.path.parent, ignore_errors=True)

    def __repr__(self) -> str:
        return f"PortableFile({str(self.path)!r})"


def _arrive(packed) -> PortableFile:
    from mc.packed import unpack

    return PortableFile(unpack(packed, scratch_path(packed.name).parent))


class FanOut(Protocol):
    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any], shared: Any = None,
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        """`fn(shared, item)` for every item, in the items' order; `on_result(index, result)` as each ends."""
        ...

    def exclusive(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` with the whole node's CPUs and nothing else running there."""
        ...


class SerialFanOut:
    """One item after another, here: what every command and local run uses."""

    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any], shared: Any = None,
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        results = []
        for index, item in enumerate(items):
            results.append(fn(shared, item))
            if on_result is not None:
                on_result(index, results[-1])
        return results

    def exclusive(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)
