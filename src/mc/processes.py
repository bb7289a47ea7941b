"""Processes mc starts, stops and leaves behind.

A run must end cleanly however it is stopped: Ctrl-C and SIGTERM alike unwind through every
`finally` (so temporaries go and nothing half-done is published), a worker subprocess dies with
its parent instead of running on as an orphan, and what a killed run (SIGKILL, a power cut) left
in mc's own folders is tagged with its owner, so the next run can tell a dead run's leftovers
from a live one's and remove only those.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STALE_AFTER_S = 3600.0  # leftovers whose owner cannot be checked (another host, no tag) are stale after this
LEFTOVER_SUFFIXES = (".tmp", ".partial", ".damaged")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so it unwinds like Ctrl-C (a KeyboardInterrupt, so
    every handler of an interrupt treats it as one)."""


@dataclass
class SigtermGuard:
    received: bool = False


def raise_on_sigterm() -> SigtermGuard:
    """Make SIGTERM unwind the process as Ctrl-C does (only the main thread can install it). A
    repeated SIGTERM while unwinding is recorded but not raised again, so cleanup can finish
    (SIGKILL still ends a process that hangs)."""
    guard = SigtermGuard()

    def _handler(signum: int, frame: object) -> None:
        if not guard.received:
            guard.received = True
            raise Terminated()

    signal.signal(signal.SIGTERM, _handler)
    return guard


def interrupt_in(error: BaseException) -> KeyboardInterrupt | None:
    """The interrupt `error` is or was caused by, if any: exporters and libraries wrap a Ctrl-C
    that arrives inside them in their own errors, and it must still stop the run."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def thread_environment(threads: int) -> dict[str, str]:
    """Thread limits for every math library a worker may load.

    OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning. Frames arrive every 50 ms
    with idle time between them, and spinning threads on a shared or small machine make p99 swing by
    tens of milliseconds (measured on the 2-core CI host: torch p99 9 ms passive vs 500 ms active).
    """
    env = {name: str(threads) for name in THREAD_VARIABLES}
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for subprocesses that must not outlive mc (bench and timing workers): on
    Linux the kernel kills the child when its parent dies, even by SIGKILL. None elsewhere (the
    parent's own cleanup on Ctrl-C and SIGTERM still stops them)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def _preexec() -> None:
        PR_SET_PDEATHSIG = 1
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return _preexec


def current_umask() -> int:
    try:  # Linux >= 4.7 reports it without changing it (changing it is process-wide)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(directory: Path) -> None:
    """mkdtemp makes folders drwx------; a run folder or cache entry gets the user's usual
    permissions, as any other tool's output would."""
    os.chmod(directory, 0o777 & ~current_umask())


def _host_id() -> str:
    return hashlib.sha256(platform.node().encode()).hexdigest()[:6]


def owner_tag() -> str:
    """`<pid>-<host>`, for the names of temporaries: who to ask whether they are still in use."""
    return f"{os.getpid()}-{_host_id()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _owner_gone(tag: str) -> bool | None:
    """True when the process named by an owner tag is gone; None when this host cannot tell."""
    pid, _, host = tag.partition("-")
    if not pid.isdigit() or not host:
        return None
    if host != _host_id():
        return None
    return not pid_alive(int(pid))


def remove_leftovers(directory: Path, max_age_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete what killed runs left in `directory`: hidden `.<name>.<owner>.<random><suffix>`
    temporaries whose owner process is gone, or, when that cannot be told (no tag, another host),
    untouched for `max_age_s`. A live run's temporaries are never touched. Returns what went."""
    try:
        candidates = [p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(LEFTOVER_SUFFIXES)]
    except OSError:
        return []
    removed = []
    for path in candidates:
        parts = path.name.split(".")
        gone = _owner_gone(parts[2]) if len(parts) > 3 else None
        try:
            stale = gone if gone is not None else time.time() - path.lstat().st_mtime > max_age_s
        except OSError:
            continue
        if not stale:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed
