"""Shared fixtures: an isolated mc cache per test session and a CLI runner over the real app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mc_cli.main import app, hoist_global_flags

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def isolated_mc_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests never read or write the user's cache; the generated data is shared within the session."""
    home = tmp_path_factory.mktemp("mc-home")
    previous = os.environ.get("MC_HOME")
    os.environ["MC_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("MC_HOME", None)
    else:
        os.environ["MC_HOME"] = previous


class Mc:
    """Runs `mc ...` in-process through Typer's CliRunner, with stdout and stderr kept apart."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str):
        return self.runner.invoke(app, hoist_global_flags([str(arg) for arg in args]))


@pytest.fixture
def mc() -> Mc:
    return Mc()


def assert_one_line_error(result, exit_code: int = 2, contains: str | None = None) -> str:
    """The bad-input contract: the exit code, one line on stderr, no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert lines[0].startswith("error:"), lines[0]
    if contains:
        assert contains in lines[0], lines[0]
    return lines[0]
