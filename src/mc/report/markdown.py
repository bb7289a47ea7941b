"""`report.md`: the run as GitHub-flavoured Markdown, readable raw in a terminal and rendered in a
pull request or `$GITHUB_STEP_SUMMARY`. A pure function of the report: no file, clock or host is read.
"""

from __future__ import annotations

import re

from mc.report.content import (
    Cell,
    Table,
    all_tables,
    measurement_note,
    recommendation_line,
    recommendation_rule,
    run_facts,
    title,
    versions_line,
)
from mc.report.schema import Report

# A verdict must survive being read without colour (a terminal, a screen reader, a diff).
_TONE_MARKS = {"pass": "✅ ", "fail": "❌ ", "unjudged": "⚠️ "}

# Characters that would start markup, an HTML tag or an entity, or end a table cell. Variant names
# and error messages come from users and tracebacks, so `<script>` must stay text.
_ALWAYS_ESCAPED = re.compile(r"([\\`*\[\]<>|&~#!])")
# An underscore only starts emphasis at a word boundary (GFM): `int8_static` stays readable raw.
_BOUNDARY_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def escape(text: str) -> str:
    """Plain text as Markdown that renders as exactly that text, on one line."""
    flat = re.sub(r"\s+", " ", text).strip()
    return _BOUNDARY_UNDERSCORE.sub(r"\\_", _ALWAYS_ESCAPED.sub(r"\\\1", flat))


def cell(content: Cell) -> str:
    return _TONE_MARKS.get(content.tone or "", "") + escape(content.text)


def table(content: Table) -> str:
    align = ["---:" if index in content.numeric_columns else "---" for index in range(len(content.headers))]
    lines = [
        f"## {escape(content.title)}",
        "",
        "| " + " | ".join(escape(header) for header in content.headers) + " |",
        "|" + "|".join(align) + "|",
    ]
    lines += ["| " + " | ".join(cell(item) for item in row) + " |" for row in content.rows]
    for note in content.notes:
        lines += ["", f"_{escape(note)}_"]
    return "\n".join(lines)


def _rule(report: Report) -> str:
    rule = recommendation_rule(report)
    return f"\n>\n> _Rule:_ {escape(rule)}" if rule else ""


def render_markdown(report: Report) -> str:
    facts = " · ".join(f"{name} **{escape(value)}**" for name, value in run_facts(report))
    parts = [
        f"# {escape(title(report))}",
        facts,
        f"> **Recommendation:** {escape(recommendation_line(report))}" + _rule(report),
        f"**How to read the figures.** {escape(measurement_note(report))}",
    ]
    parts += [table(content) for content in all_tables(report)]
    versions = versions_line(report)
    footer = f"Schema {escape(report.schema_)}" + (f" · versions: {escape(versions)}" if versions else "")
    parts += ["---", f"_{footer}_"]
    return "\n\n".join(parts) + "\n"
