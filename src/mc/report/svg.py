"""Just enough SVG for the report's three plots: escaped elements, linear and log scales, and tick
positions a reader can read off ("1, 2, 5, 10 ms", not "1.37, 2.74").

Hand-written rather than matplotlib's SVG backend: the plots are a scatter, some bars and some
boxes; this way the report needs no plotting dependency, the output is small, its text stays
selectable text (not glyph paths), every string from the report is escaped here, and several plots
can sit in one page without their generated ids colliding.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#882255", "#44AA99", "#999933")
TARGET_COLOUR = "#B07D00"
LIMIT_COLOUR = "#C62828"
GRID_COLOUR = "#E4E7EB"
AXIS_COLOUR = "#57606A"
CHAR_WIDTH = 6.6  # px per character of 12 px system-ui text, for placing labels without a font engine


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _attributes(attributes: dict[str, object]) -> str:
    """Python-friendly keywords to SVG attributes: `class_` -> class, `stroke_width` -> stroke-width."""
    parts = []
    for key, value in attributes.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        if isinstance(value, float):
            value = f"{value:.2f}".rstrip("0").rstrip(".")
        parts.append(f'{name}="{esc(value)}"')
    return (" " + " ".join(parts)) if parts else ""


def element(tag: str, content: str = "", **attributes: object) -> str:
    """An element whose `content` is already markup; attribute values are escaped here."""
    if not content:
        return f"<{tag}{_attributes(attributes)}/>"
    return f"<{tag}{_attributes(attributes)}>{content}</{tag}>"


def text(x: float, y: float, value: str, **attributes: object) -> str:
    """A text element; `value` is plain text (a variant name, an error) and is escaped."""
    return element("text", esc(value), x=float(x), y=float(y), **attributes)


def tooltip(value: str) -> str:
    """An SVG <title> child: the full text on hover where the label had to be shortened."""
    return f"<title>{esc(value)}</title>"


def shorten(value: str, characters: int) -> str:
    return value if len(value) <= characters else value[: characters - 1] + "…"


def text_width(value: str) -> float:
    return len(value) * CHAR_WIDTH


def svg(width: int, height: int, body: str, *, ident: str, label: str) -> str:
    """An inline <svg> (no xmlns needed inside HTML, so the page names no URL at all)."""
    return element(
        "svg",
        tooltip(label) + body,
        id=ident,
        class_="plot",
        viewBox=f"0 0 {width} {height}",
        width=width,
        height=height,
        role="img",
        aria_label=label,
    )


@dataclass(frozen=True)
class Scale:
    """Data `low..high` onto pixels `start..end` (end < start for a y axis growing upwards)."""

    low: float
    high: float
    start: float
    end: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.high > self.low:
            raise ValueError(f"empty scale domain {self.low}..{self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log scale needs a positive domain, got {self.low}")

    def _unit(self, value: float) -> float:
        if self.log:
            return (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (value - self.low) / (self.high - self.low)

    def __call__(self, value: float) -> float:
        return self.start + self._unit(value) * (self.end - self.start)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def ticks(self, count: int = 5) -> list[float]:
        return log_ticks(self.low, self.high) if self.log else linear_ticks(self.low, self.high, count)


def padded(low: float, high: float, log: bool, fraction: float = 0.08) -> tuple[float, float]:
    """A domain with room around the data, so no marker sits on an axis; one value gets a range."""
    if log:
        low, high = max(low, 1e-9), max(high, 1e-9)
        if high / low < 1.2:
            low, high = low / 1.1, high * 1.1
        factor = (high / low) ** fraction
        return low / factor, high * factor
    if high - low < 1e-9:
        span = abs(low) * 0.05 or 1.0
        return low - span, high + span
    span = (high - low) * fraction
    return low - span, high + span


def linear_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Multiples of 1, 2 or 5 x 10^k inside the domain, about `count` of them."""
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(multiple * power for multiple in (1, 2, 5, 10) if multiple * power >= raw)
    first = math.ceil(low / step - 1e-9)
    ticks = []
    index = first
    while index * step <= high + 1e-9 * step:
        ticks.append(round(index * step, 12))
        index += 1
    return ticks


def _decade_ticks(low: float, high: float, multiples: tuple[int, ...]) -> list[float]:
    return [
        multiple * 10.0**power
        for power in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        for multiple in multiples
        if low <= multiple * 10.0**power <= high
    ]


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 per decade; only the decades when that crowds the axis; every integer multiple when the
    domain spans too little of a decade; plain linear ticks when even that leaves fewer than three."""
    ticks = _decade_ticks(low, high, (1, 2, 5))
    if len(ticks) > 10:
        return _decade_ticks(low, high, (1,))
    if len(ticks) >= 3:
        return ticks
    ticks = _decade_ticks(low, high, tuple(range(1, 10)))
    return ticks if len(ticks) >= 3 else linear_ticks(low, high, 4)


def tick_label(value: float) -> str:
    return f"{value:,.6g}"
