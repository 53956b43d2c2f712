"""The page's building blocks: number formats, tables and inline SVG charts (horizontal and stacked bars)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

COLORS = ("#2f6db5", "#e08a2c", "#3a9a5b", "#b54a4a", "#7a5bb5", "#8a8a8a")
NPS_COLORS = {"Promoter": "#3a9a5b", "Passive": "#d9b44a", "Detractor": "#b54a4a"}

CSS = """
:root { --ink: #1d2430; --muted: #5d6675; --line: #dde2ea; --soft: #f4f6f9; --accent: #2f6db5; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1180px; padding: 24px 28px 60px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-top: 12px; border-top: 2px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
p, li { max-width: 900px; }
.meta, .note { color: var(--muted); }
nav { margin: 10px 0 0; font-size: 13px; }
nav a { color: var(--accent); margin-right: 14px; text-decoration: none; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 8px 28px; }
.card { break-inside: avoid; page-break-inside: avoid; }
.verdict-bad { color: #9b2c2c; font-weight: 600; }
.verdict-good { color: #276738; font-weight: 600; }
pre { background: var(--soft); padding: 12px; overflow-x: auto; font-size: 12px; border: 1px solid var(--line); }
code { font-size: 12px; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; fill: var(--ink); }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.summary { border: 1px solid var(--line); background: #fbfcfd; padding: 4px 18px 12px; border-radius: 6px; }
.summary h2 { border-top: none; margin-top: 10px; }
.summary ul { margin: 4px 0; padding-left: 20px; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 0 28px; }
table.matrix td { text-align: center; font-size: 12px; white-space: nowrap; }
td.yes { background: #e3f2e7; } td.no { background: #f3f3f3; color: var(--muted); }
tr.total td { font-weight: 600; border-top: 2px solid var(--line); }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  nav { display: none; }
  h2 { page-break-before: auto; break-after: avoid; }
  table, svg, .card { break-inside: avoid; page-break-inside: avoid; }
}
"""


def esc(value: Any) -> str:
    """HTML-escaped text; None is empty."""
    return html.escape("" if value is None else str(value))


def count(value: Any) -> str:
    """A count with thousands separators; None is "—"."""
    return "—" if value is None else f"{value:,.0f}"


def money(value: Any) -> str:
    """An amount, short: 1.2M, 340k, 95."""
    if value is None:
        return "—"
    amount = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(amount) >= limit:
            return f"{amount / limit:,.1f}{suffix}"
    return f"{amount:,.0f}"


def pct(value: Any) -> str:
    """A share or rate as a percentage (NRR 1.31 is 131.0%)."""
    return "—" if value is None else f"{100 * float(value):.1f}%"


def num(value: Any, digits: int = 2) -> str:
    """A plain number with `digits` decimals (tiny ones in scientific notation); None is "—"."""
    if value is None:
        return "—"
    number = float(value)
    if number != 0 and abs(number) < 10 ** -digits:
        return f"{number:.1e}"
    return f"{number:,.{digits}f}"


def p_value(value: Any) -> str:
    """A p-value: three decimals, or "< 0.001"."""
    if value is None:
        return "—"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    """An HTML table; `numeric` columns are right-aligned. Cells are HTML already."""
    numeric = numeric or [False] * len(headers)
    head = "".join(f'<th class="n">{esc(h)}</th>' if n else f"<th>{esc(h)}</th>"
                   for h, n in zip(headers, numeric, strict=True))
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if n else f"<td>{c}</td>"
                         for c, n in zip(row, numeric, strict=True)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def text_width(text: str) -> float:
    """A generous estimate of the rendered width of 12px text, so labels get the room they need."""
    return 7.2 * len(text) + 6


def _label_text(label: str, room: float) -> str:
    """The label, shortened with an ellipsis only when it exceeds `room` pixels (the full text is a tooltip)."""
    fits = max(int((room - 6) / 7.2), 4)
    return label if len(label) <= fits else label[: fits - 1] + "…"


def bar_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
              fmt: Callable[[Any], str], *, title: str = "", width: int = 520) -> str:
    """Horizontal grouped bars as inline SVG: one group per label, one bar per series.

    The label column and the value column are as wide as their longest text (labels past
    a third of the chart are shortened, with the full text as a tooltip), so nothing is clipped.
    """
    label_width = min(max((text_width(v) for v in labels), default=40) + 6, width / 3)
    texts = [fmt(v) for _, values in series for v in values]
    value_width = max((text_width(t) for t in texts), default=30) + 6
    bar_height, gap = 14, 8
    group_height = bar_height * len(series) + gap
    top = 22 if title else 4
    legend = 18 if len(series) > 1 else 0
    height = top + legend + group_height * len(labels) + 4
    peak = max((abs(v) for _, values in series for v in values if v is not None), default=0.0) or 1.0
    plot = max(width - label_width - value_width, 40)
    parts = [f'<svg width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">']
    if title:
        parts.append(f'<text x="0" y="14" font-weight="600">{esc(title)}</text>')
    if legend:
        x = label_width
        for i, (name, _) in enumerate(series):
            parts.append(f'<rect x="{x:.0f}" y="{top}" width="10" height="10" fill="{COLORS[i % len(COLORS)]}"/>'
                         f'<text x="{x + 14:.0f}" y="{top + 9}">{esc(name)}</text>')
            x += 24 + text_width(name)
    y = top + legend
    for row, label in enumerate(labels):
        parts.append(f'<text x="{label_width - 6:.0f}" y="{y + group_height / 2}" text-anchor="end" '
                     f'dominant-baseline="middle"><title>{esc(label)}</title>'
                     f'{esc(_label_text(label, label_width))}</text>')
        for i, (_, values) in enumerate(series):
            value = values[row]
            length = 0.0 if value is None else max(abs(value) / peak * plot, 0.5 if value else 0.0)
            by = y + i * bar_height
            parts.append(f'<rect x="{label_width:.0f}" y="{by}" width="{length:.1f}" height="{bar_height - 2}" '
                         f'fill="{COLORS[i % len(COLORS)]}"/>')
            parts.append(f'<text x="{label_width + length + 4:.1f}" y="{by + bar_height / 2}" '
                         f'dominant-baseline="middle">{esc(fmt(value))}</text>')
        y += group_height
    parts.append("</svg>")
    return "".join(parts)


def stacked_chart(labels: Sequence[str], categories: Sequence[str], shares: Sequence[dict[str, float]],
                  *, title: str = "", width: int = 520) -> str:
    """100% stacked horizontal bars as inline SVG (e.g. the NPS mix per segment)."""
    label_width = min(max((text_width(v) for v in labels), default=40) + 6, width / 3)
    bar_height, gap = 16, 6
    top = 22 if title else 4
    legend = 18
    height = top + legend + (bar_height + gap) * len(labels) + 4
    plot = width - label_width - 10
    colors = {c: NPS_COLORS.get(c, COLORS[(i + 4) % len(COLORS)]) for i, c in enumerate(categories)}
    parts = [f'<svg width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">']
    if title:
        parts.append(f'<text x="0" y="14" font-weight="600">{esc(title)}</text>')
    x = float(label_width)
    for category in categories:
        parts.append(f'<rect x="{x}" y="{top}" width="10" height="10" fill="{colors[category]}"/>'
                     f'<text x="{x + 14}" y="{top + 9}">{esc(category)}</text>')
        x += 20 + text_width(category)
    y = top + legend
    for label, mix in zip(labels, shares, strict=True):
        parts.append(f'<text x="{label_width - 6:.0f}" y="{y + bar_height / 2}" text-anchor="end" '
                     f'dominant-baseline="middle"><title>{esc(label)}</title>'
                     f'{esc(_label_text(label, label_width))}</text>')
        x = float(label_width)
        for category in categories:
            share = mix.get(category, 0.0)
            if share <= 0:
                continue
            length = share * plot
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="{bar_height}" '
                         f'fill="{colors[category]}"><title>{esc(category)} {pct(share)}</title></rect>')
            if length > 34:
                parts.append(f'<text x="{x + length / 2:.1f}" y="{y + bar_height / 2}" text-anchor="middle" '
                             f'dominant-baseline="middle" style="fill:#fff">{pct(share)}</text>')
            x += length
        y += bar_height + gap
    parts.append("</svg>")
    return "".join(parts)
