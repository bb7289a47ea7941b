"""Library versions recorded with every artifact and result, read without importing heavy modules."""

import platform
import sys
from importlib import metadata

TRACKED_DISTRIBUTIONS = ("mc", "torch", "onnx", "onnxruntime", "onnxscript", "numpy", "mnist1d")


def distribution_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    versions.update({name: distribution_version(name) for name in TRACKED_DISTRIBUTIONS})
    return versions


def host_description() -> dict[str, str | int]:
    import os

    return {
        "hostname": platform.node(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "cpu_count": os.cpu_count() or 1,
        "python_executable": sys.executable,
    }
