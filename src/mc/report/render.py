"""Writing a report's renderings beside its JSON: both are pure functions of the Report."""

from __future__ import annotations

from pathlib import Path

from mc.atomic import atomic_path
from mc.report.schema import Report


def write_renderings(report: Report, directory: Path) -> list[Path]:
    from mc.report.html import render_html
    from mc.report.markdown import render_markdown

    written = []
    for name, text in (("report.md", render_markdown(report)), ("report.html", render_html(report))):
        with atomic_path(directory / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
        written.append(directory / name)
    return written
