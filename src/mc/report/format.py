"""How one figure reads in a report, for Markdown and HTML alike: its number, its unit, "n/a" when it
was not obtained, and an estimate mark when it is a roofline guess rather than a measurement.

One place for this so the two renderers can never disagree about what "1.53x" or "n/a" means, and so
a reader comparing the Markdown summary with the HTML page sees the same strings.
"""

from __future__ import annotations

import math
import re

from mc.report.schema import Figure

NA = "n/a"
ESTIMATE_MARK = "(est.)"

# How a schema unit reads after a number. "Hz" figures in this schema are all inference rates.
_UNIT_LABELS: dict[str, str] = {"x": "×", "Hz": "inf/s", "auroc": "AUROC", "count": "", "1": ""}


def significant(value: float, digits: int = 3) -> str:
    """`value` to `digits` significant digits without scientific notation: latencies and sizes span
    0.05 to 5000 here, and "2.15 ms" / "0.0623 ms" / "2,153 ms" all keep the precision that matters."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    rounded = round(value, decimals)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > magnitude:  # 9.996 -> 10.0: one digit fewer
        decimals = max(0, decimals - 1)
    return f"{rounded:,.{decimals}f}"


def signed(text: str, value: float) -> str:
    """A typographic minus (U+2212) for negatives: a leading hyphen is easy to miss in a table."""
    return "−" + text.lstrip("-") if value < 0 else text


def format_number(value: float | None, unit: str) -> str:
    """The number alone, with the precision its unit deserves; "n/a" for a figure not obtained."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    if unit == "count":
        return f"{round(value):,}"
    if unit == "%":
        # 99.96 % agreement must not read as a perfect 100.0 %.
        return signed(f"{value:.2f}" if 99.9 < value < 100 else f"{value:.1f}", value)
    if unit == "pt":
        return signed(f"{value:.2f}", value)
    if unit == "x":  # a 35x slowdown must not read as "0.03x" rounded to "0.0x"
        return f"{value:.2f}" if value >= 0.1 else significant(value, 2)
    if unit in ("auroc", "1"):
        return signed(f"{value:.3f}", value)
    if unit == "cosine":  # 0.9996 must not read as a perfect 1.000
        return f"{value:.4f}"
    return signed(significant(value), value)


def unit_label(unit: str) -> str:
    return _UNIT_LABELS.get(unit, unit)


def format_value(value: float | None, unit: str) -> str:
    """Number and unit as one string ("2.15 ms", "1.53×", "0.912 AUROC"); "n/a" carries no unit."""
    number = format_number(value, unit)
    if number == NA:
        return NA
    label = unit_label(unit)
    if not label:
        return number
    if unit == "x":
        return f"{number}{label}"
    if unit == "auroc":
        return f"{label} {number}"
    return f"{number} {label}"


def format_setting(value: float, unit: str) -> str:
    """A limit someone wrote in a recipe ("50 ms", "0.5 pt") as they wrote it: measured figures get a
    fixed precision, but "50.0 ms" for a target would suggest a precision nobody asked for."""
    label = unit_label(unit)
    number = f"{value:,g}"
    if not label:
        return number
    return f"{number}{label}" if unit == "x" else f"{number} {label}"


def is_estimated(figure: Figure | None) -> bool:
    return figure is not None and figure.method == "estimated"


def format_figure(figure: Figure | None) -> str:
    """A figure as a report shows it: value, unit and, for an estimate, the estimate mark, so an
    estimate can never pass for a measurement once copied out of its table."""
    if figure is None:
        return NA
    text = format_value(figure.value, figure.unit)
    if is_estimated(figure) and text != NA:
        return f"{text} {ESTIMATE_MARK}"
    return text


def format_drop(figure: Figure | None) -> str:
    """An accuracy drop (reference minus variant, in points); a negative drop is a gain and says so."""
    text = format_figure(figure)
    if figure is not None and figure.value is not None and figure.value < 0:
        return f"{text} (gain)"
    return text


def format_delta(value: float | None, reference: float | None, unit: str) -> str:
    """A change against the reference in the figure's own unit ("+0.004", "−0.210"), or "" if either
    side is missing: shown beside a figure whose change matters more than its level (AUROC)."""
    if value is None or reference is None:
        return ""
    delta = value - reference
    text = format_number(abs(delta), unit)
    if not any(digit in "123456789" for digit in text):  # "−0.000" would claim a direction it lacks
        return f"±{text}"
    return f"−{text}" if delta < 0 else f"+{text}"


def gate_relation(gate_name: str) -> str:
    """Recipe gates are named for their bound: `max_*` passes at or below the limit, `min_*` above."""
    if gate_name.startswith("min_"):
        return "≥"
    if gate_name.startswith("max_"):
        return "≤"
    return "vs"


def one_line(text: str | None, limit: int = 300) -> str:
    """Errors are one line by contract, but a traceback or a long message must not wreck a table."""
    collapsed = re.sub(r"\s+", " ", text or "").strip()
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1] + "…"
