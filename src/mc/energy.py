"""Energy per inference: `estimated` from a target profile's power figures, `measured` from Linux
powercap (RAPL) where this host exposes it.

The estimate is a two-state device: idle between frames, loaded while serving one. At a real-time
rate r (20 Hz) with service time t per frame, the utilisation is u = t * r (capped at 1), the mean
power is P = idle + u * (loaded - idle), and the energy per inference is P / r (everything the
device draws, shared among the frames it serves); the inference's own share, (loaded - idle) * t,
is given beside it. A profile without an idle figure gets no mean power, and the energy of the
service time at the loaded figure, an upper bound.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mc.targets import TargetProfile

POWERCAP = Path("/sys/class/powercap")
NVIDIA_SMI_TIMEOUT_S = 10


def _nvidia_smi(query: str) -> float | None:
    try:
        done = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", "-i", "0"],
                              capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S)
        return float(done.stdout.strip().splitlines()[0]) if done.returncode == 0 else None
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def power_figures(target: TargetProfile) -> dict[str, Any]:
    """idle_w, loaded_w and source of the target; a GPU profile reads its card through nvidia-smi."""
    power = target.power
    if power is None:
        return {"idle_w": None, "loaded_w": None, "source": f"the {target.name} profile gives no power figures"}
    figures = {"idle_w": power.idle_w, "loaded_w": power.loaded_w, "source": power.source.strip()}
    if power.meter == "nvidia-smi" and figures["loaded_w"] is None:
        limit, draw = _nvidia_smi("power.limit"), _nvidia_smi("power.draw")
        if limit is None:
            figures["source"] += " (nvidia-smi is not available here: no figures)"
        else:
            figures.update(loaded_w=limit, idle_w=draw, source=figures["source"] + f" (read here: limit {limit:g} W, draw {draw} W)")
    return figures


def estimate_energy(target: TargetProfile, service_ms: float | None, rate_hz: float, basis: str) -> dict[str, Any]:
    """The `estimated` energy of one inference and the mean power at `rate_hz` (see the module's docstring)."""
    figures = power_figures(target)
    idle, loaded = figures["idle_w"], figures["loaded_w"]
    result: dict[str, Any] = {"label": f"estimated for {target.name}", "rate_hz": rate_hz, "service_ms": service_ms, "basis": basis,
                              **figures, "utilisation": None, "mean_w": None, "joules_per_inference": None, "active_joules": None}
    if service_ms is None or loaded is None:
        result["note"] = "no service time" if service_ms is None else "no loaded power figure for this target"
        return result
    seconds = service_ms / 1000.0
    utilisation = min(1.0, seconds * rate_hz)
    result["utilisation"] = utilisation
    if idle is None:
        result["joules_per_inference"] = loaded * seconds
        result["note"] = "no idle figure: the service time at the loaded power (an upper bound), no mean power"
        return result
    mean = idle + utilisation * (loaded - idle)
    result.update(mean_w=mean, joules_per_inference=mean / rate_hz, active_joules=max(0.0, loaded - idle) * seconds)
    return result


@dataclass(frozen=True)
class RaplDomain:
    name: str
    energy_file: Path
    max_range_uj: int


def rapl_domains(root: Path = POWERCAP) -> list[RaplDomain]:
    """The package domains (intel-rapl:N, not their sub-domains, which the package already counts)
    whose counters this process can read; empty where powercap is absent or unreadable."""
    domains = []
    for folder in sorted(root.glob("intel-rapl:*")):
        if folder.name.count(":") != 1:
            continue
        energy, limit = folder / "energy_uj", folder / "max_energy_range_uj"
        try:
            int(energy.read_text())
            max_range = int(limit.read_text()) if limit.exists() else 2**32
        except (OSError, ValueError):
            continue
        name = (folder / "name").read_text().strip() if (folder / "name").exists() else folder.name
        domains.append(RaplDomain(name, energy, max_range))
    return domains


class RaplWindow:
    """Joules the CPU packages used between `start()` and `stop()`, a wrap of a counter included."""

    def __init__(self, root: Path = POWERCAP):
        self.domains = rapl_domains(root)
        self._start: list[int] = []
        self._began = 0.0
        self.joules: float | None = None
        self.seconds: float | None = None

    @property
    def readable(self) -> bool:
        return bool(self.domains)

    def _read(self) -> list[int]:
        return [int(domain.energy_file.read_text()) for domain in self.domains]

    def start(self) -> None:
        if self.domains:
            self._start, self._began = self._read(), time.perf_counter()

    def stop(self) -> None:
        if not self.domains or not self._start:
            return
        end, self.seconds = self._read(), time.perf_counter() - self._began
        total = 0
        for domain, before, after in zip(self.domains, self._start, end):
            total += after - before if after >= before else after + domain.max_range_uj - before
        self.joules = total / 1e6

    def result(self, requests: int) -> dict[str, Any]:
        """The `measured` figures of the window, or why there are none."""
        if self.joules is None or not self.seconds:
            return {"label": "measured", "readable": False,
                    "note": "Linux powercap (RAPL) is not readable here: no measured energy"}
        return {"label": "measured", "readable": True, "source": "Linux powercap (RAPL) package domains: "
                + ", ".join(domain.name for domain in self.domains), "joules": self.joules, "seconds": self.seconds,
                "mean_w": self.joules / self.seconds, "requests": requests,
                "joules_per_inference": self.joules / requests if requests else None,
                "note": "the whole CPU package over the scenario's window, other processes included"}
