"""One report that agrees with itself: every Δ is variant minus reference, estimates sit beside the
measurement of the same quantity, one unit family, quality levels explained where they appear."""

from __future__ import annotations

import re

from test_report_render import estimated, markdown_table, row_of, sample_report

from mc.report.content import gate_cell, implementation_table, quality_levels_note, realtime_table
from mc.report.markdown import render_markdown
from mc.report.schema import Gate


def test_a_drop_gate_shows_the_change_with_the_sign_of_every_delta():
    went_up = gate_cell(Gate(name="max_auroc_drop", limit=0.05, unit="auroc", value=-0.011, passed=True), show_limit=False)
    assert went_up.text == "pass: Δ +0.011 AUROC"  # an AUROC that rose is +, as in the implementation table
    went_down = gate_cell(Gate(name="max_accuracy_drop", limit=0.5, unit="pt", value=1.9, passed=False), show_limit=False)
    assert went_down.text == "FAIL: Δ −1.90 pt"


def _with_estimates():
    report = sample_report()
    variants = []
    for variant in report.variants:
        if variant.name in ("fp32", "int8-conv"):
            figures = {key: figure for key, figure in variant.figures.items() if key != "estimated_p50_ms"}
            figures.update({"estimated_model_p50_ms": estimated(4.1, "ms"), "estimated_realtime_p50_ms": estimated(5.0, "ms"),
                            "estimated_realtime_p99_ms": estimated(9.5, "ms")})
            variant = variant.model_copy(update={"figures": figures})
        variants.append(variant)
    return report.model_copy(update={"variants": variants})


def test_estimates_sit_beside_the_measurement_of_the_same_quantity():
    report = _with_estimates()
    implementations = implementation_table(report)
    assert implementations.headers[-1] == "Est. on pi5 (model alone, p50)"  # beside "Model latency (bench)"
    realtime = realtime_table(report)
    assert realtime.headers[-2:] == ["Est. p50 on pi5", "Est. p99 on pi5"]  # beside the measured p50 ... p99
    fp32 = next(row for row in realtime.rows if row[0].text == "fp32")
    assert [cell.text for cell in fp32[-2:]] == ["5.00 ms (est.)", "9.50 ms (est.)"] and fp32[-1].estimated
    assert any("simulated" in note and "queue" in note for note in realtime.notes)
    rows = markdown_table(render_markdown(report), "Real-time scenario")
    assert row_of(rows, "pruned-50")[-2:] == ["n/a", "n/a"]


def test_the_report_states_its_units_signs_and_quality_levels():
    markdown = render_markdown(sample_report())
    head = markdown.split("\n## ", 1)[0]
    assert "MB = 10^6 bytes" in head and "variant minus the reference" in head
    note = markdown.split("## Real-time scenario", 1)[1].split("## ", 1)[0]
    for level in ("minimal", "reduced", "standard", "enhanced"):
        assert level in note and level in quality_levels_note()
    assert re.search(r"Accuracy \(Δ ref\)", markdown)


def test_report_show_adds_estimate_columns_off_the_target(mc, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    path = tmp_path / "report.json"
    import json

    path.write_text(json.dumps(_with_estimates().to_json()))
    result = mc("report", "show", path)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "on pi5" in result.stdout and "4.100*" in result.stdout and "9.500*" in result.stdout  # model, pipeline p99
    assert all(len(line) <= 80 for line in result.stdout.splitlines() if line[:1] in "┏┃┡│└")


def test_the_accuracy_plot_says_what_one_point_of_accuracy_is():
    from pathlib import Path

    from mc.report.load import read_report
    from mc.report.plots import accuracy_latency_plot

    report = read_report(Path(__file__).resolve().parent.parent / "reports" / "baseline" / "quickstart.json")
    plot = accuracy_latency_plot(report)  # its accuracy was measured on "MNIST-1D test set (1000 samples)"
    assert "accuracy, % (1 pt = 10 of 1,000 test samples)" in plot
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", plot)
    for variant in report.variants:  # every variant is labelled and in the legend
        assert texts.count(variant.name) + sum(t.startswith(variant.name + " ✓") for t in texts) >= 2, variant.name
