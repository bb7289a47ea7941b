"""This process's resident memory, read without importing anything heavy (text bench workers never
import torch)."""

from __future__ import annotations

import sys


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _rusage_peak_mb() -> float | None:
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def peak_resident_mb() -> float | None:
    """VmHWM on Linux: this process's own high-water mark. Not getrusage's ru_maxrss, which survives
    exec and so includes the parent's RSS at the fork (an mc parent holding torch: hundreds of MB).
    Elsewhere, ru_maxrss is all there is; None where neither exists."""
    peak = _proc_status_mb("VmHWM")
    return peak if peak is not None else _rusage_peak_mb()


def current_resident_mb() -> float | None:
    """VmRSS: the resident set now; the peak so far where /proc is missing."""
    now = _proc_status_mb("VmRSS")
    return now if now is not None else _rusage_peak_mb()
