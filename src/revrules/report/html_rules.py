"""The page's rule sections: coverage, the what-if comparison, segments over time, and the last change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from revrules.report.charts import bar_chart, count, esc, money, pct, table


def coverage(coverage: dict[str, Any]) -> str:
    """Rules matched and decided, defaults, conflicts, unmapped values, territories and lists."""
    parts = [f"<p>Every rule's condition evaluated over all {count(coverage['records'])} records. "
             "<em>matched</em>: the condition holds; <em>decided</em>: the rule gave the value "
             "(for <code>first</code>, earlier rules win).</p>"]
    never = coverage["never_decide"]
    if never:
        parts.append("<p><b>Rules that never decide:</b> "
                     + "; ".join(f"<code>{esc(n['rule'])}</code> ({esc(n['decision'])}, {esc(n['why'])})"
                                 for n in never) + "</p>")
    else:
        parts.append("<p>Every rule decides at least one record.</p>")
    rows_of_summary = []
    for d in coverage["decisions"]:
        conflicts = d.get("conflicts", {}).get("count") if d["hit"] == "unique" else None
        fallen = d["default"] if d["default"] is not None else d.get("none_matched")
        rows_of_summary.append([esc(d["decision"]), esc(d["hit"]), str(len(d["rules"])), count(fallen),
                             pct(fallen / coverage["records"]) if coverage["records"] and fallen is not None else "—",
                             esc(d["default_value"]) if d["default"] is not None else "(no rule)",
                             count(d["overridden"]), count(conflicts) if conflicts is not None else ""])
    parts.append("<h3>Defaults, overrides and conflicts</h3>" + table(
        ["decision", "hit", "rules", "fell to default", "share", "default", "overridden", "conflicts"],
        rows_of_summary, [False, False, True, True, True, False, True, True]))
    for d in coverage["decisions"]:
        for group in d.get("conflicts", {}).get("groups", []):
            parts.append(f"<p>Conflict in <code>{esc(d['decision'])}</code>: rules {esc(group['rules'])} both match "
                         f"{count(group['count'])} record(s), e.g. {esc(', '.join(group['example_ids']))}.</p>")
    cards = []
    for d in coverage["decisions"]:
        labels = [r["id"] for r in d["rules"]]
        series: list[tuple[str, Sequence[float | None]]] = [("matched", [r["matched"] for r in d["rules"]])]
        if d["hit"] in ("first", "unique"):
            series.append(("decided", [r["decided"] for r in d["rules"]]))
        cards.append(f'<div class="card">{bar_chart(labels, series, count, title=d["decision"])}</div>')
    parts.append("<h3>Records matched per rule</h3><div class=\"grid\">" + "".join(cards) + "</div>")
    unmapped = coverage["unmapped"]
    if unmapped:
        parts.append("<h3>Values no rule maps</h3><p>For mapping decisions (rules that read only input fields): "
                     "the values of each text field among the records that fell to the default.</p>")
        blocks = []
        for item in unmapped:
            rows = [[esc(v["value"]), count(v["count"])] for v in item["values"]]
            more = item["distinct"] - len(item["values"])
            tail = f'<p class="note">… and {more} more distinct values.</p>' if more > 0 else ""
            blocks.append(f'<div class="card"><h3>{esc(item["decision"])} ← {esc(item["field"])}: '
                          f'{count(item["records"])} record(s) fell to “{esc(item["default"])}”</h3>'
                          + table([item["field"], "records"], rows, [False, True]) + tail + "</div>")
        parts.append('<div class="grid">' + "".join(blocks) + "</div>")
    territories = coverage["territories"]
    if territories:
        leaves = territories["leaves"]
        chart = bar_chart([t["id"] for t in leaves], [("accounts", [t["accounts"] for t in leaves])], count,
                          title="Accounts per territory")
        note = f"<p>{count(territories['unassigned'])} record(s) matched no territory."
        if territories["never_matched"]:
            note += " Territories with no account: " + ", ".join(esc(t) for t in territories["never_matched"]) + "."
        parts.append(f"<h3>Territories</h3>{chart}{note}</p>")
    if coverage["lists"]:
        rows = [[esc(item["id"]), esc(item["name"]), count(item["members"])] for item in coverage["lists"]]
        parts.append("<h3>Marketing lists</h3>" + table(["list", "name", "members"], rows, [False, False, True]))
    return "".join(parts)


def change(change: dict[str, Any]) -> str:
    """What the last apply changed, per field."""
    if change["run"] is None:
        return "<p>No previous run: the ledger has no apply run yet.</p>"
    parts = [f"<p>What the last apply, {esc(change['message'])}, changed: before → after, per field.</p>"]
    blocks = []
    for field in change["fields"]:
        rows = [[esc(t["before"] if t["before"] not in (None, "") else "(empty)"),
                 esc(t["after"] if t["after"] not in (None, "") else "(empty)"), count(t["count"])]
                for t in field["transitions"]]
        name = f" ({esc(field['name'])})" if field["name"] else ""
        more = field["distinct_transitions"] - len(field["transitions"])
        tail = f'<p class="note">… and {more} more transitions.</p>' if more > 0 else ""
        blocks.append(f'<div class="card"><h3>{esc(field["field"])}{name}: {count(field["total"])} record(s)</h3>'
                      + table(["before", "after", "records"], rows, [False, False, True]) + tail + "</div>")
    parts.append('<div class="grid">' + "".join(blocks) + "</div>")
    return "".join(parts)


def compare(data: dict[str, Any]) -> str:
    """The segment migration matrix and the KPI change per segment between two rulebooks."""
    if "error" in data:
        return f"<p>{esc(data['error'])}</p>"
    values_before, values_after = data["before_values"], data["after_values"]
    moved = data["moved"]
    parts = [f"<p>The rulebook at <code>{esc(data['ref'])}</code> (before) and the current one (after), "
             f"evaluated on the same {count(data['records'])} records: {count(moved)} record(s) "
             f"({pct(moved / data['records'] if data['records'] else None)}) change "
             f"<code>{esc(data['decision'])}</code>. Rows: before; columns: after.</p>"]
    cells = {(m["before"], m["after"]): m["count"] for m in data["migration"]}
    header = "".join(f"<th>{esc(v)}</th>" for v in values_after)
    body = []
    for before in values_before:
        row = [f"<th>{esc(before)}</th>"]
        for after in values_after:
            n = cells.get((before, after), 0)
            css = "" if not n else (' class="no"' if before == after else ' class="yes"')
            row.append(f"<td{css}>{count(n) if n else ''}</td>")
        body.append("<tr>" + "".join(row) + "</tr>")
    parts.append(f'<table class="matrix"><thead><tr><th>before ↓ after →</th>{header}</tr></thead>'
                 f'<tbody>{"".join(body)}</tbody></table>')
    rows = [[esc(k["value"]), count(k["accounts_before"]), count(k["accounts_after"]),
             money(k.get("arr_before")), money(k.get("arr_after")), money(k.get("avg_ltv_before")),
             money(k.get("avg_ltv_after")), pct(k.get("churn_rate_before")), pct(k.get("churn_rate_after"))]
            for k in data["kpis"]]
    parts.append("<h3>KPIs per segment, before → after</h3>" + table(
        ["value", "accounts before", "after", "ARR before", "after", "avg LTV before", "after", "churn before",
         "after"], rows, [False] + [True] * 8))
    return "".join(parts)


def trend(data: dict[str, Any]) -> str:
    """Segment sizes after each apply run, and what each run moved."""
    runs = data.get("runs") or []
    if not runs:
        return "<p>No apply run in the ledger has written the segment field yet.</p>"
    values = data["values"]
    headers = ["run", "date", *values, "changed"]
    rows = [["before", "", *(count(data["baseline"].get(v, 0)) for v in values), ""]]
    rows += [[f"#{r['run']}", esc(r["started_at"][:10]), *(count(r["sizes"].get(v, 0)) for v in values),
              count(r["changed"])] for r in runs]
    parts = [f"<p>Accounts per <code>{esc(data['decision'])}</code> value after each apply run that wrote "
             f"<code>{esc(data['field'])}</code>, rebuilt from the ledger by undoing each run's writes from "
             "today's values.</p>", table(headers, rows, [False, False] + [True] * (len(values) + 1))]
    latest: Sequence[dict[str, Any]] = runs[-1]["transitions"]
    if latest:
        parts.append(f"<h3>Moves in run #{runs[-1]['run']}</h3>" + table(
            ["before", "after", "records"], [[esc(t["before"]), esc(t["after"]), count(t["count"])]
                                             for t in latest], [False, False, True]))
    return "".join(parts)
