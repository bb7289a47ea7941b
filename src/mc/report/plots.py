"""The report's three plots as inline SVG, each a pure function of the report:

- accuracy against model latency, the Pareto front marked and marker area proportional to size;
- the real-time latency distribution per variant against the 50 ms target and 100 ms limit;
- model size bars.

A variant keeps one colour in all three, so a reader can follow it from plot to plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

from mc.report.content import host_name
from mc.report.format import format_setting, format_value, unit_label
from mc.report.pareto import Point, pareto_front
from mc.report.schema import Realtime, Report, Variant
from mc.report.svg import (
    AXIS_COLOUR,
    GRID_COLOUR,
    LIMIT_COLOUR,
    PALETTE,
    TARGET_COLOUR,
    Scale,
    element,
    padded,
    shorten,
    svg,
    text,
    text_width,
    tick_label,
    tooltip,
)

MUTED = "#57606A"
MAX_RADIUS = 22.0
MIN_RADIUS = 3.0


def variant_colours(report: Report) -> dict[str, str]:
    return {variant.name: PALETTE[index % len(PALETTE)] for index, variant in enumerate(report.variants)}


def _value(variant: Variant | None, key: str) -> float | None:
    figure = variant.figures.get(key) if variant is not None else None
    return figure.value if figure is not None else None


def _empty(ident: str, label: str, message: str, width: int = 760, height: int = 120) -> str:
    """A plot with nothing to draw still says why, instead of leaving a hole in the page."""
    body = text(width / 2, height / 2, message, text_anchor="middle", fill=MUTED)
    return svg(width, height, body, ident=ident, label=label)


def _x_axis(scale: Scale, y: float, top: float, title: str, width: float) -> str:
    parts = []
    for tick in scale.ticks():
        x = scale(tick)
        parts.append(element("line", x1=x, x2=x, y1=top, y2=y, stroke=GRID_COLOUR))
        parts.append(text(x, y + 16, tick_label(tick), text_anchor="middle", fill=AXIS_COLOUR))
    parts.append(element("line", x1=scale.start, x2=scale.end, y1=y, y2=y, stroke=AXIS_COLOUR))
    parts.append(text((scale.start + scale.end) / 2, y + 36, title, text_anchor="middle", class_="axis-title"))
    return "".join(parts)


def _y_axis(scale: Scale, left: float, right: float, title: str) -> str:
    parts = []
    for tick in scale.ticks(6):
        y = scale(tick)
        parts.append(element("line", x1=left, x2=right, y1=y, y2=y, stroke=GRID_COLOUR))
        parts.append(text(left - 8, y + 4, tick_label(tick), text_anchor="end", fill=AXIS_COLOUR))
    parts.append(element("line", x1=left, x2=left, y1=scale.start, y2=scale.end, stroke=AXIS_COLOUR))
    middle = (scale.start + scale.end) / 2
    parts.append(text(16, middle, title, text_anchor="middle", transform=f"rotate(-90 16 {middle:.1f})",
                      class_="axis-title"))
    return "".join(parts)


# --- accuracy against latency ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Marker:
    point: Point
    size_mb: float | None
    x: float
    y: float
    radius: float


@dataclass(frozen=True)
class _Box:
    left: float
    top: float
    right: float
    bottom: float

    def overlaps(self, other: _Box) -> bool:
        return not (self.right <= other.left or other.right <= self.left
                    or self.bottom <= other.top or other.bottom <= self.top)


def _label_box(marker: _Marker, label: str, side: str) -> _Box:
    width, gap = text_width(label), marker.radius + 5
    if side == "right":
        return _Box(marker.x + gap, marker.y - 8, marker.x + gap + width, marker.y + 6)
    if side == "left":
        return _Box(marker.x - gap - width, marker.y - 8, marker.x - gap, marker.y + 6)
    if side == "above-right":
        return _Box(marker.x + 2, marker.y - marker.radius - 16, marker.x + 2 + width, marker.y - marker.radius - 2)
    if side == "below-right":
        return _Box(marker.x + 2, marker.y + marker.radius + 2, marker.x + 2 + width, marker.y + marker.radius + 16)
    if side == "above":
        return _Box(marker.x - width / 2, marker.y - gap - 13, marker.x + width / 2, marker.y - gap + 1)
    return _Box(marker.x - width / 2, marker.y + gap - 1, marker.x + width / 2, marker.y + gap + 13)


def _place_labels(markers: list[_Marker], labels: dict[str, str], frame: _Box,
                  obstacles: list[_Box]) -> dict[str, _Box]:
    """Greedy placement: each label takes the first side that stays inside the plot and clear of
    labels, markers and the front's line already there; points close together (fp32 and a pruned
    twin) stay legible."""
    taken = [_Box(m.x - m.radius, m.y - m.radius, m.x + m.radius, m.y + m.radius) for m in markers] + obstacles
    placed: dict[str, _Box] = {}
    for marker in sorted(markers, key=lambda m: (m.y, m.x)):
        own = _Box(marker.x - marker.radius, marker.y - marker.radius, marker.x + marker.radius, marker.y + marker.radius)
        label = labels[marker.point.name]
        candidates = [_label_box(marker, label, side) for side in ("right", "left", "above-right", "below-right", "above", "below")]
        inside = [box for box in candidates if box.left >= frame.left and box.right <= frame.right
                  and box.top >= frame.top and box.bottom <= frame.bottom] or candidates
        clear = [box for box in inside if not any(box.overlaps(other) for other in taken if other != own)]
        box = (clear or inside)[0]
        placed[marker.point.name] = box
        taken.append(box)
    return placed


def _markers(report: Report, points: list[Point], x: Scale, y: Scale) -> list[_Marker]:
    """Marker area proportional to model size, so a 4x smaller file looks 4x smaller, not 16x."""
    sizes = {point.name: _value(report.variant(point.name), "size_mb") for point in points}
    largest = max((size for size in sizes.values() if size), default=None)
    markers = []
    for point in points:
        size = sizes[point.name]
        radius = MAX_RADIUS * math.sqrt(size / largest) if size and largest else 6.0
        markers.append(_Marker(point, size, x(point.latency_ms), y(point.accuracy), max(MIN_RADIUS, radius)))
    return markers


def _plottable_points(report: Report) -> list[Point]:
    points = []
    for variant in report.variants:
        latency, accuracy = _value(variant, "model_p50_ms"), _value(variant, "accuracy")
        if variant.status == "ok" and latency is not None and accuracy is not None and latency > 0:
            points.append(Point(variant.name, latency, accuracy))
    return points


def _reference_line(report: Report, markers: list[_Marker], x: Scale, y: Scale) -> tuple[str, _Box | None]:
    """A dotted line at the reference's accuracy, so a drop reads as a distance; its label goes to
    whichever end (or the middle) no marker covers, and is then an obstacle for the point labels."""
    accuracy = _value(report.variant(report.reference), "accuracy")
    if accuracy is None or not y.contains(accuracy):
        return "", None
    level, label = y(accuracy), f"reference ({report.reference}) accuracy"
    line = element("line", x1=x.start, x2=x.end, y1=level, y2=level, stroke=AXIS_COLOUR, stroke_dasharray="2 3")
    width = text_width(label) * 0.92  # 11 px text
    circles = [_Box(m.x - m.radius, m.y - m.radius, m.x + m.radius, m.y + m.radius) for m in markers]
    candidates = [x.start + 6, x.end - 4 - width, (x.start + x.end - width) / 2]
    boxes = [_Box(start, level - 15, start + width, level - 2) for start in candidates]
    box = next((box for box in boxes if not any(box.overlaps(circle) for circle in circles)), boxes[0])
    return line + text(box.left, level - 4, label, fill=MUTED, class_="small point-label"), box


def _front_segments(front: list[Point], x: Scale, y: Scale) -> list[_Box]:
    """The staircase's segments as thin boxes, so no label is written across the front."""
    boxes = []
    for here, there in pairwise(front):
        x0, x1, y0, y1 = x(here.latency_ms), x(there.latency_ms), y(here.accuracy), y(there.accuracy)
        boxes += [_Box(x0, y0 - 1, x1, y0 + 1), _Box(x1 - 1, min(y0, y1), x1 + 1, max(y0, y1))]
    return boxes


def _front_path(front: list[Point], x: Scale, y: Scale) -> str:
    """The front as a staircase: everything below and right of it is dominated."""
    if len(front) < 2:
        return ""
    commands = [f"M{x(front[0].latency_ms):.1f},{y(front[0].accuracy):.1f}"]
    for point in front[1:]:
        commands.append(f"H{x(point.latency_ms):.1f}V{y(point.accuracy):.1f}")
    return element("path", d="".join(commands), fill="none", stroke="#24292F", stroke_width=1.5,
                   stroke_dasharray="5 4", stroke_opacity=0.7)


def _accuracy_domain(accuracies: list[float]) -> tuple[float, float]:
    """Room around the points, at least one point of accuracy (a 0.1-point spread must not fill the
    plot as if it were 10 points), and no axis running past 100 % when no variant is there."""
    lowest, best = min(accuracies), max(accuracies)
    pad = max((best - lowest) * 0.2, 0.5)
    high = best + pad
    if high > 100.0 >= best:
        high = max(100.0, best + 0.25)
    return lowest - pad, high


def _scatter_legend(left: float) -> list[str]:
    """One line above the plot, items placed one after the other by their (estimated) text widths."""
    width = 6.6  # px per character of the 11 px legend text, generous: fonts differ between machines
    labels = ["Pareto front", "on the front", "dominated"]
    glyphs = [
        lambda x: element("path", d=f"M{x - 26:.1f} 18 h26", stroke="#24292F", stroke_width=1.5,
                          stroke_dasharray="5 4"),
        lambda x: element("circle", cx=x - 7, cy=18, r=6, fill=PALETTE[0], fill_opacity=0.85, stroke="#1F2328"),
        lambda x: element("circle", cx=x - 7, cy=18, r=6, fill=PALETTE[0], fill_opacity=0.22, stroke=PALETTE[0]),
    ]
    items, x = [], left + 30
    for label, glyph in zip(labels, glyphs):
        items += [glyph(x - 4), text(x, 22, label, class_="small")]
        x += len(label) * width + 40
    items.append(text(x - 22, 22, "· marker area ∝ model size", class_="small", fill=MUTED))
    return items


def accuracy_latency_plot(report: Report) -> str:
    ident, label = "plot-accuracy-latency", "Accuracy against model latency"
    points = _plottable_points(report)
    if not points:
        return _empty(ident, label, "No variant has both an accuracy and a model latency.")
    width, height, left, right, top, bottom = 760, 430, 70, 744, 46, 372
    x = Scale(*padded(min(p.latency_ms for p in points), max(p.latency_ms for p in points), log=True, fraction=0.15),
              left, right, log=True)
    low, high = _accuracy_domain([p.accuracy for p in points])
    y = Scale(low, high, bottom, top)
    markers = _markers(report, points, x, y)
    front = pareto_front(points)
    on_front = {point.name for point in front}
    colours = variant_colours(report)
    recommended = report.recommendation.variant
    host = host_name(report.measurement)

    parts = [
        _x_axis(x, bottom, top, f"model p50 latency, ms (log scale; measured on {host}, batch 1)", right - left),
        _y_axis(y, left, right, "accuracy, % (held-out set)"),
    ]
    obstacles = _front_segments(front, x, y)
    reference_line, reference_box = _reference_line(report, markers, x, y)
    parts.append(reference_line)
    obstacles += [reference_box] if reference_box else []
    parts.append(_front_path(front, x, y))
    for marker in sorted(markers, key=lambda m: -m.radius):  # small markers on top of large ones
        name = marker.point.name
        size = format_value(marker.size_mb, "MB")
        hover = (f"{name}: p50 {format_value(marker.point.latency_ms, 'ms')}, accuracy "
                 f"{format_value(marker.point.accuracy, '%')}, size {size}"
                 f"{', on the Pareto front' if name in on_front else ', dominated'}")
        circle = element("circle", cx=marker.x, cy=marker.y, r=marker.radius, fill=colours[name],
                         fill_opacity=0.85 if name in on_front else 0.22, stroke=colours[name] if name not in on_front
                         else "#1F2328", stroke_width=1.5)
        parts.append(element("g", tooltip(hover) + circle, class_="point"))
    labels = {m.point.name: m.point.name + (" ✓ recommended" if m.point.name == recommended else "") for m in markers}
    boxes = _place_labels(markers, labels, _Box(left + 2, top, right, bottom), obstacles)
    for name, box in boxes.items():
        weight = "bold" if name in on_front else None
        parts.append(text(box.left, box.bottom - 3, labels[name], font_weight=weight, class_="point-label"))
    legend = _scatter_legend(left)
    return svg(width, height, "".join(legend + parts), ident=ident, label=label)


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
    shown = [f"{key} {format_value(_number(latency.get(key)), 'ms')}" for key in ("p50", "p99", "max")]
    return " · ".join(shown)


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


def _deadline_line(x: Scale, value: float, label: str, colour: str, top: float, bottom: float, dashed: bool,
                   side: str = "right") -> str:
    """A vertical line at a limit, labelled beside it (two limits close on a log axis, 50 and 100 ms,
    label outwards: the lower to its left, the higher to its right)."""
    position = x(value)
    label_x, anchor = (position + 4, "start") if side == "right" else (position - 4, "end")
    return element("line", x1=position, x2=position, y1=top - 14, y2=bottom, stroke=colour, stroke_width=1.5,
                   stroke_dasharray="6 4" if dashed else None) + text(
        label_x, top - 6, label, text_anchor=anchor, fill=colour, class_="small strong")


def latency_distribution_plot(report: Report) -> str:
    ident, label = "plot-latency-distribution", "Real-time latency distribution per variant"
    rows = _distribution_rows(report)
    if not rows:
        return _empty(ident, label, "No variant has real-time latencies to plot.", width=1000)
    row_height, top, label_width, stats_width, width = 34, 62, 180, 290, 1000
    bottom = top + row_height * len(rows)
    height = bottom + 52
    target_ms, limit_ms = rows[0][1].target_ms, rows[0][1].limit_ms
    low = min(min(min(_positive(stats.latency_curve_ms)) for _, stats in rows), target_ms, limit_ms)
    high = max(max(max(stats.latency_curve_ms) for _, stats in rows), limit_ms, target_ms)
    x = Scale(*padded(low, high, log=True, fraction=0.04), label_width, width - stats_width, log=True)
    colours = variant_colours(report)
    parts = [
        text(8, 18, "box p25–p75 · band p10–p90 · whisker min–max · white tick p50, over the completed requests; "
             "latency from the scheduled arrival; figures on the right: nearest rank", class_="small", fill=MUTED),
        _x_axis(x, bottom, top, "latency, ms (log scale)", width),
        _deadline_line(x, target_ms, f"{format_setting(target_ms, 'ms')} target", TARGET_COLOUR, top, bottom, True,
                       side="left" if target_ms < limit_ms else "right"),
        _deadline_line(x, limit_ms, f"{format_setting(limit_ms, 'ms')} limit", LIMIT_COLOUR, top, bottom, False,
                       side="right" if target_ms < limit_ms else "left"),
    ]
    for index, (variant, stats) in enumerate(rows):
        middle = top + row_height * (index + 0.5)
        curve, colour = _positive(stats.latency_curve_ms), colours[variant.name]
        p10, p25, p50, p75, p90 = (x(_at(curve, p)) for p in (10, 25, 50, 75, 90))
        minimum, maximum = x(curve[0]), x(curve[-1])
        hover = (f"{variant.name}: min {format_value(curve[0], 'ms')}, p25 {format_value(_at(curve, 25), 'ms')}, "
                 f"p50 {format_value(_at(curve, 50), 'ms')}, p75 {format_value(_at(curve, 75), 'ms')}, "
                 f"max {format_value(curve[-1], 'ms')}")
        glyph = "".join([
            element("line", x1=minimum, x2=maximum, y1=middle, y2=middle, stroke=colour, stroke_width=1.5),
            element("line", x1=minimum, x2=minimum, y1=middle - 5, y2=middle + 5, stroke=colour, stroke_width=1.5),
            element("line", x1=maximum, x2=maximum, y1=middle - 5, y2=middle + 5, stroke=colour, stroke_width=1.5),
            element("rect", x=p10, y=middle - 5, width=max(p90 - p10, 1.0), height=10, fill=colour, fill_opacity=0.35),
            element("rect", x=p25, y=middle - 9, width=max(p75 - p25, 1.0), height=18, fill=colour, fill_opacity=0.9,
                    stroke="#1F2328", stroke_width=0.75),
            element("line", x1=p50, x2=p50, y1=middle - 11, y2=middle + 11, stroke="#FFFFFF", stroke_width=2.5),
            element("line", x1=p50, x2=p50, y1=middle - 11, y2=middle + 11, stroke="#1F2328", stroke_width=0.75,
                    stroke_opacity=0.5),
        ])
        if index % 2:
            parts.insert(0, element("rect", x=0, y=top + row_height * index, width=width, height=row_height,
                                    fill="#F6F8FA"))
        parts.append(element("g", tooltip(hover) + glyph, class_="distribution"))
        parts.append(element("g", tooltip(variant.name) + text(label_width - 12, middle + 4,
                                                                 shorten(variant.name, 24), text_anchor="end"),
                             class_="row-label"))
        stats_line = _stats_text(stats)
        parts.append(text(width - stats_width + 12, middle + 4, stats_line, class_="small"))
        if stats.dropped:
            parts.append(text(width - 8, middle + 4, f"{stats.dropped} dropped", text_anchor="end",
                              fill=LIMIT_COLOUR, class_="small strong"))
    return svg(width, height, "".join(parts), ident=ident, label=label)


# --- size bars ------------------------------------------------------------------------------------


def _size_budget_mb(report: Report) -> float | None:
    budgets = report.target.get("budgets") or {}
    value = budgets.get("model_size_mb") if isinstance(budgets, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def size_plot(report: Report) -> str:
    ident, label = "plot-size", "Model size per variant"
    rows = [(variant, _value(variant, "size_mb")) for variant in report.variants]
    rows = [(variant, size) for variant, size in rows if size is not None and size >= 0]
    if not rows:
        return _empty(ident, label, "No variant has a model size.", width=420)
    unit = unit_label(rows[0][0].figures["size_mb"].unit)
    row_height, top, label_width, value_width, width = 30, 20, 132, 118, 420
    bottom = top + row_height * len(rows)
    largest = max(size for _, size in rows) or 1.0
    budget = _size_budget_mb(report)
    budget_on_scale = budget is not None and budget <= largest * 3
    high = max(largest, budget if budget_on_scale and budget else 0.0) * 1.05
    x = Scale(0.0, high, label_width, width - value_width)
    colours = variant_colours(report)
    parts = [_x_axis(x, bottom, top, f"model file size, {unit}", width)]
    for index, (variant, size) in enumerate(rows):
        middle = top + row_height * (index + 0.5)
        ratio = _value(variant, "size_ratio")
        value_text = format_value(size, "MB") + (f" · {format_value(ratio, 'x')}" if ratio is not None else "")
        bar = element("rect", x=x(0.0), y=middle - 9, width=max(x(size) - x(0.0), 1.0), height=18,
                      fill=colours[variant.name], rx=2)
        parts.append(element("g", tooltip(f"{variant.name}: {value_text}") + bar, class_="bar"))
        parts.append(text(x(size) + 6, middle + 4, value_text, class_="small"))
        parts.append(element("g", tooltip(variant.name) + text(label_width - 10, middle + 4,
                                                                 shorten(variant.name, 18), text_anchor="end"),
                             class_="row-label"))
    if budget is not None and budget_on_scale:
        parts.append(_deadline_line(x, budget, f"budget {format_setting(budget, 'MB')}", LIMIT_COLOUR, top + 14,
                                    bottom, False, side="left"))
    elif budget is not None:
        share = format_value(100 * largest / budget, "%")
        parts.append(text(8, bottom + 54, f"Budget {format_setting(budget, 'MB')} is off-scale: the largest "
                          f"variant is {share} of it.", class_="small", fill=MUTED))
    height = bottom + (62 if budget is not None and not budget_on_scale else 46)
    return svg(width, height, "".join(parts), ident=ident, label=label)


def all_plots(report: Report) -> list[tuple[str, str, str]]:
    """(plot id, caption, svg) in reading order."""
    return [
        ("accuracy-latency", ("Accuracy against model latency (batch 1, model alone). Up and left is better. "
         "The dashed staircase is the Pareto front; a faded (dominated) variant has another that is as fast or "
         "faster and as accurate or more. Marker area is proportional to model size."),
         accuracy_latency_plot(report)),
        ("size", "Model size (counted from the files) and the ratio to the reference.", size_plot(report)),
        ("latency-distribution", ("Real-time scenario: latency per request through the whole meta pipeline, "
         "against the target and the hard limit (log scale, so both the milliseconds of the model and the "
         "deadlines stay readable)."), latency_distribution_plot(report)),
    ]

