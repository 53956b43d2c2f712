"""Segment analytics for `revrules report` (SPEC §7): the KPI columns, segment sizes and KPIs, and the whole report.

The report is plain data (JSON-ready dicts and lists) computed from one evaluation of
the rulebook; `revrules.report.html` renders it as a self-contained page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from revrules.engine.convert import FieldType
from revrules.engine.definitions import Decision, Rulebook
from revrules.project import Project
from revrules.report import compare, coverage, history, icp, significance
from revrules.report.kpis import Measures, label, ordered_values, with_measures
from revrules.state.ledger import now

KPI_COLUMNS = ("accounts", "arr", "arr_share", "avg_ltv", "churn_rate", "nrr", "grr", "win_rate", "cac", "ltv_cac",
               "nps_score", "avg_tickets")


def build_report(project: Project, evaluated: pl.DataFrame, *, source: str = "", suggest_icp: bool = False,
                 typed: pl.DataFrame | None = None, baseline: Baseline | None = None) -> dict[str, Any]:
    """Every section of the report as JSON-ready data.

    Args:
        project: The loaded project.
        evaluated: The rulebook evaluated over every record read.
        source: A readable name of where the records came from.
        suggest_icp: Also propose data-driven ICP conditions (needs `typed`).
        typed: The typed records the evaluation started from, to test the ICP proposal in the engine.
        baseline: Another rulebook evaluated on the same records, to compare against (`--compare`).
    """
    book = project.book
    frame, measures, skipped = with_measures(book, evaluated, _named_kpis(project))
    decisions = segment_decisions(book)
    primary = decisions[0] if decisions else None
    report: dict[str, Any] = {
        "meta": {"created_at": now(), "source": source, "records": frame.height,
                 "rulebook_hash": book.hash[:12], "config": str(project.config.path.name)},
        "measures": {"found": measures.found, "skipped": skipped, "churn": measures.churn_label},
        "segments": [segment_counts(frame, d, measures) for d in decisions],
        "kpis": kpis(frame, primary, measures) if primary else None,
        "tests": [significance.test_decision(frame, book, d, measures) for d in decisions],
        "value": significance.value_profile(frame, book, measures, decisions),
        "icp": None,
        "coverage": coverage.coverage(frame, book),
        "change": history.change(project, primary),
        "trend": history.trend(project, primary, frame),
    }
    if baseline is not None:
        report["compare"] = _compare(project, baseline, frame, primary, measures)
    if suggest_icp:
        typed = typed if typed is not None else evaluated
        report["icp"] = icp.suggest_icp(project, frame, typed, measures)
    # Decisions computed only from the segment (pricing tier, sales motion) repeat its differences.
    echoes = {d.name for d in decisions if primary and d is not primary and d.depends_on <= {primary.name}}
    report["summary"] = summary(report, echoes)
    return report


def _named_kpis(project: Project) -> dict[str, str]:
    return {str(kpi): name for kpi, name in project.config.model.report.kpis.items()}


@dataclass(frozen=True)
class Baseline:
    """The rulebook a change is compared against, evaluated on the same records."""

    ref: str
    book: Rulebook
    evaluated: pl.DataFrame


def _compare(project: Project, baseline: Baseline, frame: pl.DataFrame, primary: Decision | None,
             m: Measures) -> dict[str, Any]:
    """Segment migration and per-segment KPIs, before (baseline) and after (current rulebook)."""
    if primary is None:
        return {"ref": baseline.ref, "error": "no segment decision to compare"}
    old = next((d for d in baseline.book.decisions if d.name == primary.name), None)
    if old is None:
        return {"ref": baseline.ref, "error": f"the rulebook at {baseline.ref} has no decision {primary.name}"}
    before, m_before, _ = with_measures(baseline.book, baseline.evaluated, _named_kpis(project))
    moved = compare.migration(before, frame, primary.name)
    after_rows = {r["value"]: r for r in kpis(frame, primary, m)["rows"]}
    before_rows = {r["value"]: r for r in kpis(before, old, m_before)["rows"]}
    before_values = ordered_values(old, before[primary.name].unique().to_list())
    after_values = ordered_values(primary, frame[primary.name].unique().to_list())
    rows = []
    for value in dict.fromkeys(after_values + before_values):
        was, now_ = before_rows.get(value, {}), after_rows.get(value, {})
        row: dict[str, Any] = {"value": value}
        for column in ("accounts", "arr", "avg_ltv", "churn_rate"):
            row[f"{column}_before"] = was.get(column, 0 if column == "accounts" else None)
            row[f"{column}_after"] = now_.get(column, 0 if column == "accounts" else None)
        rows.append(row)
    return {"ref": baseline.ref, **moved, "before_values": before_values, "after_values": after_values,
            "kpis": rows}


def segment_decisions(book: Rulebook) -> list[Decision]:
    """Single-valued text decisions, the segment decision first."""
    decisions = [d for d in book.decisions if d.hit in ("first", "unique") and d.kind == FieldType.STRING]
    primary = next((d for d in decisions if d.name == "segment"), decisions[0] if decisions else None)
    decisions.sort(key=lambda d: d is not primary)
    return decisions


# -- segments and KPIs -----------------------------------------------------------


def _known_sum(column: str) -> pl.Expr:
    """The sum over known values; null (shown "—") when none is known, never a misleading 0."""
    return pl.when(pl.col(column).count() > 0).then(pl.col(column).sum())


def segment_counts(frame: pl.DataFrame, decision: Decision, m: Measures) -> dict[str, Any]:
    """Accounts and ARR per value of one decision."""
    arr = _known_sum(m.arr) if m.arr else pl.lit(None, dtype=pl.Float64)
    grouped = frame.group_by(decision.name).agg(pl.len().alias("accounts"), arr.alias("arr"))
    rows = {label(v): (n, a) for v, n, a in grouped.iter_rows()}
    total = frame.height
    total_arr = sum(a or 0.0 for _, a in rows.values()) if m.arr else None
    values = []
    for value in ordered_values(decision, grouped[decision.name].to_list()):
        accounts, value_arr = rows[value]
        values.append({
            "value": value, "accounts": accounts, "share": accounts / total if total else 0.0,
            "arr": value_arr, "arr_share": value_arr / total_arr if total_arr and value_arr is not None else None,
        })
    return {"decision": decision.name, "description": decision.description, "values": values,
            "total_arr": total_arr}


def _kpi_exprs(m: Measures) -> list[pl.Expr]:
    aggs: list[pl.Expr] = [pl.len().alias("accounts")]
    if m.arr:
        aggs.append(_known_sum(m.arr).alias("arr"))
    for name, column in (("avg_ltv", m.ltv), ("churn_rate", m.churn), ("avg_tickets", m.support)):
        if column:
            aggs.append(pl.col(column).mean().alias(name))
    if m.nrr_start and m.nrr_end:
        # ARR-weighted over accounts with ARR at the start: sum(end) / sum(start). A mean of
        # per-account ratios lets a few small accounts that grew tenfold outvote the book.
        start, end = pl.col(m.nrr_start), pl.col(m.nrr_end).fill_null(0)
        base = start.is_not_null() & (start > 0)
        total = start.filter(base).sum()
        aggs.append(pl.when(total > 0).then(end.filter(base).sum() / total).alias("nrr"))
        aggs.append(pl.when(total > 0).then(pl.min_horizontal(end, start).filter(base).sum() / total).alias("grr"))
    if m.won and m.lost:
        won, lost = pl.col(m.won), pl.col(m.lost)
        both = won.is_not_null() & lost.is_not_null()
        decided = (won + lost).filter(both).sum()
        aggs.append(pl.when(decided > 0).then(won.filter(both).sum() / decided).alias("win_rate"))
    elif m.won:
        aggs.append(pl.col(m.won).mean().alias("win_rate"))
    if m.cac:
        aggs.append(pl.col(m.cac).mean().alias("cac"))
        if m.ltv:
            both = pl.col(m.ltv).is_not_null() & pl.col(m.cac).is_not_null()
            spent = pl.col(m.cac).filter(both).sum()
            aggs.append(pl.when(spent > 0).then(pl.col(m.ltv).filter(both).sum() / spent).alias("ltv_cac"))
    if m.nps:
        known = pl.col(m.nps).is_not_null().sum()
        # Counts are unsigned: cast before subtracting, or more detractors than promoters wraps around.
        promoters = (pl.col(m.nps) >= 9).sum().cast(pl.Int64)
        detractors = (pl.col(m.nps) <= 6).sum().cast(pl.Int64)
        aggs.append(pl.when(known > 0).then(100 * (promoters - detractors) / known).alias("nps_score"))
    return aggs


def kpis(frame: pl.DataFrame, decision: Decision, m: Measures) -> dict[str, Any]:
    """Per-value KPIs of the segment decision, and the whole book's as a last row."""
    grouped = frame.group_by(decision.name).agg(_kpi_exprs(m))
    overall = frame.select(_kpi_exprs(m)).row(0, named=True)
    total_arr = overall.get("arr")
    mix = _nps_mix(frame, decision.name, m)
    rows = []
    by_value = {label(row[decision.name]): row for row in grouped.iter_rows(named=True)}
    for value in ordered_values(decision, grouped[decision.name].to_list()):
        row = {k: v for k, v in by_value[value].items() if k != decision.name}
        if "arr" in row:
            row["arr_share"] = row["arr"] / total_arr if total_arr and row["arr"] is not None else None
        rows.append({"value": value, **row, "nps_mix": mix.get(value, {})})
    if total_arr is not None:
        overall["arr_share"] = 1.0
    columns = [c for c in KPI_COLUMNS if c in overall]
    return {"decision": decision.name, "columns": columns, "rows": rows, "total": overall,
            "churn_measure": m.churn_label, "nps_categories": _nps_categories(frame, m)}


def _nps_category_expr(m: Measures) -> pl.Expr | None:
    if m.nps_category:
        return pl.col(m.nps_category)
    if m.nps:
        score = pl.col(m.nps)
        return (pl.when(score >= 9).then(pl.lit("Promoter")).when(score >= 7).then(pl.lit("Passive"))
                .when(score >= 0).then(pl.lit("Detractor")).otherwise(pl.lit("Unknown")))
    return None


def _nps_categories(frame: pl.DataFrame, m: Measures) -> list[str]:
    expr = _nps_category_expr(m)
    if expr is None:
        return []
    present = {label(v) for v in frame.select(expr.alias("c"))["c"].unique().to_list()}
    preferred = [c for c in ("Promoter", "Passive", "Detractor") if c in present]
    return preferred + sorted(present - set(preferred))


def _nps_mix(frame: pl.DataFrame, segment: str, m: Measures) -> dict[str, dict[str, float]]:
    expr = _nps_category_expr(m)
    if expr is None:
        return {}
    counts = frame.group_by(pl.col(segment), expr.alias("__nps")).len()
    mix: dict[str, dict[str, float]] = {}
    for value, category, n in counts.iter_rows():
        mix.setdefault(label(value), {})[label(category)] = n
    return {v: {c: n / sum(cats.values()) for c, n in cats.items()} for v, cats in mix.items()}


# -- the one-screen summary ------------------------------------------------------------


def summary(report: dict[str, Any], echoes: set[str]) -> dict[str, Any]:
    """What a reader needs first: the segment table, the three largest differences, and the rule gaps."""
    differences: list[dict[str, Any]] = []
    for test in report["tests"]:
        for metric in test["metrics"]:
            differences.extend({"decision": test["decision"], "metric": metric["label"], **pair}
                               for pair in metric.get("pairs", [])
                               if pair["distinguishable"] and test["decision"] not in echoes)
    differences.sort(key=lambda d: (-abs(d.get("size") or 0.0), d["p_adjusted"]))
    # The largest difference of each outcome first, then of each decision, then the rest.
    distinct: list[dict[str, Any]] = []
    for key in ("metric", "decision", None):
        for item in differences:
            if item not in distinct and (key is None or all(item[key] != d[key] for d in distinct)):
                distinct.append(item)
    cov = report["coverage"]
    return {
        "largest_differences": distinct[:3],
        "never_decide": cov["never_decide"],
        "unmapped": [{"decision": u["decision"], "field": u["field"], "distinct": u["distinct"],
                      "records": u["records"], "top": [v["value"] for v in u["values"][:3]]}
                     for u in cov["unmapped"] if u["records"]],
    }


def finite(value: Any) -> Any:
    """JSON-safe numbers: NaN and infinities become null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write_report(path: Path, text: str) -> None:
    """Write the report file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
