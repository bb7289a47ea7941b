"""What people read in a terminal or a CI log: tables at 80 columns (names whole, FAIL spelled out,
stacked rather than truncated) and plain progress lines where no live bar can show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from mc_cli._console import RichProgress, elapsed_label, print_table

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "reports" / "baseline" / "quickstart.json"
BOX = "┏┃┡│└┗┣╇┩┛┓"


def _table_lines(text: str) -> list[str]:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # styles (bold headers) where rich thinks it writes to a terminal
    return [line for line in text.splitlines() if line[:1] in BOX]


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


def test_report_show_at_80_columns_keeps_every_name_and_says_fail(mc, narrow, tmp_path):
    import json

    report = json.loads(BASELINE.read_text())
    failing_gate = next(gate for gate in report["variants"][-1]["gates"] if gate["name"] == "max_accuracy_drop")
    failing_gate["passed"] = False  # a row that fails, whatever the baseline holds today
    shown = tmp_path / "report.json"
    shown.write_text(json.dumps(report))
    result = mc("report", "show", shown)
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = _table_lines(result.stdout)
    assert lines and all(len(line) <= 80 for line in lines), "\n".join(line for line in lines if len(line) > 80)
    assert "…" not in result.stdout
    for variant in report["variants"]:
        rows = [line for line in lines if re.match(rf"│ {re.escape(variant['name'])}( \(ref\))? +│", line)]
        assert rows, variant["name"]  # the whole name, in its own cell, in every stacked part
    failing = [v for v in report["variants"] if any(gate["passed"] is False for gate in v["gates"])]
    assert failing
    for variant in failing:
        row = next(line for line in lines if line.startswith(f"│ {variant['name']} "))
        assert "FAIL:" in row
        first_failed = next(gate["name"] for gate in variant["gates"] if gate["passed"] is False)
        assert first_failed.split("_")[0] in result.stdout
    assert "MB = 10^6 bytes" in result.stdout and "minus reference" in result.stdout


@pytest.mark.parametrize("command", ["models", "targets"])
def test_listings_fit_80_columns_with_whole_names(mc, narrow, command):
    result = mc(command)
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = _table_lines(result.stdout)
    assert all(len(line) <= 80 for line in lines)
    names = ["mobile-tiny", "mobile-small", "memory-minilm"] if command == "models" else ["jetson-orin-nano", "pi5", "x86-cpu"]
    for name in names:
        assert any(line.startswith(f"│ {name} ") for line in lines), name
    assert "…" not in result.stdout


def _render(table: Table, width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"), color_system=None)
    print_table(table, console)
    return console.export_text()


def test_a_wide_table_is_stacked_repeating_the_name_column():
    table = Table(title="wide")
    table.add_column("variant")
    headers = [f"figure number {index}" for index in range(8)]
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_row("int8-static-with-a-long-name", *[f"{index * 1234.5:,.1f}" for index in range(8)])
    text = _render(table, 80)
    lines = _table_lines(text)
    assert all(len(line) <= 80 for line in lines)
    parts = [line for line in lines if line.startswith("│ int8-static-with-a-long-name ")]
    assert len(parts) >= 2  # stacked: the name heads every part
    for index in range(8):
        assert f"{index * 1234.5:,.1f}" in text  # no figure lost or cut
    wide = _render(table, 250)
    assert len([line for line in _table_lines(wide) if line.startswith("│ int8-static")]) == 1  # room: one table


def test_words_stay_whole_when_a_table_just_fits():
    table = Table()
    table.add_column("name")
    table.add_column("notes")
    table.add_row("memory-minilm", "pretrained backbone shipped as a package, estimated for the target")
    text = _render(table, 40)
    assert "memory-minilm" in text and "pretrained" in text and "estimated" in text and "…" not in text


def test_progress_in_a_pipe_prints_plain_lines(capsys):
    progress = RichProgress()
    with progress.task("benching", total=3) as task:
        for name in ("fp32", "int8-dynamic", "int8-static"):
            task.advance(0, name)
            task.advance(1, "")
    with progress.task("training", total=2) as task:
        task.advance(1, "loss 0.5")
        task.advance(1, "loss 0.3")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "[0m00s] benching: started (3 steps)"
    assert "[0m00s] benching: 2 of 3 · int8-dynamic" in lines
    assert "[0m00s] benching: 3 of 3 done" in lines
    assert "[0m00s] training: 1 of 2 · loss 0.5" in lines and "[0m00s] training: 2 of 2 done · loss 0.3" in lines
    assert all(re.match(r"\[\d+m\d\ds\] ", line) for line in lines)
    assert elapsed_label(125.7) == "[2m05s]"


def test_quiet_silences_progress(mc, capsys):
    from mc_cli._console import CliState, set_state

    set_state(CliState(quiet=True))
    try:
        with RichProgress().task("benching", total=1) as task:
            task.advance(1, "x")
    finally:
        set_state(CliState())
    assert capsys.readouterr().err == ""


def test_compare_in_a_terminal_is_a_table_that_fits_and_names_the_regression(mc, narrow, monkeypatch, tmp_path):
    import json

    from test_recommendation import _with_intervals

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat stdout as a terminal (a person reading)
    monkeypatch.setenv("NO_COLOR", "1")
    base, slow = tmp_path / "base.json", tmp_path / "slow.json"
    base.write_text(json.dumps(_with_intervals(json.loads(BASELINE.read_text()), {})))
    slow.write_text(json.dumps(_with_intervals(json.loads(BASELINE.read_text()), {"int8-static": 1.5})))
    result = mc("report", "compare", base, slow)
    assert result.exit_code == 1
    lines = _table_lines(result.stdout)
    assert lines and all(len(line) <= 80 for line in lines) and "…" not in result.stdout
    assert "FAIL" in result.stdout and "| int8-static |" not in result.stdout  # a table, not Markdown
    regressions = [line for line in lines if "REGRESSION" in line]
    assert len(regressions) == 1 and regressions[0].startswith("│ int8-static ")


def test_compare_in_a_pipe_stays_markdown(mc, narrow):
    result = mc("report", "compare", BASELINE, BASELINE)
    assert result.exit_code == 0 and "| variant | check | base | new | verdict | note |" in result.stdout


@pytest.mark.parametrize("command", ["bench", "quantize", "compile", "export"])
def test_help_states_defaults_the_option_has_none_of_its_own(mc, command, monkeypatch):
    """`[default: ...]` written in a help text is rich markup unless escaped: it vanished, leaving
    "scenario ; timed calls ... ." in --help."""
    monkeypatch.setenv("COLUMNS", "400")  # one line per option
    result = mc(command, "--help")
    assert result.exit_code == 0
    text = result.stdout
    assert not re.search(r" [.;](\s|$)", text, re.M), "a stray ' .' or ' ;' where a [default: ...] was eaten"
    expected = "[default: 662, so p99 is reported]" if command == "bench" else "[default: MNIST-1D test set]"
    if command == "quantize":
        expected = "[default: 512 MNIST-1D training samples]"
    assert expected in text
