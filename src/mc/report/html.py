"""`report.html`: one self-contained page (inline CSS, inline SVG, no script, no URL), so it can be
mailed, attached to a CI run or opened from a laptop with no network, and show the same thing.
A pure function of the report, like the Markdown; every string from the report is escaped.
"""

from __future__ import annotations

import html

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
from mc.report.plots import all_plots
from mc.report.schema import Report



def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


_STYLE = """
:root { --fg: #1f2328; --muted: #59636e; --border: #d1d9e0; --soft: #f6f8fa;
        --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9;
        --warn: #9a6700; --warn-bg: #fff8c5; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--border); }
.facts { display: flex; flex-wrap: wrap; gap: 2px 22px; color: var(--muted); margin: 0 0 16px; padding: 0; }
.facts li { list-style: none; } .facts b { color: var(--fg); font-weight: 600; }
.recommendation { font-size: 17px; padding: 12px 16px; border-radius: 6px; margin: 0 0 14px;
                  border-left: 5px solid var(--pass); background: var(--pass-bg); }
.recommendation.none { border-left-color: var(--warn); background: var(--warn-bg); }
.method { color: var(--muted); margin: 0 0 8px; max-width: 110ch; }
.plots { display: grid; grid-template-columns: minmax(0, 760fr) minmax(0, 420fr); gap: 16px; margin-top: 18px;
         align-items: start; }
.plots figure.wide { grid-column: 1 / -1; }
figure { margin: 0; border: 1px solid var(--border); border-radius: 8px; padding: 12px 14px; background: #fff; }
figcaption { color: var(--muted); font-size: 13px; margin-bottom: 6px; }
svg.plot { width: 100%; height: auto; display: block; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--border); text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
tbody tr:hover { background: #f3f6fa; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
td .part + .part { display: block; color: var(--muted); font-size: 12px; }
.muted { color: var(--muted); }
.est { font-style: italic; }
.verdict { display: inline-block; padding: 0 7px; border-radius: 10px; font-weight: 600; white-space: nowrap; }
td:first-child .verdict { white-space: normal; border-radius: 6px; }
.verdict.pass { color: var(--pass); background: var(--pass-bg); }
.verdict.fail { color: var(--fail); background: var(--fail-bg); }
.verdict.unjudged { color: var(--warn); background: var(--warn-bg); }
.note { color: var(--muted); font-size: 12.5px; margin: 6px 0 0; max-width: 120ch; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
@media (max-width: 900px) { .plots { grid-template-columns: 1fr; } }
"""


def _cell_body(cell: Cell) -> str:
    """Combined figures ("1.41 ms p50 · 709 inf/s · 1.53× vs ref") become stacked lines: the lead
    figure first, the rest smaller, so wide tables stay narrow enough to read without scrolling."""
    parts = cell.text.split(" · ") if cell.numeric or cell.tone is None else [cell.text]
    body = "".join(f'<span class="part">{esc(part)}</span>' for part in parts)
    if cell.tone in ("pass", "fail", "unjudged"):
        return f'<span class="verdict {cell.tone}">{body}</span>'
    return body


def _cell(cell: Cell) -> str:
    classes = [name for name, on in (("num", cell.numeric), ("est", cell.estimated), ("muted", cell.tone == "muted"))
               if on]
    class_attr = f' class="{" ".join(classes)}"' if classes else ""
    title_attr = f' title="{esc(cell.hint)}"' if cell.hint else ""
    return f"<td{class_attr}{title_attr}>{_cell_body(cell)}</td>"


def _table(table: Table) -> str:
    numeric = ' class="num"'
    headers = "".join(
        f'<th{numeric if index in table.numeric_columns else ""} scope="col">{esc(header)}</th>'
        for index, header in enumerate(table.headers)
    )
    rows = "".join("<tr>" + "".join(_cell(cell) for cell in row) + "</tr>" for row in table.rows)
    notes = "".join(f'<p class="note">{esc(note)}</p>' for note in table.notes)
    body = f"<tbody>{rows}</tbody>" if rows else ""
    return (f'<section id="{esc(table.key)}"><h2>{esc(table.title)}</h2><div class="table-wrap">'
            f"<table><thead><tr>{headers}</tr></thead>{body}</table></div>{notes}</section>")


def _header(report: Report) -> str:
    facts = "".join(f"<li>{esc(name)} <b>{esc(value)}</b></li>" for name, value in run_facts(report))
    none = "" if report.recommendation.variant else " none"
    rule = recommendation_rule(report)
    rule_html = f'<p class="method"><b>Rule.</b> {esc(rule)}</p>' if rule else ""
    return (f"<header><h1>{esc(title(report))}</h1><ul class=\"facts\">{facts}</ul>"
            f'<p class="recommendation{none}"><b>Recommendation.</b> {esc(recommendation_line(report))}</p>{rule_html}'
            f'<p class="method"><b>How to read the figures.</b> {esc(measurement_note(report))}</p></header>')


def _plots(report: Report) -> str:
    figures = []
    for key, caption, drawing in all_plots(report):
        wide = ' class="wide"' if key == "latency-distribution" else ""
        figures.append(f'<figure id="figure-{esc(key)}"{wide}><figcaption>{esc(caption)}</figcaption>{drawing}</figure>')
    return f'<section class="plots">{"".join(figures)}</section>'


def render_html(report: Report) -> str:
    versions = versions_line(report)
    footer = f"Schema {esc(report.schema_)}" + (f" · versions: {esc(versions)}" if versions else "")
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title(report))}</title><style>{_STYLE}</style></head>"
        f"<body><main>{_header(report)}{_plots(report)}"
        + "".join(_table(table) for table in all_tables(report))
        + f"<footer>{footer}</footer></main></body></html>\n"
    )
