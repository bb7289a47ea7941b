"""Hardware target profiles: data in recipes/targets/*.yaml (shipped as the `mc_recipes` package).

A field written `host` is read from this machine when the profile loads (the x86-cpu profile is
the host itself). Whether a profile describes the machine mc runs on decides whether bench figures
are `measured` or only `estimated` for the target.
"""

from __future__ import annotations

import os
import platform
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mc.errors import InputError

HOST = "host"


class Isa(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    arm_dotprod: bool
    arm_i8mm: bool
    fp16_arithmetic: bool
    avx512: bool
    vnni: bool
    cuda: bool


class QuantizationPreset(BaseModel):
    """The target's preferred int8 scheme (ORT docs: S8S8 QDQ first; reduce_range without VNNI)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal["qdq", "qoperator"]
    activation_type: Literal["int8", "uint8"]
    weight_type: Literal["int8", "uint8"]
    per_channel: bool
    reduce_range: bool


class Budgets(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    model_size_mb: float = Field(gt=0)
    latency_ms: float = Field(gt=0)
    target_latency_ms: float = Field(gt=0)
    ram_mb: float = Field(gt=0)
    storage_mb: float | None = Field(None, gt=0, description="the bundle on disk (mc package); the seed's 1 GB where absent")
    power_w: float | None = Field(None, gt=0, description="mean device power at the real-time rate (the seed's edge budget: 5 W)")


class PowerFigures(BaseModel):
    """Device power for energy estimates, each figure with its public source. `meter` says what this
    host can measure instead: Linux powercap (RAPL) for the x86 host, nvidia-smi for the GPU."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    idle_w: float | None = Field(None, ge=0, description="watts with the model loaded and idle")
    loaded_w: float | None = Field(None, gt=0, description="watts with the cores (or the GPU) busy")
    meter: Literal["none", "rapl", "nvidia-smi"] = "none"
    source: str = Field(min_length=1, description="where the figures come from (public source), or why there are none")


class Accelerator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    int8_tops: float


class TargetProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str
    kind: Literal["cpu", "gpu"]
    arch: str
    cores: int = Field(gt=0)
    threads: int = Field(gt=0)
    memory_mb: int = Field(gt=0)
    isa: Isa
    # the runtimes the device really runs, in order of preference (names of mc.runtimes' runtimes)
    runtimes: list[Literal["onnxruntime", "onnxruntime-cuda", "torch", "tensorrt", "executorch", "openvino"]]
    quantization: QuantizationPreset
    budgets: Budgets
    peaks: dict[str, float] = Field(default_factory=dict)
    accelerators: list[Accelerator] = Field(default_factory=list)
    source: str = ""
    remote: str | None = Field(None, description="[user@]host[:port] of the device itself: benches run there over SSH")
    power: PowerFigures | None = None

    def is_host(self) -> bool:
        """True when this profile describes the machine mc runs on (figures are then `measured`)."""
        return self.name == "x86-cpu" and platform.machine().lower() in ("x86_64", "amd64") or (
            self.name == "gpu" and self.isa.cuda and host_has_cuda()
        )

    def arch_matches_host(self) -> bool:
        """Whether this host runs the target's instruction set (x86_64 kernels are not aarch64 kernels)."""
        return _arch_family(self.arch) == _arch_family(platform.machine())

    def host_threads(self) -> int:
        """The target's thread count, capped at this host's cores (a bench notes the cap)."""
        return max(1, min(self.threads, os.cpu_count() or 1))


def _arch_family(arch: str) -> str:
    arch = arch.lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "armv8": "aarch64"}.get(arch, arch)


def host_cpu_flags() -> set[str]:
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    flags.update(value.split())
    except OSError:
        pass
    return flags


def host_has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def _host_values() -> dict[str, Any]:
    flags = host_cpu_flags()
    vnni = bool({"avx512_vnni", "avx_vnni", "amx_int8"} & flags)
    try:
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError, AttributeError):
        memory_mb = 4096
    return {
        "cores": os.cpu_count() or 1,
        "threads": os.cpu_count() or 1,
        "memory_mb": int(memory_mb),
        "arch": platform.machine().lower(),
        "avx512": "avx512f" in flags,
        "vnni": vnni,
        "reduce_range": not vnni,
    }


def _resolve_host(data: Any, host: dict[str, Any], key: str = "") -> Any:
    if isinstance(data, dict):
        return {name: _resolve_host(value, host, name) for name, value in data.items()}
    if isinstance(data, list):
        return [_resolve_host(value, host, key) for value in data]
    if data == HOST:
        if key not in host:
            raise InputError(f"target field {key!r} cannot be read from the host; give it a value")
        return host[key]
    return data


def _targets_dir() -> Path:
    return Path(str(resources.files("mc_recipes") / "targets"))


def target_names() -> list[str]:
    return sorted(path.stem for path in _targets_dir().glob("*.yaml"))


def parse_target(path: Path) -> TargetProfile:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a target profile is a YAML mapping")
    try:
        return TargetProfile.model_validate({**_resolve_host(data, _host_values()), "source": str(path)})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{path}: {where}: {first['msg']}") from None


def load_target(name_or_path: str) -> TargetProfile:
    """A shipped profile by name, or a user's own profile file."""
    if name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.exists():
            raise InputError(f"target file not found: {path}")
        return parse_target(path)
    path = _targets_dir() / f"{name_or_path}.yaml"
    if not path.exists():
        import difflib

        names = target_names()
        close = difflib.get_close_matches(name_or_path, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"unknown target {name_or_path!r}: {hint}known targets: {', '.join(names)} (or a .yaml profile)")
    return parse_target(path)
