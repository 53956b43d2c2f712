"""The page's analysis sections: significance tests with pair matrices, the LTV quintile profile, the ICP."""

from __future__ import annotations

from typing import Any

from revrules.report.charts import bar_chart, count, esc, money, num, p_value, pct, table

MATRIX_LIMIT = 10
"""Decisions with more tested values than this list only their distinguishable pairs."""
PAIR_LIST_LIMIT = 12


def tests(report: dict[str, Any]) -> str:
    """One row per decision and outcome, then a pair matrix per decision."""
    rows = []
    for test in report["tests"]:
        for metric in test["metrics"]:
            if metric["circular"]:
                rows.append([esc(test["decision"]), esc(metric["label"]), "—", "—", "—", "—",
                             f'<span class="verdict-bad">{esc(metric["verdict"])}</span>', "—"])
                continue
            pairs = metric["pairs"]
            apart = sum(p["distinguishable"] for p in pairs)
            css = "verdict-bad" if metric["verdict"].startswith("not") else "verdict-good"
            rows.append([esc(test["decision"]), esc(metric["label"]), esc(metric["test"]), count(metric["n"]),
                         p_value(metric["p"]), f'{num(metric["effect"], 3)} {esc(metric["effect_name"])}',
                         f'<span class="{css}">{esc(metric["verdict"])}</span>', f"{apart} of {len(pairs)}"])
    if not rows:
        return "<p>No LTV or churn field: nothing to test.</p>"
    parts = [
        "<p>Do a decision's values differ in each outcome? LTV (continuous): Kruskal–Wallis over all values, "
        "Mann–Whitney per pair (exact p for small groups) with Cliff's δ; a pair is distinguishable when the "
        "Holm-adjusted p &lt; 0.05 and |δ| ≥ 0.147. Churn (0/1): chi-square over all values, per pair a "
        "two-proportion z test (Fisher's exact test when an expected count is under 5) with the rate ratio; "
        "distinguishable when the Holm-adjusted p &lt; 0.05. Holm's correction runs over the pairs of one "
        "decision. An outcome the decision is computed from is circular and not tested. Values with fewer than "
        "3 accounts with a value are left out.</p>",
        table(["decision", "outcome", "test", "n", "p", "effect", "verdict", "pairs apart"], rows,
              [False, False, False, True, True, True, False, True]),
    ]
    for test in report["tests"]:
        for metric in test["metrics"]:
            if not metric["circular"] and metric["pairs"]:
                parts.append(_pairs(test["decision"], metric))
    return "".join(parts)


def _pair_cell(pair: dict[str, Any]) -> str:
    if pair.get("risk_difference") is not None:
        ratio = pair.get("risk_ratio")
        effect = f"{ratio:.1f}×" if ratio is not None else f"{100 * pair['risk_difference']:+.1f} pts"
    else:
        effect = f"δ {pair['cliffs_delta']:+.2f}"
    return f"{effect}<br>p {p_value(pair['p_adjusted'])}"


def _pairs(decision: str, metric: dict[str, Any]) -> str:
    values = list(metric["groups"])
    centre = metric["centre"]
    show = money if metric["kind"] == "continuous" else pct
    heading = (f'<h3>{esc(decision)}: {esc(metric["label"])} by pair</h3><p class="note">'
               + ", ".join(f"{esc(v)} {show(centre[v])} (n {count(metric['groups'][v])})" for v in values)
               + f" — {esc(metric['centre_name'])}s.</p>")
    if len(values) > MATRIX_LIMIT:
        apart = sorted((p for p in metric["pairs"] if p["distinguishable"]), key=lambda p: -p["size"])
        rows = [[esc(p["a"]), esc(p["b"]), show(p["value_a"]), show(p["value_b"]), _pair_cell(p)]
                for p in apart[:PAIR_LIST_LIMIT]]
        more = len(apart) - len(rows)
        tail = f'<p class="note">… and {more} more distinguishable pairs.</p>' if more > 0 else ""
        return (f'<div class="card">{heading}' + table(["a", "b", "a", "b", "effect, adjusted p"], rows,
                                                       [False, False, True, True, True]) + tail + "</div>")
    cells = {(p["a"], p["b"]): p for p in metric["pairs"]}
    header = "".join(f"<th>{esc(v)}</th>" for v in values[1:])
    body = []
    for i, a in enumerate(values[:-1]):
        row = [f"<th>{esc(a)}</th>"]
        for j, b in enumerate(values[1:], start=1):
            pair = cells.get((a, b))
            if j <= i or pair is None:
                row.append("<td></td>")
            else:
                css = "yes" if pair["distinguishable"] else "no"
                row.append(f'<td class="{css}">{_pair_cell(pair)}</td>')
        body.append("<tr>" + "".join(row) + "</tr>")
    return (f'<div class="card">{heading}<table class="matrix"><thead><tr><th></th>{header}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table><p class="note">Green: distinguishable. Effect of the row '
            "value against the column value.</p></div>")


def value(report: dict[str, Any]) -> str:
    """Who the top LTV quintile is."""
    profile = report["value"]
    if profile is None:
        return "<p>No LTV field (report.kpis.ltv, or ltv / lifetime_value / clv): no value profile.</p>"
    if not profile["with_ltv"]:
        return "<p>No account has an LTV value: no value profile.</p>"
    top, bottom = pct(profile["top_share"]), pct(profile["bottom_share"])
    parts = [
        f"<p>{count(profile['with_ltv'])} accounts have an LTV ({count(profile['without_ltv'])} do not). "
        f"The top quintile ({count(profile['top_count'])} accounts, {top} of them — ties share the lower bucket; "
        f"LTV ≥ {money(profile['top_min_ltv'])}) holds {pct(profile['top_ltv_share'])} of all LTV; the bottom "
        f"quintile ({count(profile['bottom_count'])} accounts, {bottom}) has LTV ≤ "
        f"{money(profile['bottom_max_ltv'])}. Lift = share in the top quintile ÷ share of all accounts with an "
        "LTV. Decisions computed from LTV are left out.</p>"
    ]
    charts = []
    for dimension in profile["dimensions"]:
        items = dimension["values"][:8]
        labels = [v["value"] for v in items]
        series = [("top quintile", [v["top"] for v in items]), ("bottom quintile", [v["bottom"] for v in items])]
        chart = bar_chart(labels, series, pct, title=f"{dimension['dimension']}: top vs bottom LTV quintile")
        best = max(dimension["values"], key=lambda v: v["lift"] or 0.0)
        note = (f'<p class="note">Most over-represented in the top quintile: {esc(best["value"])} '
                f'(lift {num(best["lift"], 2)}).</p>') if best["lift"] else ""
        charts.append(f'<div class="card">{chart}{note}</div>')
    parts.append('<div class="grid">' + "".join(charts) + "</div>")
    if profile["numeric"]:
        rows = [[esc(n["field"]), num(n["top"], 1), num(n["bottom"], 1), num(n["all"], 1)]
                for n in profile["numeric"]]
        parts.append("<h3>Medians, top vs bottom quintile</h3>"
                     + table(["field", "top quintile", "bottom quintile", "all with LTV"], rows,
                             [False, True, True, True]))
    return "".join(parts)


def _interval(score: dict[str, Any]) -> str:
    if score["lift"] is None:
        return "—"
    if score["ci_low"] is None:
        return f"{score['lift']:.2f}"
    return f"{score['lift']:.2f} [{score['ci_low']:.2f}–{score['ci_high']:.2f}]"


def icp_sentence(icp: dict[str, Any]) -> str:
    """The ICP verdict in one paragraph, for the summary."""
    if "error" in icp:
        return f'<p class="note">{esc(icp["error"])}</p>'
    held = icp["combined"]["holdout"]
    css = "verdict-good" if icp["reliable"] else "verdict-bad"
    return (f'<p><span class="{css}">{esc(icp["verdict"])}</span>. Best pre-sale profile: '
            f'<code>{esc(icp["combined"]["when"])}</code>, held-out lift {_interval(held)} (95% interval) over '
            f"{count(held['accounts'])} held-out accounts.</p>")


def icp(icp: dict[str, Any]) -> str:
    """The proposal, its held-out measurement, the traits it could use and those it could not."""
    excluded = icp.get("excluded", [])
    left_out = ('<h3>Traits left out</h3>' + table(["name", "why"], [[esc(e["name"]), esc(e["reason"])]
                                                                   for e in excluded], [False, False])
                if excluded else "")
    if "error" in icp:
        extra = f"<pre>{esc(icp['yaml'])}</pre>" if icp.get("yaml") else ""
        return f"<p>{esc(icp['error'])}</p>{extra}{left_out}"
    rows = [[f"<code>{esc(s['when'])}</code>", _interval(s["holdout"]), pct(s["holdout"]["support"]),
             pct(s["holdout"]["precision"]), count(s["holdout"]["matched"]), _interval(s["train"])]
            for s in [icp["combined"], *icp["signals"]]]
    paste = (f"<h3>Ready to paste into a rulebook</h3><pre>{esc(icp['yaml'])}</pre>" if icp["reliable"] else
             '<p class="note">Nothing to paste: a profile that does not hold on held-out accounts is noise.</p>')
    return (
        f"{icp_sentence(icp)}<p>Searched on {count(icp['train'])} training accounts (beam search over up to three "
        f"conditions: thresholds, ranges, values and <code>in</code> lists) among {count(icp['population'])} "
        f"with an LTV ({count(icp['top'])} in the top quintile), then written as a rulebook, loaded through the "
        f"engine with this project's rulebooks, and measured on {count(icp['holdout'])} held-out accounts. "
        "Lift = how many times more likely a matching account is to be in the top quintile, with its 95% "
        "bootstrap interval; support = share of the top quintile that matches; precision = share of matching "
        f"accounts in the top quintile. Traits used: {esc(', '.join(icp['traits']))}.</p>"
        + table(["condition", "held-out lift [95%]", "support", "precision", "accounts", "training lift"], rows,
                [False, True, True, True, True, True])
        + paste + left_out
    )
