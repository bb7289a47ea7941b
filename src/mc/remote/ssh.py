"""The system's OpenSSH client (`ssh`, `scp`), so ~/.ssh/config, agents and jump hosts work as the
user set them up. BatchMode: a missing or refused key fails at once instead of prompting. Every
failure becomes one line naming what went wrong (unreachable, refused key, the remote gone)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from mc.errors import InputError

SSH_FAILED = 255  # ssh's own exit status for a connection or authentication failure
CONNECT_TIMEOUT_S = 10


class RemoteError(InputError):
    """The device cannot be reached, refuses the key, lacks what the bench needs, or died mid-run."""


@dataclass(frozen=True)
class Remote:
    host: str
    user: str | None = None
    port: int | None = None

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def __str__(self) -> str:
        return self.destination + (f":{self.port}" if self.port else "")


def parse_remote(spec: str) -> Remote:
    """`[user@]host[:port]` (an IPv6 address in brackets: `[::1]:2222`)."""
    match = re.fullmatch(r"(?:(?P<user>[^@\s:]+)@)?(?:\[(?P<v6>[0-9a-fA-F:]+)\]|(?P<host>[^@\s:\[\]]+))(?::(?P<port>\d+))?", spec.strip())
    if not match:
        raise InputError(f"--remote {spec!r}: expected [user@]host[:port]")
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise InputError(f"--remote {spec!r}: port {port} is out of range")
    return Remote(host=match["v6"] or match["host"], user=match["user"], port=port)


def _reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip() and not line.startswith("Warning: Permanently added")]
    return lines[-1] if lines else "no message"


@dataclass
class SshClient:
    remote: Remote
    options: list[str] = field(default_factory=list)  # each as `-o` takes it: "IdentityFile=~/.ssh/pi"

    def __post_init__(self) -> None:
        for tool in ("ssh", "scp"):
            if shutil.which(tool) is None:
                raise RemoteError(f"{tool} is not installed here: install the OpenSSH client (apt-get install openssh-client)")

    def common_options(self) -> list[str]:
        args = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", "-o", "ServerAliveInterval=5",
                "-o", "ServerAliveCountMax=3"]
        for option in self.options:
            args += ["-o", option]
        return args

    def connection_error(self, stderr: str, during: str) -> RemoteError:
        reason = _reason(stderr)
        lowered = reason.lower()
        if "permission denied" in lowered or "too many authentication failures" in lowered:
            return RemoteError(f"{self.remote}: the key was refused ({reason}): add your public key to its ~/.ssh/authorized_keys "
                               "or name one with --ssh-option IdentityFile=PATH")
        if any(word in lowered for word in ("could not resolve", "connection refused", "timed out", "no route", "network is unreachable",
                                             "connection closed by", "kex_exchange_identification")) and during == "connect":
            return RemoteError(f"{self.remote} is unreachable ({reason}): check the host, the port and that sshd runs there")
        if during == "connect":
            return RemoteError(f"{self.remote}: ssh failed ({reason})")
        return RemoteError(f"{self.remote} went away {during} ({reason}): the device rebooted, lost power or the network dropped")

    def run(self, command: str, *, timeout: float, during: str = "connect", check: bool = True) -> subprocess.CompletedProcess:
        """`command` through the remote's login shell; ssh's own failures (exit 255) raise RemoteError."""
        args = ["ssh", *self.common_options()] + (["-p", str(self.remote.port)] if self.remote.port else []) + [self.remote.destination, command]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RemoteError(f"{self.remote} did not answer within {timeout:.0f} s {during}") from None
        if done.returncode == SSH_FAILED:
            raise self.connection_error(done.stderr, during)
        if check and done.returncode != 0:
            raise RemoteError(f"{self.remote}: `{command[:80]}` failed (exit {done.returncode}: {_reason(done.stderr)})")
        return done

    def _scp(self, sources: list[str], destination: str, timeout: float, during: str) -> None:
        args = ["scp", "-B", "-q", "-r", *self.common_options()] + (["-P", str(self.remote.port)] if self.remote.port else [])
        try:
            done = subprocess.run(args + sources + [destination], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RemoteError(f"{self.remote}: copying timed out after {timeout:.0f} s {during}") from None
        if done.returncode != 0:
            raise self.connection_error(done.stderr, during) if done.returncode == SSH_FAILED or "lost connection" in done.stderr \
                else RemoteError(f"{self.remote}: copying failed {during} ({_reason(done.stderr)})")

    def _remote_path(self, path: str) -> str:
        host = f"[{self.remote.host}]" if ":" in self.remote.host else self.remote.host
        return f"{self.remote.user + '@' if self.remote.user else ''}{host}:{path}"

    def put(self, local: list[Path], remote_dir: str, *, timeout: float = 600.0) -> None:
        self._scp([str(path) for path in local], self._remote_path(remote_dir.rstrip("/") + "/"), timeout, "while copying the bundle")

    def get(self, remote_path: str, local: Path, *, timeout: float = 120.0) -> None:
        self._scp([self._remote_path(remote_path)], str(local), timeout, "while bringing the result back")
