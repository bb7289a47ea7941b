"""`mc report compare` refuses reports it cannot judge instead of passing them: every check skips a
figure that is not there, so a report of nothing (all NaN, all null, figures removed, no reference)
would PASS the CI gate. Built from the committed baseline, so no run is needed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import assert_one_line_error

BASELINE = Path(__file__).resolve().parents[1] / "reports" / "baseline" / "quickstart.json"


@pytest.fixture
def baseline() -> dict:
    return json.loads(BASELINE.read_text())


def _write(path: Path, report: dict) -> Path:
    path.write_text(json.dumps(report))  # NaN is written as the bare NaN Python's json reads back
    return path


def _variant(report: dict, name: str) -> dict:
    return next(variant for variant in report["variants"] if variant["name"] == name)


def _set_every_figure(report: dict, value: float | None) -> dict:
    for variant in report["variants"]:
        for figure in variant["figures"].values():
            figure["value"] = value
    return report


def test_the_baseline_compares_clean_against_itself(mc):
    result = mc("report", "compare", BASELINE, BASELINE)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout


@pytest.mark.parametrize("value", [math.nan, None], ids=["nan", "null"])
def test_a_new_report_whose_figures_are_all_nan_or_null_is_an_error_not_a_pass(mc, baseline, tmp_path, value):
    new = _write(tmp_path / "new.json", _set_every_figure(baseline, value))
    message = assert_one_line_error(mc("report", "compare", BASELINE, new), 2, "has no usable figures for any variant")
    assert "NEW" in message and "rerun mc run" in message


def test_a_base_without_figures_is_an_error_too(mc, baseline, tmp_path):
    for variant in baseline["variants"]:
        variant["figures"] = {}
    base = _write(tmp_path / "base.json", baseline)
    message = assert_one_line_error(mc("report", "compare", base, BASELINE), 2, "has no usable figures for any variant")
    assert "BASE" in message and str(base) in message


def test_a_reference_without_figures_or_missing_is_an_error(mc, baseline, tmp_path):
    reference = baseline["reference"]
    stripped = json.loads(json.dumps(baseline))
    _variant(stripped, reference)["figures"] = {}
    new = _write(tmp_path / "new.json", stripped)
    assert_one_line_error(mc("report", "compare", BASELINE, new), 2, f"reference variant {reference} ran (status ok) but has no usable figures")
    gone = json.loads(json.dumps(baseline))
    gone["variants"] = [variant for variant in gone["variants"] if variant["name"] != reference]
    new = _write(tmp_path / "new.json", gone)
    assert_one_line_error(mc("report", "compare", BASELINE, new), 2, f"reference variant {reference!r} is not in the report")


def test_one_variant_that_ran_but_lost_every_figure_is_named(mc, baseline, tmp_path):
    for figure in _variant(baseline, "int8-static")["figures"].values():
        figure["value"] = math.nan
    new = _write(tmp_path / "new.json", baseline)
    assert_one_line_error(mc("report", "compare", BASELINE, new), 2, "variant(s) int8-static ran (status ok)")


def test_duplicate_variant_names_are_refused_when_the_report_is_read(mc, baseline, tmp_path):
    baseline["variants"].append(json.loads(json.dumps(_variant(baseline, "int8-dynamic"))))
    new = _write(tmp_path / "new.json", baseline)
    message = assert_one_line_error(mc("report", "compare", BASELINE, new), 2, "variant name 'int8-dynamic' appears more than once")
    assert "Value error" not in message and "variants" in message


def test_a_nan_gated_figure_counts_as_not_obtained_and_fails_its_check(mc, baseline, tmp_path):
    """A NaN compares false with everything: before, a NaN accuracy passed the accuracy check."""
    _variant(baseline, "int8-dynamic")["figures"]["accuracy"]["value"] = math.nan
    new = _write(tmp_path / "new.json", baseline)
    result = mc("report", "compare", BASELINE, new)
    assert result.exit_code == 1, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("| int8-dynamic | accuracy |"))
    assert "| n/a |" in line and "regression" in line and "cannot be judged" in line
    # not gated on accuracy: shown, not failed
    assert mc("report", "compare", BASELINE, new, "--fail-on", "size,latency").exit_code == 0


def test_legitimate_gaps_still_pass(mc, baseline, tmp_path):
    """Some figures n/a (in both), and a variant that failed or is unavailable in both reports."""
    for variant in baseline["variants"]:
        variant["figures"]["realtime_p99_ms"]["value"] = None  # too few queries for a p99
        variant["figures"]["confidence_auroc"]["value"] = None
    failed = _variant(baseline, "pruned-30")
    failed.update(status="failed", error="prune: the step failed", failed_step="prune", figures={}, realtime=None)
    unavailable = _variant(baseline, "int8-static")
    unavailable.update(status="unavailable", error="this host has no such runtime", figures={}, realtime=None)
    both = _write(tmp_path / "both.json", baseline)
    result = mc("report", "compare", both, both)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "did not run in either report" in result.stdout
    # an n/a the base already had is no loss
    assert mc("report", "compare", both, BASELINE).exit_code == 0
