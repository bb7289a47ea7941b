"""`mc bench --remote` against a real OpenSSH server on loopback, started here: a generated host key
and client key, sshd on a free port of 127.0.0.1, the "device" python being this venv's (so mc is
importable there). Skipped, with the reason, where sshd is not installed or does not start."""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)


@dataclass
class Loopback:
    port: int
    user: str
    key: Path
    wrong_key: Path
    home: str
    folder: Path

    @property
    def remote(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def options(self, key: Path | None = None) -> list[str]:
        args = []
        for option in (f"IdentityFile={key or self.key}", "IdentitiesOnly=yes", "StrictHostKeyChecking=no",
                       "UserKnownHostsFile=/dev/null", "LogLevel=ERROR", f"SetEnv=MC_HOME={self.home}"):
            args += ["--ssh-option", option]
        return args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory, isolated_mc_home: Path):
    if SSHD is None or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH server or client not installed (apt-get install openssh-server openssh-client; .ci/run does)")
    folder = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key", "wrong_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    for name in ("client_key", "wrong_key", "authorized_keys"):
        os.chmod(folder / name, 0o600)
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # the privilege-separation directory sshd wants as root
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {folder}/host_key
AuthorizedKeysFile {folder}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AcceptEnv MC_HOME
Subsystem sftp internal-sftp
PidFile {folder}/sshd.pid
""")
    log = open(folder / "sshd.log", "wb")
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.skip(f"sshd did not start: {(folder / 'sshd.log').read_text().strip()[-300:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.skip("sshd did not listen within 20 s")
    import getpass

    yield Loopback(port, getpass.getuser(), folder / "client_key", folder / "wrong_key", str(isolated_mc_home), folder)
    process.terminate()
    process.wait(timeout=10)
    log.close()


def _leftovers() -> set[str]:
    return set(glob.glob(os.path.join(os.environ.get("TMPDIR", "/tmp"), "mc-bench.*")))


def _profile_with_remote(remote: str) -> str:
    from importlib import resources

    import yaml

    profile = yaml.safe_load((Path(str(resources.files("mc_recipes"))) / "targets" / "pi5.yaml").read_text())
    return yaml.safe_dump({**profile, "name": "my-pi", "remote": remote})


def test_remote_in_recipes_and_profiles(tmp_path: Path) -> None:
    """`bench: {remote: ...}` in a recipe and `remote:` in a target profile both name the device."""
    from mc.recipes.loader import load_recipe
    from mc.remote.bench import device_of
    from mc.targets import load_target

    profile = tmp_path / "my-pi.yaml"
    profile.write_text(_profile_with_remote("pi@raspberrypi.local"))
    target = load_target(str(profile))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\nmodel: mobile-tiny\ntarget: {profile}\nvariants: {{fp32: [export]}}\n"
                      "bench: {remote: 'pi@other:2222', ssh_options: [IdentityFile=~/.ssh/pi], remote_python: /opt/venv/bin/python}\n")
    loaded = load_recipe(str(recipe))
    assert device_of(loaded.bench, target) == "pi@other:2222" and loaded.bench.remote_python == "/opt/venv/bin/python"
    assert device_of(loaded.bench.model_copy(update={"remote": None}), target) == "pi@raspberrypi.local"
    assert device_of(loaded.bench.model_copy(update={"remote": None}), load_target("pi5")) is None


def test_refused_key_is_one_line(mc, sshd: Loopback, tiny_onnx: Path) -> None:
    result = mc("bench", tiny_onnx, "--target", "pi5", "--remote", sshd.remote, *sshd.options(sshd.wrong_key), "--remote-python", sys.executable)
    assert_one_line_error(result, contains="the key was refused")


def test_unreachable_host_is_one_line(mc, sshd: Loopback, tiny_onnx: Path) -> None:
    result = mc("bench", tiny_onnx, "--target", "pi5", "--remote", f"127.0.0.1:{_free_port()}", *sshd.options())
    assert_one_line_error(result, contains="unreachable")


def test_remote_without_mc_says_what_to_install(mc, sshd: Loopback, tiny_onnx: Path) -> None:
    system = "/usr/bin/python3"
    if not os.path.exists(system) or subprocess.run([system, "-c", "import mc"], capture_output=True).returncode == 0:
        pytest.skip(f"{system} is missing or has mc installed")
    before = _leftovers()
    result = mc("bench", tiny_onnx, "--target", "pi5", "--remote", sshd.remote, *sshd.options(), "--remote-python", system)
    line = assert_one_line_error(result, contains="mc is not importable")
    assert "pip install 'mc==" in line
    assert _leftovers() == before


def test_bad_remote_spec_and_kind(mc, sshd: Loopback, tmp_path: Path) -> None:
    assert_one_line_error(mc("bench", "mobile-tiny", "--target", "pi5", "--remote", "a@b@c"), contains="[user@]host[:port]")
    assert_one_line_error(mc("bench", "mobile-tiny", "--target", "pi5", "--remote", sshd.remote, *sshd.options()),
                          contains="export it first")


@pytest.mark.slow
def test_bench_over_loopback_is_measured_on_this_host(mc, sshd: Loopback, tiny_onnx: Path, tmp_path: Path) -> None:
    before = _leftovers()
    out = tmp_path / "remote.json"
    result = mc("bench", tiny_onnx, "--target", "pi5", "--remote", sshd.remote, *sshd.options(), "--remote-python", sys.executable,
                "--scenario", "latency", "--queries", "100", "--duration", "1", "--warmup", "8", "--json", out)
    assert result.exit_code == 0, result.stderr + result.stdout
    data = json.loads(out.read_text())
    hostname = platform.node()
    assert data["measurement"]["label"].startswith(f"measured on {hostname} (") and "cores" in data["measurement"]["label"]
    assert data["measurement"]["device"]["hostname"] == hostname and data["measurement"]["device"]["versions"]["mc"]
    variant = data["variants"][0]
    assert variant["status"] == "ok" and variant["artifact"] == str(tiny_onnx)
    assert variant["measured"]["label"] == data["measurement"]["label"]
    assert variant["host"]["label"].startswith("measured on ") and variant["host"]["measured"]["model_latency_ms"]["p50"] > 0
    assert variant["estimated"]["label"].startswith("estimated for pi5")
    assert variant["accuracy"]["accuracy"] > 0.9 and variant["peak_rss_mb"] > 10
    energy = variant["energy"]["target"]
    assert energy["label"] == "estimated for pi5" and energy["basis"].endswith(data["measurement"]["label"])
    assert 2.7 <= energy["mean_w"] <= 4.0
    assert "measured on" in result.stdout
    assert _leftovers() == before  # the device's temporary folder is gone


@pytest.mark.slow
def test_remote_dying_mid_run_leaves_nothing(mc, sshd: Loopback, tiny_onnx: Path, tmp_path: Path) -> None:
    """A "python" that drops the SSH connection once the worker starts (kills its sshd session process)."""
    wrapper = tmp_path / "dying-python"
    wrapper.write_text(f"""#!/bin/sh
case "$*" in
  *mc.bench.worker*)
    pid=$$
    while [ "$pid" -gt 1 ]; do
      case "$(cat /proc/$pid/comm)" in sshd*) kill -9 "$pid"; break;; esac
      pid=$(cut -d' ' -f4 /proc/$pid/stat)
    done
    sleep 5;;
esac
exec {sys.executable} "$@"
""")
    wrapper.chmod(0o755)
    before = _leftovers()
    # The device named by a user's target profile (`remote:`), not --remote.
    profile = tmp_path / "my-pi.yaml"
    profile.write_text(_profile_with_remote(sshd.remote))
    result = mc("bench", tiny_onnx, "--target", profile, *sshd.options(), "--remote-python", wrapper,
                "--scenario", "latency", "--queries", "50", "--duration", "1")
    assert_one_line_error(result, contains="went away during the bench")
    deadline = time.monotonic() + 10
    while _leftovers() != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers() == before
