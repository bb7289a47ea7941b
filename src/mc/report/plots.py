"""The report's three plots, drawn by matplotlib's SVG backend and inlined in report.html (the page
stays one self-contained file), each a pure function of the report:

- accuracy against model latency, the Pareto front marked and marker area proportional to size;
- model size bars;
- the real-time latency distribution per variant against the target and the hard limit.

A variant keeps one colour in all three (and in the legend), so a reader can follow it from plot to
plot. No pyplot and no Agg: each figure is a `matplotlib.figure.Figure` on a `FigureCanvasSVG`, so
nothing global is touched and no raster backend is loaded. Text stays text (`svg.fonttype: none`),
so the page is searchable and a browser draws the labels in its own font.
"""

from __future__ import annotations

import io
import math
import re
from html import escape

from mc.report.content import host_name
from mc.report.format import format_setting, format_value, unit_label
from mc.report.pareto import Point, pareto_front
from mc.report.schema import Realtime, Report, Variant

# Okabe-Ito, colour-blind safe; a variant's colour is its index in the report, in every plot.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#882255", "#44AA99", "#999933")
TARGET_COLOUR = "#B07D00"
LIMIT_COLOUR = "#C62828"
MUTED = "#57606A"
MAX_MARKER_PT = 24.0  # diameter of the largest variant's marker, in points
MIN_MARKER_PT = 6.0
WIDTH_IN = 7.6  # the accuracy plot spans ~760 px of the page at 100 dpi
STYLE = {
    "svg.fonttype": "none", "font.size": 9.0, "axes.titlesize": 10.0,
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"], "axes.edgecolor": "#8C959F",
    "axes.grid": True, "grid.color": "#E4E7EB", "grid.linewidth": 0.8, "axes.axisbelow": True,
    "xtick.color": MUTED, "ytick.color": MUTED, "axes.labelcolor": "#1F2328", "legend.frameon": False,
}


def variant_colours(report: Report) -> dict[str, str]:
    return {variant.name: PALETTE[index % len(PALETTE)] for index, variant in enumerate(report.variants)}


def _value(variant: Variant | None, key: str) -> float | None:
    figure = variant.figures.get(key) if variant is not None else None
    return figure.value if figure is not None else None


# --- drawing and inlining -----------------------------------------------------------------------


def _figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasSVG(figure)
    return figure


def _inline(figure, ident: str, label: str, tooltips: dict[str, str]) -> str:
    """The figure as an inline <svg>: no XML prolog, no fixed size (the page's CSS scales it), the
    plot's id and an accessible name, and a hover <title> in each group an artist's gid names."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": ident}):  # ids unique across the page's plots, same on every run
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    markup = buffer.getvalue()
    markup = markup[markup.index("<svg"):]
    opening = markup[:markup.index(">") + 1]
    view_box = re.search(r'viewBox="([^"]+)"', opening)
    root = (f'<svg class="plot" id="{escape(ident)}" role="img" aria-label="{escape(label)}" '
            f'viewBox="{view_box.group(1) if view_box else "0 0 760 430"}">')  # inside HTML: no namespaces
    markup = root + markup[len(opening):].replace("xlink:href=", "href=")  # SVG 2: plain href to its own #ids
    markup = re.sub(r"<metadata>.*?</metadata>", "", markup, flags=re.S)
    for gid, hover in tooltips.items():
        markup = markup.replace(f'<g id="{gid}">', f'<g id="{gid}"><title>{escape(hover)}</title>', 1)
    return markup.strip()


def _empty(ident: str, label: str, message: str, width_in: float = WIDTH_IN, height_in: float = 1.2) -> str:
    """A plot with nothing to draw still says why, instead of leaving a hole in the page."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure = _figure(width_in, height_in)
        figure.text(0.5, 0.5, message, ha="center", va="center", color=MUTED)
        return _inline(figure, ident, label, {})


def _log_x(axes, low: float, high: float) -> None:
    """Log ticks a reader can read: 1-2-5 per decade, written as plain numbers (0.05, 0.1, 20), and
    linear ticks where the range is too narrow for two of them."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

    axes.set_xscale("log")
    axis = axes.xaxis
    axis.set_major_formatter(FuncFormatter(lambda value, _: tick_label(value)))
    if high / low < 2.5:  # too narrow for a log ladder: linear positions on the log scale
        axis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
        axis.set_minor_locator(NullLocator())
    else:  # 1-2-5 per decade; within a decade or so, 1-1.5-2-3-5-7 so that at least three ticks show
        subs = (1.0, 2.0, 5.0) if high / low >= 12 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        axis.set_minor_formatter(NullFormatter())


def tick_label(value: float) -> str:
    """0.05, 0.1, 2, 20, 1,000: significant digits only, no scientific notation."""
    if value <= 0 or not math.isfinite(value):
        return ""
    text = f"{value:.6g}"
    if "e" in text:
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    return f"{float(text):,.{max(0, len(text.split('.')[1]) if '.' in text else 0)}f}" if value >= 1000 else text


def _samples(variant: Variant | None) -> int | None:
    """How many held-out samples the accuracy was measured on, from its recorded source."""
    figure = variant.figures.get("accuracy") if variant is not None else None
    found = re.search(r"(\d[\d,]*) samples", figure.source) if figure is not None else None
    return int(found.group(1).replace(",", "")) if found else None


# --- accuracy against latency ---------------------------------------------------------------------


def _plottable_points(report: Report) -> list[Point]:
    points = []
    for variant in report.variants:
        latency, accuracy = _value(variant, "model_p50_ms"), _value(variant, "accuracy")
        if variant.status == "ok" and latency is not None and accuracy is not None and latency > 0:
            points.append(Point(variant.name, latency, accuracy))
    return points


def _accuracy_domain(accuracies: list[float]) -> tuple[float, float]:
    """Room around the points, at least one point of accuracy (a 0.1-point spread must not fill the
    plot as if it were 10 points), and no axis running past 100 % when no variant is there."""
    lowest, best = min(accuracies), max(accuracies)
    pad = max((best - lowest) * 0.2, 0.5)
    high = best + pad
    if high > 100.0 >= best:
        high = max(100.0, best + 0.25)
    return lowest - pad, high


def marker_diameters(report: Report, points: list[Point]) -> dict[str, float]:
    """Marker area proportional to model size (diameter in points), so a 4x smaller file looks 4x
    smaller, not 16x."""
    sizes = {point.name: _value(report.variant(point.name), "size_mb") for point in points}
    largest = max((size for size in sizes.values() if size), default=None)
    return {name: max(MIN_MARKER_PT, MAX_MARKER_PT * math.sqrt(size / largest)) if size and largest else 12.0
            for name, size in sizes.items()}


def _overlap(a, b) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > 0 and height > 0 else 0.0


def _place_labels(axes, texts: list, anchors: list[tuple[float, float, float]]) -> None:
    """Move each annotation to the first spot around its marker where it covers no marker, no
    other label and stays inside the plot; failing that, the spot that covers least."""
    from matplotlib.transforms import Bbox

    figure = axes.figure
    scale = figure.dpi / 72.0
    markers = [Bbox.from_extents(x - r * scale, y - r * scale, x + r * scale, y + r * scale) for x, y, r in anchors]
    frame = axes.get_window_extent()
    placed: list = []
    for annotation, (_, _, radius) in zip(texts, anchors):
        gap = radius + 3
        candidates = [(gap, gap * 0.6, "left", "bottom"), (gap, -gap * 0.6, "left", "top"),
                      (-gap, gap * 0.6, "right", "bottom"), (-gap, -gap * 0.6, "right", "top"),
                      (0, gap + 2, "center", "bottom"), (0, -gap - 2, "center", "top"),
                      (gap * 1.8, gap * 1.8, "left", "bottom"), (-gap * 1.8, -gap * 1.8, "right", "top")]
        best, best_cost = None, math.inf
        for dx, dy, horizontal, vertical in candidates:
            annotation.set_position((dx, dy))
            annotation.set_ha(horizontal)
            annotation.set_va(vertical)
            box = annotation.get_window_extent()
            outside = box.width * box.height - _overlap(box, frame)
            cost = sum(_overlap(box, other) for other in markers + placed) + 4 * outside
            if cost < best_cost:
                best, best_cost = (dx, dy, horizontal, vertical, box), cost
            if cost == 0:
                break
        dx, dy, horizontal, vertical, box = best
        annotation.set_position((dx, dy))
        annotation.set_ha(horizontal)
        annotation.set_va(vertical)
        placed.append(box)


def accuracy_latency_plot(report: Report) -> str:
    import matplotlib
    from matplotlib.lines import Line2D

    ident, label = "plot-accuracy-latency", "Accuracy against model latency"
    points = _plottable_points(report)
    if not points:
        return _empty(ident, label, "No variant has both an accuracy and a model latency.")
    front = pareto_front(points)
    on_front = {point.name for point in front}
    colours = variant_colours(report)
    diameters = marker_diameters(report, points)
    recommended = report.recommendation.variant
    samples = _samples(report.variant(report.reference)) or next(
        (count for count in (_samples(report.variant(p.name)) for p in points) if count), None)
    with matplotlib.rc_context(STYLE):
        figure = _figure(WIDTH_IN, 4.3)
        axes = figure.add_subplot()
        latencies = [p.latency_ms for p in points]
        low, high = min(latencies), max(latencies)
        _log_x(axes, low, high)
        spread = (high / low) ** 0.15 if high > low else 1.3
        axes.set_xlim(low / spread, high * spread)
        axes.set_ylim(*_accuracy_domain([p.accuracy for p in points]))
        axes.set_xlabel(f"model p50 latency, ms (log scale; measured on {host_name(report.measurement)}, batch 1)")
        per_point = f"1 pt = {samples / 100:g} of {samples:,} test samples" if samples else "held-out set"
        axes.set_ylabel(f"accuracy, % ({per_point})")
        reference_accuracy = _value(report.variant(report.reference), "accuracy")
        if reference_accuracy is not None:
            axes.axhline(reference_accuracy, color=MUTED, linestyle=":", linewidth=1.0, zorder=1)
        if len(front) > 1:
            axes.step([p.latency_ms for p in front], [p.accuracy for p in front], where="post", color="#24292F",
                      linestyle=(0, (5, 4)), linewidth=1.3, alpha=0.7, zorder=2)
        tooltips, texts, anchors = {}, [], []
        for point in sorted(points, key=lambda p: -diameters[p.name]):  # small markers on top of large ones
            name, colour = point.name, colours[point.name]
            size = format_value(_value(report.variant(name), "size_mb"), "MB")
            marker = axes.scatter([point.latency_ms], [point.accuracy], s=diameters[name] ** 2, color=colour,
                                  alpha=0.85 if name in on_front else 0.25,
                                  edgecolors="#1F2328" if name in on_front else colour, linewidths=1.2, zorder=3)
            gid = f"{ident}-{len(tooltips)}"
            marker.set_gid(gid)
            tooltips[gid] = (f"{name}: p50 {format_value(point.latency_ms, 'ms')}, accuracy "
                             f"{format_value(point.accuracy, '%')}, size {size}"
                             f"{', on the Pareto front' if name in on_front else ', dominated'}")
        for point in sorted(points, key=lambda p: p.latency_ms):
            text = point.name + (" ✓ recommended" if point.name == recommended else "")
            texts.append(axes.annotate(text, (point.latency_ms, point.accuracy), xytext=(8, 8), textcoords="offset points",
                                       fontweight="bold" if point.name in on_front else "normal", zorder=4,
                                       bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                                             "alpha": 0.75}))
        figure.draw_without_rendering()  # lays the figure out, so positions are final before labels move
        transform = axes.transData
        anchors = [(*transform.transform((p.latency_ms, p.accuracy)), diameters[p.name] / 2)
                   for p in sorted(points, key=lambda p: p.latency_ms)]
        _place_labels(axes, texts, anchors)
        handles = [Line2D([], [], marker="o", linestyle="", markersize=8, color=colours[p.name],
                          markeredgecolor="#1F2328" if p.name in on_front else colours[p.name],
                          alpha=0.85 if p.name in on_front else 0.35, label=p.name) for p in points]
        handles.append(Line2D([], [], color="#24292F", linestyle=(0, (5, 4)), label="Pareto front"))
        if reference_accuracy is not None:
            handles.append(Line2D([], [], color=MUTED, linestyle=":", label=f"{report.reference} accuracy"))
        axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0,
                    title="faded: dominated\narea ∝ model size", title_fontsize=7.5, alignment="left")
        return _inline(figure, ident, label, tooltips)


# --- size bars ------------------------------------------------------------------------------------


def _size_budget_mb(report: Report) -> float | None:
    budgets = report.target.get("budgets") or {}
    value = budgets.get("model_size_mb") if isinstance(budgets, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def size_plot(report: Report) -> str:
    import matplotlib

    ident, label = "plot-size", "Model size per variant"
    rows = [(variant, _value(variant, "size_mb")) for variant in report.variants]
    rows = [(variant, size) for variant, size in rows if size is not None and size >= 0]
    if not rows:
        return _empty(ident, label, "No variant has a model size.", width_in=4.2)
    unit = unit_label(rows[0][0].figures["size_mb"].unit)
    largest = max(size for _, size in rows) or 1.0
    budget = _size_budget_mb(report)
    budget_on_scale = budget is not None and budget <= largest * 3
    colours = variant_colours(report)
    with matplotlib.rc_context(STYLE):
        figure = _figure(4.2, 1.0 + 0.32 * len(rows) + (0.25 if budget is not None and not budget_on_scale else 0))
        axes = figure.add_subplot()
        names = [variant.name for variant, _ in rows]
        positions = list(range(len(rows)))
        bars = axes.barh(positions, [size for _, size in rows], color=[colours[name] for name in names], height=0.62)
        tooltips = {}
        for index, (bar, (variant, size)) in enumerate(zip(bars, rows)):
            ratio = _value(variant, "size_ratio")
            value_text = format_value(size, "MB") + (f" · {format_value(ratio, 'x')}" if ratio is not None else "")
            axes.annotate(value_text, (size, index), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
            gid = f"{ident}-{index}"
            bar.set_gid(gid)
            tooltips[gid] = f"{variant.name}: {value_text}"
        axes.set_yticks(positions, names)
        axes.invert_yaxis()
        axes.grid(axis="y", visible=False)
        high = max(largest, budget if budget_on_scale and budget else 0.0)
        axes.set_xlim(0, high * 1.45)  # room for the value labels
        axes.set_xlabel(f"model file size, {unit} (10^6 bytes)")
        if budget is not None and budget_on_scale:
            axes.axvline(budget, color=LIMIT_COLOUR, linewidth=1.4)
            axes.annotate(f"budget {format_setting(budget, 'MB')}", (budget, 0), xycoords=("data", "axes fraction"),
                          xytext=(-3, 3), textcoords="offset points", ha="right", color=LIMIT_COLOUR, fontsize=8,
                          fontweight="bold")
        elif budget is not None:
            share = format_value(100 * largest / budget, "%")
            axes.set_title(f"Budget {format_setting(budget, 'MB')} is off-scale:\nthe largest variant is {share} of it.",
                           loc="left", fontsize=8, color=MUTED)
        return _inline(figure, ident, label, tooltips)


# --- latency distribution -------------------------------------------------------------------------


def _at(curve: list[float], percentile: float) -> float:
    """The curve holds nearest-rank values at evenly spaced percentiles (101 of them: 0..100)."""
    return curve[round(percentile / 100 * (len(curve) - 1))]


def _distribution_rows(report: Report) -> list[tuple[Variant, Realtime]]:
    return [
        (variant, variant.realtime)
        for variant in report.variants
        if variant.realtime is not None and len(variant.realtime.latency_curve_ms) >= 2
    ]


def _positive(curve: list[float]) -> list[float]:
    """A log axis has no zero: a latency below the timer's resolution is drawn at 1 µs."""
    return [max(value, 1e-3) for value in curve]


def _stats_text(stats: Realtime) -> str:
    latency = stats.latency_ms
    shown = [f"{key} {format_value(None if latency.get(key) is None else float(latency[key]), 'ms')}"
             for key in ("p50", "p99", "max")]
    return " · ".join(shown) + (f" · {stats.dropped} dropped" if stats.dropped else "")


def latency_distribution_plot(report: Report) -> str:
    import matplotlib
    from matplotlib.transforms import blended_transform_factory

    ident, label = "plot-latency-distribution", "Real-time latency distribution per variant"
    rows = _distribution_rows(report)
    if not rows:
        return _empty(ident, label, "No variant has real-time latencies to plot.", width_in=10.0)
    target_ms, limit_ms = rows[0][1].target_ms, rows[0][1].limit_ms
    low = min(min(min(_positive(stats.latency_curve_ms)) for _, stats in rows), target_ms, limit_ms)
    high = max(max(max(stats.latency_curve_ms) for _, stats in rows), limit_ms, target_ms)
    colours = variant_colours(report)
    with matplotlib.rc_context(STYLE):
        figure = _figure(10.0, 1.3 + 0.36 * len(rows))
        axes = figure.add_subplot()
        _log_x(axes, low, high)
        axes.set_xlim(low / 1.25, high * 1.25)
        right = blended_transform_factory(axes.transAxes, axes.transData)
        tooltips = {}
        for index, (variant, stats) in enumerate(rows):
            curve, colour = _positive(stats.latency_curve_ms), colours[variant.name]
            p10, p25, p50, p75, p90 = (_at(curve, p) for p in (10, 25, 50, 75, 90))
            whisker = axes.plot([curve[0], curve[-1]], [index, index], color=colour, linewidth=1.3,
                                marker="|", markersize=9, zorder=2)[0]
            axes.barh(index, p90 - p10, left=p10, height=0.28, color=colour, alpha=0.35, zorder=3)
            box = axes.barh(index, p75 - p25, left=p25, height=0.55, color=colour, alpha=0.9, edgecolor="#1F2328",
                            linewidth=0.6, zorder=4)[0]
            axes.plot([p50, p50], [index - 0.32, index + 0.32], color="white", linewidth=2.4, zorder=5)
            axes.plot([p50, p50], [index - 0.32, index + 0.32], color="#1F2328", linewidth=0.6, alpha=0.5, zorder=6)
            gid = f"{ident}-{index}"
            box.set_gid(gid)
            whisker.set_gid(f"{gid}-whisker")
            tooltips[gid] = (f"{variant.name}: min {format_value(curve[0], 'ms')}, p25 {format_value(p25, 'ms')}, "
                             f"p50 {format_value(p50, 'ms')}, p75 {format_value(p75, 'ms')}, max {format_value(curve[-1], 'ms')}")
            axes.text(1.01, index, _stats_text(stats), transform=right, va="center", fontsize=8,
                      color=LIMIT_COLOUR if stats.dropped else "#1F2328")
        axes.set_yticks(range(len(rows)), [variant.name for variant, _ in rows])
        axes.set_ylim(len(rows) - 0.5, -0.5)
        axes.grid(axis="y", visible=False)
        for value, text, colour, style, side in (
                (target_ms, f"{format_setting(target_ms, 'ms')} target", TARGET_COLOUR, "--", "right" if target_ms < limit_ms else "left"),
                (limit_ms, f"{format_setting(limit_ms, 'ms')} limit", LIMIT_COLOUR, "-", "left" if target_ms < limit_ms else "right")):
            axes.axvline(value, color=colour, linestyle=style, linewidth=1.4, zorder=1)
            axes.annotate(text, (value, 1.0), xycoords=("data", "axes fraction"), xytext=(-3 if side == "right" else 3, 3),
                          textcoords="offset points", ha=side, va="bottom", color=colour, fontsize=8, fontweight="bold")
        axes.set_xlabel("latency, ms (log scale), from each request's scheduled arrival")
        axes.set_title("box p25–p75 · band p10–p90 · whisker min–max · white tick p50, over completed requests; "
                       "right: nearest-rank figures", loc="left", fontsize=8, color=MUTED, pad=16)
        return _inline(figure, ident, label, tooltips)


def all_plots(report: Report) -> list[tuple[str, str, str]]:
    """(plot id, caption, svg) in reading order."""
    return [
        ("accuracy-latency", ("Accuracy against model latency (batch 1, model alone). Up and left is better. "
         "The dashed staircase is the Pareto front; a faded (dominated) variant has another that is as fast or "
         "faster and as accurate or more. Marker area is proportional to model size."),
         accuracy_latency_plot(report)),
        ("size", "Model size (counted from the files, MB = 10^6 bytes) and the ratio to the reference.", size_plot(report)),
        ("latency-distribution", ("Real-time scenario: latency per request through the whole meta pipeline, "
         "against the target and the hard limit (log scale, so both the milliseconds of the model and the "
         "deadlines stay readable)."), latency_distribution_plot(report)),
    ]
