"""This process's peak resident memory, read without importing anything heavy (text bench workers
never import torch)."""

from __future__ import annotations

import sys


def peak_resident_mb() -> float | None:
    """VmHWM on Linux: this process's own high-water mark. Not getrusage's ru_maxrss, which survives
    exec and so includes the parent's RSS at the fork (an mc parent holding torch: hundreds of MB).
    Elsewhere, ru_maxrss is all there is; None where neither exists."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0
