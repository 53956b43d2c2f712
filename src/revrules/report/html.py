"""Render the report as one self-contained HTML page: inline CSS and SVG charts, no scripts, no network."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

COLORS = ("#2f6db5", "#e08a2c", "#3a9a5b", "#b54a4a", "#7a5bb5", "#8a8a8a")
NPS_COLORS = {"Promoter": "#3a9a5b", "Passive": "#d9b44a", "Detractor": "#b54a4a"}

_CSS = """
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
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  nav { display: none; }
  h2 { page-break-before: auto; break-after: avoid; }
  table, svg, .card { break-inside: avoid; page-break-inside: avoid; }
}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _int(value: Any) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _money(value: Any) -> str:
    if value is None:
        return "—"
    amount = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(amount) >= limit:
            return f"{amount / limit:,.1f}{suffix}"
    return f"{amount:,.0f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.1f}%"


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    number = float(value)
    if number != 0 and abs(number) < 10 ** -digits:
        return f"{number:.1e}"
    return f"{number:,.{digits}f}"


def _p(value: Any) -> str:
    if value is None:
        return "—"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] | None = None) -> str:
    numeric = numeric or [False] * len(headers)
    head = "".join(f'<th class="n">{_e(h)}</th>' if n else f"<th>{_e(h)}</th>"
                   for h, n in zip(headers, numeric, strict=True))
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if n else f"<td>{c}</td>"
                         for c, n in zip(row, numeric, strict=True)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
              fmt: Callable[[Any], str], *, title: str = "", width: int = 520) -> str:
    """Horizontal grouped bars as inline SVG: one group per label, one bar per series."""
    label_width, value_width, bar_height, gap = 150, 70, 14, 8
    group_height = bar_height * len(series) + gap
    top = 22 if title else 4
    legend = 18 if len(series) > 1 else 0
    height = top + legend + group_height * len(labels) + 4
    peak = max((abs(v) for _, values in series for v in values if v is not None), default=0.0) or 1.0
    plot = width - label_width - value_width
    parts = [f'<svg width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">']
    if title:
        parts.append(f'<text x="0" y="14" font-weight="600">{_e(title)}</text>')
    if legend:
        x = label_width
        for i, (name, _) in enumerate(series):
            parts.append(f'<rect x="{x}" y="{top}" width="10" height="10" fill="{COLORS[i % len(COLORS)]}"/>'
                         f'<text x="{x + 14}" y="{top + 9}">{_e(name)}</text>')
            x += 24 + 7 * len(name)
    y = top + legend
    for row, label in enumerate(labels):
        short = label if len(label) <= 22 else label[:21] + "…"
        parts.append(f'<text x="{label_width - 6}" y="{y + group_height / 2}" text-anchor="end" '
                     f'dominant-baseline="middle"><title>{_e(label)}</title>{_e(short)}</text>')
        for i, (_, values) in enumerate(series):
            value = values[row]
            length = 0.0 if value is None else max(abs(value) / peak * plot, 0.5 if value else 0.0)
            by = y + i * bar_height
            parts.append(f'<rect x="{label_width}" y="{by}" width="{length:.1f}" height="{bar_height - 2}" '
                         f'fill="{COLORS[i % len(COLORS)]}"/>')
            parts.append(f'<text x="{label_width + length + 4:.1f}" y="{by + bar_height / 2}" '
                         f'dominant-baseline="middle">{_e(fmt(value))}</text>')
        y += group_height
    parts.append("</svg>")
    return "".join(parts)


def stacked_chart(labels: Sequence[str], categories: Sequence[str], shares: Sequence[dict[str, float]],
                  *, title: str = "", width: int = 520) -> str:
    """100% stacked horizontal bars as inline SVG (e.g. the NPS mix per segment)."""
    label_width, bar_height, gap = 150, 16, 6
    top = 22 if title else 4
    legend = 18
    height = top + legend + (bar_height + gap) * len(labels) + 4
    plot = width - label_width - 10
    colors = {c: NPS_COLORS.get(c, COLORS[(i + 4) % len(COLORS)]) for i, c in enumerate(categories)}
    parts = [f'<svg width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">']
    if title:
        parts.append(f'<text x="0" y="14" font-weight="600">{_e(title)}</text>')
    x = float(label_width)
    for category in categories:
        parts.append(f'<rect x="{x}" y="{top}" width="10" height="10" fill="{colors[category]}"/>'
                     f'<text x="{x + 14}" y="{top + 9}">{_e(category)}</text>')
        x += 30 + 7 * len(category)
    y = top + legend
    for label, mix in zip(labels, shares, strict=True):
        parts.append(f'<text x="{label_width - 6}" y="{y + bar_height / 2}" text-anchor="end" '
                     f'dominant-baseline="middle">{_e(label)}</text>')
        x = float(label_width)
        for category in categories:
            share = mix.get(category, 0.0)
            if share <= 0:
                continue
            length = share * plot
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="{bar_height}" '
                         f'fill="{colors[category]}"><title>{_e(category)} {_pct(share)}</title></rect>')
            if length > 34:
                parts.append(f'<text x="{x + length / 2:.1f}" y="{y + bar_height / 2}" text-anchor="middle" '
                             f'dominant-baseline="middle" style="fill:#fff">{_pct(share)}</text>')
            x += length
        y += bar_height + gap
    parts.append("</svg>")
    return "".join(parts)


# -- sections ------------------------------------------------------------------------


def render_html(report: dict[str, Any]) -> str:
    """The whole page."""
    meta = report["meta"]
    sections = [
        ("segments", "Segments", _segments(report)),
        ("kpis", "Segment KPIs", _kpis(report)),
        ("tests", "Are the segments real?", _tests(report)),
        ("value", "Value: the LTV quintile profile", _value(report)),
    ]
    if report.get("icp") is not None:
        sections.append(("icp", "Data-driven ICP", _icp(report["icp"])))
    sections += [
        ("coverage", "Rule coverage", _coverage(report["coverage"])),
        ("change", "Change since the previous run", _change(report["change"])),
    ]
    nav = "".join(f'<a href="#{key}">{_e(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{_e(title)}</h2>{content}</section>' for key, title, content in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>revrules segmentation report</title><style>{_CSS}</style></head><body>"
        f"<h1>Segmentation report</h1>"
        f'<p class="meta">{_int(meta["records"])} records from {_e(meta["source"] or meta["config"])} · '
        f'rulebook {_e(meta["rulebook_hash"])} · generated {_e(meta["created_at"][:19].replace("T", " "))} UTC</p>'
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )


def _segments(report: dict[str, Any]) -> str:
    blocks = []
    for item in report["segments"]:
        labels = [v["value"] for v in item["values"]]
        series: list[tuple[str, Sequence[float | None]]] = [("accounts", [v["share"] for v in item["values"]])]
        if item["total_arr"] is not None:
            series.append(("ARR", [v["arr_share"] for v in item["values"]]))
        chart = bar_chart(labels, series, _pct, title=f"{item['decision']}: share of accounts and ARR")
        rows = [[_e(v["value"]), _int(v["accounts"]), _pct(v["share"]), _money(v["arr"]), _pct(v["arr_share"])]
                for v in item["values"]]
        table = _table(["value", "accounts", "share", "ARR", "ARR share"], rows, [False, True, True, True, True])
        description = f'<p class="note">{_e(item["description"])}</p>' if item["description"] else ""
        blocks.append(f'<div class="card"><h3>{_e(item["decision"])}</h3>{description}{chart}{table}</div>')
    intro = ("<p>Accounts and ARR for every value of every <code>first</code>/<code>unique</code> decision. "
             "Shares are of all records read.</p>")
    return intro + f'<div class="grid">{"".join(blocks)}</div>'


_KPI_HEADERS = {"accounts": "accounts", "arr": "ARR", "avg_ltv": "avg LTV", "nrr": "NRR", "churn_rate": "churn",
                "win_rate": "win rate", "nps_score": "NPS", "avg_tickets": "tickets / account"}


def _kpi_cell(column: str, value: Any) -> str:
    if column in ("arr", "avg_ltv"):
        return _money(value)
    if column in ("churn_rate", "win_rate"):
        return _pct(value)
    if column == "accounts":
        return _int(value)
    if column == "nps_score":
        return _num(value, 0)
    return _num(value, 2)


def _kpis(report: dict[str, Any]) -> str:
    kpis = report["kpis"]
    if kpis is None:
        return "<p>No segment decision (a <code>first</code> decision with text values) to report on.</p>"
    columns = kpis["columns"]
    rows = [[_e(r["value"])] + [_kpi_cell(c, r.get(c)) for c in columns] for r in kpis["rows"]]
    parts = [f"<p>Per value of <code>{_e(kpis['decision'])}</code>.</p>",
             _table([kpis["decision"]] + [_KPI_HEADERS[c] for c in columns], rows,
                    [False] + [True] * len(columns))]
    notes = []
    if kpis["churn_measure"]:
        notes.append(f"Churn is measured as: {_e(kpis['churn_measure'])}.")
    if "nps_score" in columns:
        notes.append("NPS = % promoters (9–10) − % detractors (0–6) among accounts with a score.")
    notes += [f"{_e(s['kpi'])} is not shown: {_e(s['reason'])}." for s in report["measures"]["skipped"]]
    if notes:
        parts.append('<ul class="note">' + "".join(f"<li>{n}</li>" for n in notes) + "</ul>")
    labels = [r["value"] for r in kpis["rows"]]
    charts = []
    if "avg_ltv" in columns:
        charts.append(bar_chart(labels, [("avg LTV", [r.get("avg_ltv") for r in kpis["rows"]])], _money,
                                title="Average LTV"))
    if "churn_rate" in columns:
        charts.append(bar_chart(labels, [("churn", [r.get("churn_rate") for r in kpis["rows"]])], _pct,
                                title="Churn rate"))
    if kpis["nps_categories"]:
        charts.append(stacked_chart(labels, kpis["nps_categories"], [r["nps_mix"] for r in kpis["rows"]],
                                    title="NPS mix"))
    if "avg_tickets" in columns:
        charts.append(bar_chart(labels, [("tickets", [r.get("avg_tickets") for r in kpis["rows"]])],
                                lambda v: _num(v, 1), title="Support tickets per account"))
    parts.append('<div class="grid">' + "".join(f'<div class="card">{c}</div>' for c in charts) + "</div>")
    return "".join(parts)


def _tests(report: dict[str, Any]) -> str:
    rows = []
    for test in report["tests"]:
        for metric in test["metrics"]:
            same = "; ".join(f"{a} ≈ {b}" for a, b in metric["indistinguishable"]) or "none"
            css = "verdict-bad" if metric["verdict"].startswith("not") else "verdict-good"
            rows.append([_e(test["decision"]), _e(metric["label"]), _int(metric["n"]), _num(metric["h"], 1),
                         str(metric["df"]), _p(metric["p"]), _num(metric["epsilon_squared"], 3),
                         f'<span class="{css}">{_e(metric["verdict"])}</span>', _e(same)])
    if not rows:
        return "<p>No LTV or churn field: nothing to test.</p>"
    threshold = report["tests"][0]["metrics"][0]["delta_threshold"] if report["tests"][0]["metrics"] else 0.147
    parts = [
        "<p>Kruskal–Wallis test per decision: do its values differ in LTV and in churn? "
        "ε² is the effect size (below 0.01 negligible, 0.01 small, 0.06 moderate, 0.14+ large). "
        f"Two values are <em>not distinguishable</em> when a Mann–Whitney test gives p ≥ 0.05 or "
        f"|Cliff's δ| < {threshold} (a negligible difference). "
        "Values with fewer than 3 accounts with a value are left out.</p>",
        _table(["decision", "measure", "n", "H", "df", "p", "ε²", "verdict", "not distinguishable"], rows,
               [False, False, True, True, True, True, True, False, False]),
    ]
    primary = report["kpis"]["decision"] if report["kpis"] else None
    for test in report["tests"]:
        if test["decision"] != primary:
            continue
        for metric in test["metrics"]:
            pair_rows = [[_e(p["a"]), _e(p["b"]), _int(p["n_a"]), _int(p["n_b"]), _p(p["p"]),
                          _num(p["cliffs_delta"], 3), "yes" if p["distinguishable"] else "<b>no</b>"]
                         for p in metric["pairs"]]
            labels = list(metric["medians"])
            chart = bar_chart(labels, [("median", [metric["medians"][v] for v in labels])],
                              _money if metric["metric"] == "ltv" else _num,
                              title=f"{primary}: median {metric['label']}") if metric["metric"] == "ltv" else ""
            parts.append(f'<div class="card"><h3>{_e(primary)} pairs: {_e(metric["label"])}</h3>{chart}'
                         + _table(["a", "b", "n a", "n b", "p", "Cliff's δ", "distinguishable"], pair_rows,
                                  [False, False, True, True, True, True, False]) + "</div>")
    return "".join(parts)


def _value(report: dict[str, Any]) -> str:
    value = report["value"]
    if value is None:
        return "<p>No LTV field (ltv / lifetime_value / clv): no value profile.</p>"
    parts = [
        f"<p>{_int(value['with_ltv'])} accounts have an LTV ({_int(value['without_ltv'])} do not). "
        f"The top 20% ({_int(value['top_count'])} accounts, LTV ≥ {_money(value['top_min_ltv'])}) hold "
        f"{_pct(value['top_ltv_share'])} of all LTV; the bottom 20% ({_int(value['bottom_count'])} accounts) "
        f"have LTV ≤ {_money(value['bottom_max_ltv'])}. Lift = share in the top 20% ÷ share of all accounts "
        "with an LTV.</p>"
    ]
    charts = []
    for dimension in value["dimensions"]:
        items = dimension["values"][:8]
        labels = [v["value"] for v in items]
        series = [("top 20%", [v["top"] for v in items]), ("bottom 20%", [v["bottom"] for v in items])]
        chart = bar_chart(labels, series,
                          _pct, title=f"{dimension['dimension']}: top vs bottom LTV quintile")
        best = max(dimension["values"], key=lambda v: v["lift"] or 0.0)
        note = (f'<p class="note">Most over-represented in the top 20%: {_e(best["value"])} '
                f'(lift {_num(best["lift"], 2)}).</p>') if best["lift"] else ""
        charts.append(f'<div class="card">{chart}{note}</div>')
    parts.append('<div class="grid">' + "".join(charts) + "</div>")
    if value["numeric"]:
        rows = [[_e(n["field"]), _num(n["top"], 1), _num(n["bottom"], 1), _num(n["all"], 1)] for n in value["numeric"]]
        parts.append("<h3>Medians, top vs bottom 20%</h3>"
                     + _table(["field", "top 20%", "bottom 20%", "all with LTV"], rows, [False, True, True, True]))
    return "".join(parts)


def _icp(icp: dict[str, Any]) -> str:
    if "error" in icp:
        extra = f"<pre>{_e(icp['yaml'])}</pre>" if icp.get("yaml") else ""
        return f"<p>{_e(icp['error'])}</p>{extra}"
    combined = icp["combined"]
    rows = [[f"<code>{_e(s['when'])}</code>", _num(s["lift"], 2), _pct(s["support"]), _pct(s["precision"]),
             _int(s["matched"])] for s in [combined, *icp["signals"]]]
    return (
        f"<p>Conditions over-represented among the top 20% by LTV ({_int(icp['top'])} of "
        f"{_int(icp['population'])} accounts with an LTV). Lift = how many times more likely a matching account "
        "is to be in the top 20%; support = share of the top 20% that matches; precision = share of matching "
        "accounts in the top 20%. Revenue fields are left out: an ICP must be recognisable before the sale. "
        "The first row is the combined proposal; every figure was measured by loading the rulebook below "
        "through the engine with this project's rulebooks.</p>"
        + _table(["condition", "lift", "support", "precision", "accounts"], rows,
                 [False, True, True, True, True])
        + f"<h3>Ready to paste into a rulebook</h3><pre>{_e(icp['yaml'])}</pre>"
    )


def _coverage(coverage: dict[str, Any]) -> str:
    parts = [f"<p>Every rule's condition evaluated over all {_int(coverage['records'])} records. "
             "<em>matched</em>: the condition holds; <em>decided</em>: the rule gave the value "
             "(for <code>first</code>, earlier rules win).</p>"]
    never = coverage["never_matched"]
    if never:
        parts.append("<p><b>Rules that never matched:</b> "
                     + ", ".join(f"<code>{_e(n['rule'])}</code> ({_e(n['decision'])})" for n in never) + "</p>")
    else:
        parts.append("<p>Every rule matched at least one record.</p>")
    summary_rows = []
    for d in coverage["decisions"]:
        conflicts = d.get("conflicts", {}).get("count") if d["hit"] == "unique" else None
        fallen = d["default"] if d["default"] is not None else d.get("none_matched")
        summary_rows.append([_e(d["decision"]), _e(d["hit"]), str(len(d["rules"])), _int(fallen),
                             _pct(fallen / coverage["records"]) if coverage["records"] and fallen is not None else "—",
                             _e(d["default_value"]) if d["default"] is not None else "(no rule)",
                             _int(d["overridden"]), _int(conflicts) if conflicts is not None else ""])
    parts.append("<h3>Defaults, overrides and conflicts</h3>" + _table(
        ["decision", "hit", "rules", "fell to default", "share", "default", "overridden", "conflicts"],
        summary_rows, [False, False, True, True, True, False, True, True]))
    for d in coverage["decisions"]:
        for group in d.get("conflicts", {}).get("groups", []):
            parts.append(f"<p>Conflict in <code>{_e(d['decision'])}</code>: rules {_e(group['rules'])} both match "
                         f"{_int(group['count'])} record(s), e.g. {_e(', '.join(group['example_ids']))}.</p>")
    cards = []
    for d in coverage["decisions"]:
        labels = [r["id"] for r in d["rules"]]
        series: list[tuple[str, Sequence[float | None]]] = [("matched", [r["matched"] for r in d["rules"]])]
        if d["hit"] in ("first", "unique"):
            series.append(("decided", [r["decided"] for r in d["rules"]]))
        cards.append(f'<div class="card">{bar_chart(labels, series, _int, title=d["decision"])}</div>')
    parts.append("<h3>Records matched per rule</h3><div class=\"grid\">" + "".join(cards) + "</div>")
    unmapped = coverage["unmapped"]
    if unmapped:
        parts.append("<h3>Values no rule maps</h3><p>For mapping decisions (rules that read only input fields): "
                     "the values of each text field among the records that fell to the default.</p>")
        blocks = []
        for item in unmapped:
            rows = [[_e(v["value"]), _int(v["count"])] for v in item["values"]]
            more = item["distinct"] - len(item["values"])
            tail = f'<p class="note">… and {more} more distinct values.</p>' if more > 0 else ""
            blocks.append(f'<div class="card"><h3>{_e(item["decision"])} ← {_e(item["field"])}: '
                          f'{_int(item["records"])} record(s) fell to “{_e(item["default"])}”</h3>'
                          + _table([item["field"], "records"], rows, [False, True]) + tail + "</div>")
        parts.append('<div class="grid">' + "".join(blocks) + "</div>")
    territories = coverage["territories"]
    if territories:
        leaves = territories["leaves"]
        chart = bar_chart([t["id"] for t in leaves], [("accounts", [t["accounts"] for t in leaves])], _int,
                          title="Accounts per territory")
        note = f"<p>{_int(territories['unassigned'])} record(s) matched no territory."
        if territories["never_matched"]:
            note += " Territories with no account: " + ", ".join(_e(t) for t in territories["never_matched"]) + "."
        parts.append(f"<h3>Territories</h3>{chart}{note}</p>")
    if coverage["lists"]:
        rows = [[_e(item["id"]), _e(item["name"]), _int(item["members"])] for item in coverage["lists"]]
        parts.append("<h3>Marketing lists</h3>" + _table(["list", "name", "members"], rows, [False, False, True]))
    return "".join(parts)


def _change(change: dict[str, Any]) -> str:
    if change["run"] is None:
        return "<p>No previous run: the ledger has no apply run yet.</p>"
    parts = [f"<p>What the last apply, {_e(change['message'])}, changed: before → after, per field.</p>"]
    blocks = []
    for field in change["fields"]:
        rows = [[_e(t["before"] if t["before"] not in (None, "") else "(empty)"),
                 _e(t["after"] if t["after"] not in (None, "") else "(empty)"), _int(t["count"])]
                for t in field["transitions"]]
        name = f" ({_e(field['name'])})" if field["name"] else ""
        more = field["distinct_transitions"] - len(field["transitions"])
        tail = f'<p class="note">… and {more} more transitions.</p>' if more > 0 else ""
        blocks.append(f'<div class="card"><h3>{_e(field["field"])}{name}: {_int(field["total"])} record(s)</h3>'
                      + _table(["before", "after", "records"], rows, [False, False, True]) + tail + "</div>")
    parts.append('<div class="grid">' + "".join(blocks) + "</div>")
    return "".join(parts)
