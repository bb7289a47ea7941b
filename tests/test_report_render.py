"""The report renderers: Markdown and HTML from a hand-built `mc.report/1` report, checked for the
figures a reader relies on (rows, units, n/a, estimate marks, verdicts, escaping), and the HTML
rendered by a real headless Chromium (DOM and a non-blank screenshot)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from mc.percentiles import percentile_curve, summarize
from mc.report.format import ESTIMATE_MARK, NA, format_figure, format_value, significant
from mc.report.html import render_html
from mc.report.markdown import escape, render_markdown
from mc.report.pareto import Point, pareto_front
from mc.report.schema import (
    Figure,
    Gate,
    HardwareRow,
    Realtime,
    Recommendation,
    Report,
    Variant,
)
from mc.report.plots import PALETTE, marker_diameters, tick_label

CHROMIUM = Path("/usr/bin/chromium")
EVIL_ERROR = "ConvInteger kernel missing: <script>alert('x')</script> & a|b"
HOST = "ci-vm"
MEASURED = f"measured on {HOST}, 2 threads"


def measured(value: float | None, unit: str) -> Figure:
    return Figure(value=value, unit=unit, method="measured", source=MEASURED)


def counted(value: float, unit: str) -> Figure:
    return Figure(value=value, unit=unit, method="counted", source="file size")


def derived(value: float | None, unit: str) -> Figure:
    return Figure(value=value, unit=unit, method="derived", source="against fp32, same run")


def estimated(value: float, unit: str) -> Figure:
    return Figure(value=value, unit=unit, method="estimated", source="roofline estimated for pi5")


def realtime(median_ms: float, requests: int, dropped: int = 0, seed: int = 0) -> Realtime:
    """Latencies the way the bench summarises them (nearest rank, null percentiles below their
    minimum count), from a seeded log-normal with a few slow frames in the tail."""
    rng = np.random.default_rng(seed)
    latencies = list(median_ms * np.exp(rng.normal(0.0, 0.25, requests - dropped)))
    latencies[:3] = [median_ms * 6, median_ms * 9, 140.0]  # one frame over the 100 ms limit
    return Realtime(
        scenario="realtime", requests=requests, completed=requests - dropped, dropped=dropped,
        misses_over_target=1 + dropped, misses_over_limit=1 + dropped, target_ms=50.0, limit_ms=100.0,
        latency_ms=summarize(latencies), latency_curve_ms=percentile_curve(latencies),
        final_quality_level="full", quality_changes=0, pipeline_quality=0.81,
    )


def gates(drop: float, size_mb: float, p99: float | None) -> list[Gate]:
    return [
        Gate(name="max_accuracy_drop", limit=0.5, unit="pt", value=drop, passed=drop <= 0.5),
        Gate(name="max_size_mb", limit=100.0, unit="MB", value=size_mb, passed=size_mb <= 100),
        Gate(name="max_p99_ms", limit=100.0, unit="ms", value=p99, passed=None if p99 is None else p99 <= 100,
             note="" if p99 is not None else "too few requests for p99"),
    ]


def ok_variant(name: str, kind: str, *, size: float, p50: float, accuracy: float, auroc: float,
               agreement: float, rss: float, requests: int, seed: int, extra: dict[str, Figure] | None = None) -> Variant:
    reference_p50, reference_size, reference_accuracy = 2.15, 6.4, 97.8
    stats = realtime(p50 + 0.4, requests, seed=seed)
    drop = round(reference_accuracy - accuracy, 6)
    figures = {
        "size_mb": counted(size, "MB"),
        "size_ratio": derived(size / reference_size, "x"),
        "parameters": counted(size * 250_000, "count"),
        "accuracy": measured(accuracy, "%"),
        "accuracy_drop": derived(drop, "pt"),
        "agreement": measured(agreement, "%"),
        "confidence_auroc": measured(auroc, "auroc"),
        "calibration_error": measured(0.03, "1"),
        "model_p50_ms": measured(p50, "ms"),
        "speedup": derived(reference_p50 / p50, "x"),
        "throughput": derived(1000 / p50, "Hz"),
        "peak_rss_mb": measured(rss, "MiB"),
        **(extra or {}),
    }
    p99 = stats.latency_ms["p99"]
    return Variant(name=name, status="ok", kind=kind, runtime="onnxruntime", figures=figures, realtime=stats,
                   gates=gates(drop, size, None if p99 is None else float(p99)))


def sample_report() -> Report:
    variants = [
        ok_variant("fp32", "fp32", size=6.4, p50=2.15, accuracy=97.8, auroc=0.912, agreement=100.0, rss=312.0,
                   requests=700, seed=1),
        ok_variant("int8-conv", "int8 (static QDQ, Conv only)", size=3.52, p50=1.34, accuracy=97.6, auroc=0.905,
                   agreement=99.3, rss=298.0, requests=700, seed=2,
                   extra={"estimated_p50_ms": estimated(3.9, "ms")}),
        ok_variant("pruned-50", "pruned 50%", size=3.6, p50=1.10, accuracy=95.9, auroc=0.71, agreement=96.1,
                   rss=301.0, requests=200, seed=3),
        ok_variant("distilled-tiny", "distilled (mobile-tiny)", size=0.12, p50=0.62, accuracy=97.4, auroc=0.9,
                   agreement=98.7, rss=280.0, requests=700, seed=4),
        Variant(name="int8-dyn<all>", status="failed", kind="int8 (dynamic)", failed_step="quantize",
                error=EVIL_ERROR),
        Variant(name="tensorrt-fp16", status="unavailable", kind="fp16 (TensorRT)",
                error="TensorRT is not installed on this host"),
    ]
    hardware = [
        HardwareRow(hardware=f"{HOST} (x86, 2 threads)", variant="fp32", speed=measured(465.0, "Hz"),
                    latency=measured(2.15, "ms"), suitable_for="Development, CI"),
        HardwareRow(hardware="Raspberry Pi 5", variant="distilled-tiny", speed=estimated(730.0, "Hz"),
                    latency=estimated(1.37, "ms"), suitable_for="Edge, IoT"),
    ]
    return Report(
        recipe={"name": "quickstart", "path": "recipes/quickstart.yaml", "sha256": "ab" * 32},
        run={"id": "20261122-051500-ab12", "started": "2026-11-22T05:15:00Z", "seconds": 312.4},
        target={"name": "pi5", "description": "Raspberry Pi 5", "is_host": False, "threads": 4,
                "budgets": {"model_size_mb": 100, "latency_ms": 100, "target_latency_ms": 50}},
        measurement={"label": MEASURED, "threads": 2,
                     "host": {"hostname": HOST, "machine": "x86_64", "system": "Linux 6.1", "cpu_count": 2},
                     "thread_note": "pi5 has 4 threads; this host has 2 cores: capped at 2",
                     "versions": {"onnxruntime": "1.31.1", "torch": "2.13.0", "tensorrt": None}},
        bench={"scenario": "realtime", "duration": 10.0, "rate": None, "arrivals": "fixed", "warmup": 32},
        reference="fp32",
        variants=variants,
        hardware=hardware,
        recommendation=Recommendation(variant="distilled-tiny",
                                      reason="the fastest variant that passes every gate (3.47× faster than fp32)"),
    )


# --- helpers to read the Markdown back -----------------------------------------------------------


def markdown_table(text: str, title: str) -> list[list[str]]:
    """The rows (header first) of the table under `## title`, split on unescaped pipes."""
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    rows = [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    assert rows and all(len(row) == len(rows[0]) for row in rows), f"ragged table {title}: {rows}"
    assert set("".join(rows[1])) <= set("-:"), rows[1]  # the alignment row
    return [rows[0]] + rows[2:]


def row_of(rows: list[list[str]], name: str) -> list[str]:
    matches = [row for row in rows[1:] if re.sub(r"^\W+ ", "", row[0]).startswith(escape(name))]
    assert len(matches) == 1, (name, rows)
    return matches[0]


@pytest.fixture(scope="module")
def report() -> Report:
    return sample_report()


@pytest.fixture(scope="module")
def markdown(report: Report) -> str:
    return render_markdown(report)


@pytest.fixture(scope="module")
def page(report: Report) -> str:
    return render_html(report)


# --- formatting -----------------------------------------------------------------------------------


def test_figures_keep_their_unit_precision_and_estimate_mark():
    assert significant(2.153) == "2.15" and significant(0.06234) == "0.0623" and significant(2153.4) == "2,153"
    assert significant(9.9996) == "10.0"
    assert format_value(1.6, "x") == "1.60×" and format_value(465.0, "Hz") == "465 inf/s"
    assert format_value(99.96, "%") == "99.96 %"  # not a perfect "100.0 %"
    assert format_value(-0.2, "pt") == "−0.20 pt"
    assert format_value(None, "ms") == NA
    assert format_figure(estimated(3.9, "ms")) == f"3.90 ms {ESTIMATE_MARK}"
    assert format_figure(measured(3.9, "ms")) == "3.90 ms"
    assert format_figure(Figure(value=None, unit="ms", method="estimated", source="x")) == NA


def test_pareto_front_keeps_only_undominated_points_fastest_first():
    points = [Point("slow-accurate", 2.0, 98.0), Point("fast", 0.6, 97.0), Point("dominated", 1.1, 96.0),
              Point("middle", 1.3, 97.5), Point("twin", 1.3, 97.5)]
    assert [point.name for point in pareto_front(points)] == ["fast", "middle", "twin", "slow-accurate"]


def test_log_ticks_are_readable_round_numbers(page):
    assert [tick_label(value) for value in (0.05, 0.1, 0.7, 1.0, 1.5, 20.0, 100.0, 2000.0)] == [
        "0.05", "0.1", "0.7", "1", "1.5", "20", "100", "2,000"]
    plot = page.split('id="plot-latency-distribution"', 1)[1].split("</svg>", 1)[0]
    ticks = re.findall(r"<text[^>]*>([\d.,]+)</text>", plot)
    assert {"1", "2", "5", "10", "20", "50", "100"} <= set(ticks) and not any("e" in tick or "^" in tick for tick in ticks)


def test_markdown_escaping_keeps_user_text_as_text():
    assert escape("a<b>|c & d") == r"a\<b\>\|c \& d"
    assert escape("int8_static") == "int8_static" and escape("_x_") == r"\_x\_"
    assert escape("line one\nline two") == "line one line two"


# --- Markdown -------------------------------------------------------------------------------------


def test_markdown_header_says_what_ran_where_and_what_measured_means(markdown):
    head = markdown.split("\n## ", 1)[0]
    assert head.startswith("# mc report: quickstart → pi5\n")
    for fact in ("20261122-051500-ab12", "ci-vm (x86_64, Linux 6.1, 2 cores)", "Raspberry Pi 5", "312 s"):
        assert fact in head, fact
    assert "measured on ci-vm with 2 threads (pi5 has 4 threads; this host has 2 cores: capped at 2)" in head
    assert "not pi5's" in head and "(est.) are roofline estimates for pi5" in head
    assert "> **Recommendation:** Ship distilled-tiny: the fastest variant that passes every gate" in head


def test_markdown_implementation_table_has_one_row_per_variant_with_measured_figures(markdown):
    rows = markdown_table(markdown, "Optimization results")
    assert rows[0][:6] == ["Implementation", "Model size", "Speed-up vs ref (side by side)", "Model latency (bench)",
                           "Memory (peak RSS)", "Accuracy (Δ ref)"]
    assert rows[0][-1] == "Est. on pi5 (model + pipeline)"
    assert len(rows) == 1 + 6
    reference = row_of(rows, "fp32")
    assert reference[0] == "fp32 (reference)"
    assert reference[1:6] == ["6.40 MB · 1.00× ref", "1.00×", "2.15 ms p50 · 465 inf/s", "312 MiB", "97.8 %"]
    int8 = row_of(rows, "int8-conv")
    assert int8[0] == "int8-conv · int8 (static QDQ, Conv only)"
    assert int8[1:8] == ["3.52 MB · 0.55× ref", "1.60×", "1.34 ms p50 · 746 inf/s", "298 MiB",
                         "97.6 % · Δ −0.20 pt", "99.3 %", "AUROC 0.905 · Δ −0.007"]
    assert int8[8] == f"3.90 ms {ESTIMATE_MARK}" and reference[8] == NA
    # Pruning kept most of the accuracy but broke the confidence head: the table must show it.
    assert row_of(rows, "pruned-50")[7] == "AUROC 0.710 · Δ −0.202"
    failed = row_of(rows, "int8-dyn<all>")
    assert failed[0] == r"❌ int8-dyn\<all\> · int8 (dynamic): FAILED" and set(failed[1:]) == {NA}
    assert row_of(rows, "tensorrt-fp16")[0].endswith("UNAVAILABLE")


def test_markdown_hardware_table_marks_estimates_only(markdown):
    rows = markdown_table(markdown, "Hardware")
    assert rows[0] == ["Hardware", "Model type", "Inference speed", "Suitable for", "Power · energy"]
    host, pi = row_of(rows, HOST), row_of(rows, "Raspberry Pi 5")
    assert host[1:] == ["fp32 (reference)", "465 inf/s · 2.15 ms", "Development, CI", NA]  # no power figures in these rows
    assert pi[1:] == ["distilled-tiny · distilled (mobile-tiny)", "730 inf/s (est.) · 1.37 ms (est.)", "Edge, IoT", NA]


def test_markdown_realtime_table_shows_tail_statistics_and_na(markdown, report):
    rows = markdown_table(markdown, "Real-time scenario")
    assert rows[0] == ["Variant", "Requests", "Completed", "Dropped", "p50", "p90", "p99", "max",
                       "Over 50 ms", "Over 100 ms", "Final quality level"]
    assert [row[0] for row in rows[1:]] == ["fp32", "int8-conv", "pruned-50", "distilled-tiny"]
    pruned = row_of(rows, "pruned-50")
    assert pruned[1:4] == ["200", "200", "0"]
    assert pruned[6] == NA  # 200 requests are too few for a p99
    assert pruned[7] == "140 ms" and pruned[8:10] == ["❌ 1 (0.5 %)", "❌ 1 (0.5 %)"]
    p99 = report.variant("fp32").realtime.latency_ms["p99"]
    assert row_of(rows, "fp32")[6] == format_value(p99, "ms") != NA
    assert pruned[10] == "full"
    note = markdown.split("## Real-time scenario", 1)[1].split("## ", 1)[0]
    assert "open loop (the pipeline's default rate, fixed arrivals, 10 s per variant, 32 warm-up requests)" in note


def test_markdown_footer_lists_installed_versions_only(markdown):
    footer = markdown.rsplit("---", 1)[1]
    assert "onnxruntime 1.31.1, torch 2.13.0" in footer and "tensorrt" not in footer


def test_markdown_gates_table_gives_each_verdict(markdown):
    rows = markdown_table(markdown, "Gates")
    assert rows[0] == ["Variant", "max_accuracy_drop ≤ 0.5 pt", "max_size_mb ≤ 100 MB",
                       "max_p99_ms ≤ 100 ms", "All gates"]
    assert row_of(rows, "int8-conv")[1] == "✅ pass: Δ −0.20 pt" and row_of(rows, "int8-conv")[-1] == "✅ pass"
    pruned = row_of(rows, "pruned-50")
    assert pruned[1] == "❌ FAIL: Δ −1.90 pt" and pruned[-1] == "❌ FAIL"
    assert pruned[3] == "⚠️ not judged: n/a; too few requests for p99"
    assert row_of(rows, "tensorrt-fp16")[1:] == [NA, NA, NA, "⚠️ not run (unavailable)"]


def test_markdown_lists_failed_and_unavailable_variants_with_escaped_reasons(markdown):
    rows = markdown_table(markdown, "Failed and unavailable variants")
    assert rows[0] == ["Variant", "Status", "Step", "Reason"]
    failed = row_of(rows, "int8-dyn<all>")
    assert failed[1:] == ["❌ failed", "quantize", escape(EVIL_ERROR)]
    assert "<script>" not in markdown and r"\<script\>" in markdown
    assert row_of(rows, "tensorrt-fp16")[1:] == ["⚠️ unavailable", NA, "TensorRT is not installed on this host"]


def test_markdown_omits_the_problem_table_when_every_variant_ran(report):
    clean = report.model_copy(update={"variants": [v for v in report.variants if v.status == "ok"]})
    assert "## Failed and unavailable variants" not in render_markdown(clean)


# --- HTML -----------------------------------------------------------------------------------------


class _Dom(HTMLParser):
    """Just enough of a DOM walk: tags with their attributes, and text per table."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {key: value or "" for key, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> _Dom:
    dom = _Dom()
    dom.feed(markup)
    return dom


def test_html_is_self_contained_and_escapes_report_text(page):
    lowered = page.lower()
    for forbidden in ("<script", "http://", "https://", "src=", "@import", "<link"):
        assert forbidden not in lowered, forbidden
    # the plots' markers and clip paths refer to their own elements (#id); nothing outside the file
    assert all(target.startswith("#") for target in re.findall(r'href="([^"]*)"', lowered))
    assert all(target.startswith("#") for target in re.findall(r"url\(([^)]*)\)", lowered))
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; a|b" in page
    assert "int8-dyn&lt;all&gt;" in page


def test_html_has_three_plots_and_the_tables(page):
    dom = parse(page)
    plots = [attrs["id"] for tag, attrs in dom.tags if tag == "svg"]
    assert plots == ["plot-accuracy-latency", "plot-size", "plot-latency-distribution"]
    sections = [attrs["id"] for tag, attrs in dom.tags if tag == "section" and "id" in attrs]
    assert sections == ["implementations", "hardware", "realtime", "gates", "problems"]
    assert sum(tag == "table" for tag, _ in dom.tags) == 5
    verdicts = [attrs["class"] for tag, attrs in dom.tags if tag == "span" and "verdict" in attrs.get("class", "")]
    assert verdicts.count("verdict fail") >= 3 and verdicts.count("verdict pass") >= 3
    text = "".join(dom.text)
    assert "Ship distilled-tiny: the fastest variant that passes every gate" in text
    assert "3.90 ms (est.)" in text and "Δ −0.202" in text


def test_html_accuracy_plot_marks_the_pareto_front_and_sizes_markers_by_area(page, report):
    plot = page.split('id="plot-accuracy-latency"', 1)[1].split("</svg>", 1)[0]
    hovers = dict(re.findall(r"<title>([\w-]+): p50 [^<]*?, (on the Pareto front|dominated)</title>", plot))
    assert hovers == {"fp32": "on the Pareto front", "int8-conv": "on the Pareto front",
                      "distilled-tiny": "on the Pareto front", "pruned-50": "dominated"}
    diameters = marker_diameters(report, [Point(v.name, 1.0, 1.0) for v in report.variants if v.status == "ok"])
    assert diameters["fp32"] == pytest.approx(24.0)
    assert diameters["int8-conv"] ** 2 / diameters["fp32"] ** 2 == pytest.approx(3.52 / 6.4, rel=0.02)  # area ∝ size
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", plot)
    assert "distilled-tiny ✓ recommended" in texts
    # the legend names every plotted variant, each with a marker in its own colour
    for index, name in enumerate(["fp32", "int8-conv", "pruned-50", "distilled-tiny"]):
        assert name in texts and PALETTE[index].lower() in plot.lower()
    assert "Pareto front" in texts and "area ∝ model size" in texts


def test_html_latency_plot_draws_the_target_and_limit_lines(page):
    plot = page.split('id="plot-latency-distribution"', 1)[1].split("</svg>", 1)[0]
    assert "50 ms target" in plot and "100 ms limit" in plot
    hovers = re.findall(r"<title>([\w-]+): min [^<]*</title>", plot)
    assert hovers == ["fp32", "int8-conv", "pruned-50", "distilled-tiny"]  # failed and unavailable: no latencies
    assert "p50 " in plot and "p99 n/a" in plot  # pruned-50's 200 requests give no p99
    size = page.split('id="plot-size"', 1)[1].split("</svg>", 1)[0]
    assert "Budget 100 MB is off-scale:" in size and "the largest variant is 6.4 % of it." in size


def test_html_marks_estimated_cells(page):
    estimated_cells = re.findall(r'<td class="num est" title="roofline estimated for pi5">(.*?)</td>', page)
    assert len(estimated_cells) == 2 and all("(est.)" in cell for cell in estimated_cells)


def test_a_run_with_nothing_to_ship_still_renders_and_says_so():
    """Only the reference, on the target itself, no gates, no hardware rows, no real-time run."""
    variant = ok_variant("fp32", "fp32", size=6.4, p50=2.15, accuracy=97.8, auroc=0.912, agreement=100.0,
                         rss=312.0, requests=700, seed=1).model_copy(update={"realtime": None, "gates": []})
    report = sample_report().model_copy(update={
        "variants": [variant], "hardware": [],
        "target": {"name": "x86-cpu", "is_host": True, "threads": 2},
        "recommendation": Recommendation(variant=None, reason="no variant was faster than the reference"),
    })
    markdown, page = render_markdown(report), render_html(report)
    assert "> **Recommendation:** No variant to ship: no variant was faster than the reference" in markdown
    assert "ci-vm is the target (x86-cpu), so these are the target's own numbers" in markdown
    assert "(est.)" not in markdown.split("## ", 1)[1]
    assert "_No hardware rows in this run._" in markdown and "_The recipe defines no gates._" in markdown
    assert "_No variant ran the real-time scenario._" in markdown
    assert '<p class="recommendation none">' in page
    assert "No variant has real-time latencies to plot." in page
    assert page.count("<svg") == 3 and 'id="plot-accuracy-latency"' in page and "fp32: p50 2.15 ms" in page


# --- a real browser -------------------------------------------------------------------------------


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """A minimal PNG decoder (8-bit RGB/RGBA, non-interlaced: what Chromium writes): rows of pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks = 8, {}
    idat = b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IDAT":
            idat += body
        chunks[kind] = body
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    rows: list[bytes] = []
    previous = bytearray(stride)
    for index in range(height):
        kind, line = raw[index * (stride + 1)], bytearray(raw[index * (stride + 1) + 1:(index + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - up_left
                distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
                predictor = (left, up, up_left)[distances.index(min(distances))]
                line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [row[i:i + 3] for row in rows for i in range(0, stride, channels)]


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "HOME": str(profile)})


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (CI installs it in .ci/run)")
def test_html_renders_in_headless_chromium(page, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    dumped = _chromium("--dump-dom", path.as_uri(), profile=tmp_path / "profile-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = parse(dumped.stdout)
    assert [attrs.get("id") for tag, attrs in dom.tags if tag == "svg"] == [
        "plot-accuracy-latency", "plot-size", "plot-latency-distribution"]
    assert sum(tag == "table" for tag, _ in dom.tags) == 5 and not any(tag == "script" for tag, _ in dom.tags)
    assert sum(tag == "path" for tag, _ in dom.tags) >= 20 and sum(tag == "text" for tag, _ in dom.tags) >= 20
    assert "int8-dyn<all>" in "".join(dom.text)  # escaped in the file, plain text once parsed

    # The first screen: header, recommendation and the first row of plots.
    screenshot = tmp_path / "report.png"
    shot = _chromium(f"--screenshot={screenshot}", "--window-size=1280,1000", "--force-device-scale-factor=1",
                     path.as_uri(), profile=tmp_path / "profile-shot")
    assert shot.returncode == 0 and screenshot.exists(), shot.stderr[-2000:]
    width, height, pixels = _png_pixels(screenshot.read_bytes())
    assert (width, height) == (1280, 1000)
    colours = set(pixels)
    white = sum(pixel == b"\xff\xff\xff" for pixel in pixels) / len(pixels)
    assert len(colours) > 50, f"only {len(colours)} colours: a blank page"
    assert 0.3 < white < 0.97, f"{white:.0%} white"
    # The size bars of the first two variants are painted in their exact palette colours.
    for colour in PALETTE[:2]:
        assert bytes.fromhex(colour[1:]) in colours, f"{colour} not painted"
    keep = os.environ.get("MC_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(screenshot, keep)
