"""Render the report as one self-contained HTML page: a one-screen summary first, the details below."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from revrules.report import html_analysis, html_rules
from revrules.report.charts import CSS, bar_chart, count, esc, money, num, p_value, pct, stacked_chart, table

KPI_HEADERS = {"accounts": "accounts", "arr": "ARR", "arr_share": "ARR share", "avg_ltv": "avg LTV",
               "churn_rate": "churn", "nrr": "NRR", "grr": "GRR", "win_rate": "win rate", "cac": "avg CAC",
               "ltv_cac": "LTV:CAC", "nps_score": "NPS", "avg_tickets": "tickets / account"}
SUMMARY_COLUMNS = ("accounts", "arr_share", "avg_ltv", "churn_rate", "nrr")


def kpi_cell(column: str, value: Any) -> str:
    """One KPI formatted the same way everywhere on the page."""
    if column in ("arr", "avg_ltv", "cac"):
        return money(value)
    if column in ("churn_rate", "win_rate", "nrr", "grr", "arr_share"):
        return pct(value)
    if column == "accounts":
        return count(value)
    if column == "nps_score":
        return num(value, 0)
    if column == "ltv_cac":
        return "—" if value is None else f"{float(value):.1f}×"
    return num(value, 2)


def render_html(report: dict[str, Any]) -> str:
    """The whole page."""
    meta = report["meta"]
    sections = [
        ("segments", "Segments", _segments(report)),
        ("kpis", "Segment KPIs", _kpis(report)),
        ("tests", "Are the segments real?", html_analysis.tests(report)),
        ("value", "Value: the LTV quintile profile", html_analysis.value(report)),
    ]
    if report.get("icp") is not None:
        sections.append(("icp", "Data-driven ICP", html_analysis.icp(report["icp"])))
    if report.get("compare") is not None:
        sections.append(("compare", "What-if: the rule change", html_rules.compare(report["compare"])))
    sections += [
        ("coverage", "Rule coverage", html_rules.coverage(report["coverage"])),
        ("trend", "Segments over time", html_rules.trend(report.get("trend") or {})),
        ("change", "Change since the previous run", html_rules.change(report["change"])),
    ]
    nav = "".join(f'<a href="#{key}">{esc(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{esc(title)}</h2>{content}</section>' for key, title, content in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>revrules segmentation report</title><style>{CSS}</style></head><body>"
        f"<h1>Segmentation report</h1>"
        f'<p class="meta">{count(meta["records"])} records from {esc(meta["source"] or meta["config"])} · '
        f'rulebook {esc(meta["rulebook_hash"])} · generated {esc(meta["created_at"][:19].replace("T", " "))} UTC</p>'
        f"{_summary(report)}<nav>Details: {nav}</nav>{body}</body></html>\n"
    )


# -- the summary screen ------------------------------------------------------------------


def _summary(report: dict[str, Any]) -> str:
    kpis, summary = report["kpis"], report["summary"]
    parts = ['<section id="summary" class="summary"><h2>Summary</h2>']
    if kpis is None:
        parts.append("<p>No segment decision (a <code>first</code> decision with text values) to report on.</p>")
    else:
        columns = [c for c in SUMMARY_COLUMNS if c in kpis["columns"]]
        rows = [[esc(r["value"])] + [kpi_cell(c, r.get(c)) for c in columns] for r in kpis["rows"]]
        rows.append(["all"] + [kpi_cell(c, kpis["total"].get(c)) for c in columns])
        parts.append(_table_with_total([kpis["decision"]] + [KPI_HEADERS[c] for c in columns], rows,
                                       [False] + [True] * len(columns)))
        parts.append(_measure_note(report))
    parts.append('<div class="cols"><div><h3>Largest differences</h3>')
    parts.append(_list([difference_sentence(d) for d in summary["largest_differences"]],
                       "No pair of segment values differs significantly (Holm-adjusted p < 0.05)."))
    icp = report.get("icp")
    if icp is not None:
        parts.append("<h3>Data-driven ICP</h3>" + html_analysis.icp_sentence(icp))
    parts.append("</div><div><h3>Rules that never decide</h3>")
    parts.append(_list([f"<code>{esc(n['rule'])}</code> ({esc(n['decision'])}): {esc(n['why'])}"
                        for n in summary["never_decide"]], "Every rule decides at least one record."))
    parts.append("<h3>Values no rule maps</h3>")
    parts.append(_list([f"{esc(u['decision'])} ← {esc(u['field'])}: {count(u['records'])} record(s), "
                        f"{count(u['distinct'])} value(s), e.g. {esc(', '.join(u['top']))}"
                        for u in summary["unmapped"]], "Every value of a mapped field has a rule."))
    parts.append("</div></div></section>")
    return "".join(parts)


def _measure_note(report: dict[str, Any]) -> str:
    found = report["measures"]["found"]
    guessed = [f"{esc(k)} = {esc(v.split(' (')[0])}" for k, v in found.items() if "guessed" in v]
    notes = []
    if guessed:
        notes.append("Guessed from field names (name them in <code>report.kpis</code> to be sure): "
                     + ", ".join(guessed) + ".")
    if report["measures"]["churn"] and "proxy" in report["measures"]["churn"]:
        notes.append(f"Churn is a proxy: {esc(report['measures']['churn'])}.")
    if "nrr" not in (report["kpis"] or {}).get("columns", []):
        notes.append("NRR needs start-of-period ARR (<code>report.kpis.nrr_start_arr</code>): —.")
    return '<p class="note">' + " ".join(notes) + "</p>" if notes else ""


def difference_sentence(d: dict[str, Any]) -> str:
    """One pairwise difference in words: who, on what, by how much, and how sure."""
    name = f"<b>{esc(d['a'])}</b> vs <b>{esc(d['b'])}</b> ({esc(d['decision'])})"
    if d.get("risk_difference") is not None:
        ratio = d.get("risk_ratio")
        times = f", {ratio:.1f}×" if ratio else ""
        return (f"{name}: {esc(d['metric'].split(' (')[0])} {pct(d['value_a'])} vs {pct(d['value_b'])}"
                f"{times} (adjusted p {p_value(d['p_adjusted'])})")
    return (f"{name}: median {esc(d['metric'])} {money(d['value_a'])} vs {money(d['value_b'])}, "
            f"Cliff's δ {num(d['cliffs_delta'], 2)} (adjusted p {p_value(d['p_adjusted'])})")


def _list(items: Sequence[str], empty: str) -> str:
    if not items:
        return f'<p class="note">{empty}</p>'
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _table_with_total(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool]) -> str:
    """A table whose last row is the total, set apart."""
    text = table(headers, rows, numeric)
    last = text.rfind("<tr>")
    return text[:last] + '<tr class="total">' + text[last + 4:]


# -- details ------------------------------------------------------------------------------


def _segments(report: dict[str, Any]) -> str:
    blocks = []
    for item in report["segments"]:
        labels = [v["value"] for v in item["values"]]
        series: list[tuple[str, Sequence[float | None]]] = [("accounts", [v["share"] for v in item["values"]])]
        if item["total_arr"] is not None:
            series.append(("ARR", [v["arr_share"] for v in item["values"]]))
        chart = bar_chart(labels, series, pct, title=f"{item['decision']}: share of accounts and ARR")
        rows = [[esc(v["value"]), count(v["accounts"]), pct(v["share"]), money(v["arr"]), pct(v["arr_share"])]
                for v in item["values"]]
        grid = table(["value", "accounts", "share", "ARR", "ARR share"], rows, [False, True, True, True, True])
        description = f'<p class="note">{esc(item["description"])}</p>' if item["description"] else ""
        blocks.append(f'<div class="card"><h3>{esc(item["decision"])}</h3>{description}{chart}{grid}</div>')
    intro = ("<p>Accounts and ARR for every value of every <code>first</code>/<code>unique</code> decision. "
             "Shares are of all records read; “—” means no account of that value has the field.</p>")
    return intro + f'<div class="grid">{"".join(blocks)}</div>'


def _kpis(report: dict[str, Any]) -> str:
    kpis = report["kpis"]
    if kpis is None:
        return "<p>No segment decision (a <code>first</code> decision with text values) to report on.</p>"
    columns = kpis["columns"]
    rows = [[esc(r["value"])] + [kpi_cell(c, r.get(c)) for c in columns] for r in kpis["rows"]]
    rows.append(["all"] + [kpi_cell(c, kpis["total"].get(c)) for c in columns])
    parts = [f"<p>Per value of <code>{esc(kpis['decision'])}</code>.</p>",
             _table_with_total([kpis["decision"]] + [KPI_HEADERS[c] for c in columns], rows,
                               [False] + [True] * len(columns))]
    notes = [f"{esc(k)}: {esc(v)}" for k, v in report["measures"]["found"].items()]
    if "nrr" in columns:
        notes.append("NRR = ARR now ÷ ARR at the start, summed over accounts with ARR at the start (ARR-weighted); "
                     "GRR caps each account's ARR at its start (no expansion).")
    if "win_rate" in columns:
        notes.append("Win rate = won ÷ (won + lost); LTV:CAC = total LTV ÷ total CAC over accounts with both.")
    if "nps_score" in columns:
        notes.append("NPS = % promoters (9–10) − % detractors (0–6) among accounts with a score.")
    notes += [f"{esc(s['kpi'])} is not shown: {esc(s['reason'])}." for s in report["measures"]["skipped"]]
    parts.append('<ul class="note">' + "".join(f"<li>{n}</li>" for n in notes) + "</ul>")
    labels = [r["value"] for r in kpis["rows"]]
    charts = []
    for column, title in (("avg_ltv", "Average LTV"), ("churn_rate", "Churn rate"), ("nrr", "NRR (ARR-weighted)"),
                          ("win_rate", "Win rate"), ("avg_tickets", "Support tickets per account")):
        if column in columns:
            charts.append(bar_chart(labels, [(column, [r.get(column) for r in kpis["rows"]])],
                                    partial(kpi_cell, column), title=title))
    if kpis["nps_categories"]:
        charts.append(stacked_chart(labels, kpis["nps_categories"], [r["nps_mix"] for r in kpis["rows"]],
                                    title="NPS mix"))
    parts.append('<div class="grid">' + "".join(f'<div class="card">{c}</div>' for c in charts) + "</div>")
    return "".join(parts)
