"""Segment analytics for `revrules report` (SPEC §7): segments, KPIs, tests, value, ICP, coverage, change.

The report is plain data (JSON-ready dicts and lists) computed from one evaluation of
the rulebook; `revrules.report.html` renders it as a self-contained page.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from revrules.engine.convert import ID, FieldType
from revrules.engine.definitions import Decision, Rulebook
from revrules.engine.evaluate import CONFLICT, DEFAULT, OVERRIDE, conflict_column, list_column, rule_column
from revrules.project import Project
from revrules.report import icp
from revrules.report.kpis import (
    ARR_NAMES,
    CHURN_NAMES,
    CHURN_RISK_NAMES,
    LTV_NAMES,
    NPS_CATEGORY_NAMES,
    NPS_NAMES,
    NRR_NAMES,
    NUMERIC,
    SUPPORT_NAMES,
    WIN_NAMES,
    depends_on,
    ltv_quintile,
)
from revrules.report.stats import NEGLIGIBLE_DELTA, kruskal_wallis, mann_whitney
from revrules.state.ledger import Ledger, now

NONE_LABEL = "(none)"
BLANK_LABEL = "(blank)"
MIN_GROUP = 3
"""Groups smaller than this are left out of the statistical tests."""
TOP_UNMAPPED = 20
TOP_TRANSITIONS = 12
PROFILE_DIMENSIONS = ("segment", "vertical", "region", "usage_level", "icp_tier", "nps_category", "country_code")


@dataclass(frozen=True)
class Measures:
    """Which frame columns carry each KPI (None: absent), and how churn is measured."""

    arr: str | None
    ltv: str | None
    nrr: str | None
    churn: str | None
    churn_label: str
    win: str | None
    nps_category: str | None
    nps: str | None
    support: str | None


def build_report(project: Project, evaluated: pl.DataFrame, *, source: str = "",
                 suggest_icp: bool = False, typed: pl.DataFrame | None = None) -> dict[str, Any]:
    """Every section of the report as JSON-ready data.

    Args:
        project: The loaded project.
        evaluated: The rulebook evaluated over every record read.
        source: A readable name of where the records came from.
        suggest_icp: Also propose data-driven ICP conditions (needs `typed`).
        typed: The typed records the evaluation started from, to test the ICP proposal in the engine.
    """
    book = project.book
    frame, measures, skipped = _with_measures(book, evaluated)
    decisions = [d for d in book.decisions if d.hit in ("first", "unique") and d.kind == FieldType.STRING]
    primary = next((d for d in decisions if d.name == "segment"), decisions[0] if decisions else None)
    decisions.sort(key=lambda d: d is not primary)  # the segment decision leads every section
    tainted = depends_on(book, measures.ltv) if measures.ltv else set()
    report: dict[str, Any] = {
        "meta": {"created_at": now(), "source": source, "records": frame.height,
                 "rulebook_hash": book.hash[:12], "config": str(project.config.path.name)},
        "measures": {**vars(measures), "skipped": skipped},
        "segments": [_segment_counts(frame, d, measures) for d in decisions],
        "kpis": _kpis(frame, primary, measures) if primary else None,
        "tests": [_distinctness(frame, d, measures, tainted) for d in decisions],
        "value": _value_profile(frame, book, measures, tainted, decisions),
        "icp": None,
        "coverage": _coverage(frame, book),
        "change": _change(project, primary),
    }
    if suggest_icp:
        typed = typed if typed is not None else evaluated
        report["icp"] = icp.suggest_icp(project, frame, typed, measures.ltv, tainted)
    return report


# -- measures ------------------------------------------------------------------


def _find(book: Rulebook, names: Iterable[str], kinds: Sequence[FieldType]) -> str | None:
    return next((n for n in names if book.kinds.get(n) in kinds), None)


def _with_measures(book: Rulebook, frame: pl.DataFrame) -> tuple[pl.DataFrame, Measures, list[dict[str, str]]]:
    """Find the KPI fields by name; add helper columns (ARR from MRR, a 0/1 churn indicator)."""
    skipped: list[dict[str, str]] = []

    def look(kpi: str, names: Sequence[str], kinds: Sequence[FieldType]) -> str | None:
        found = _find(book, names, kinds)
        if found is None:
            skipped.append({"kpi": kpi, "reason": f"no field or derived value named {' / '.join(names)}"})
        return found

    arr = _find(book, ARR_NAMES, NUMERIC)
    if arr is None and book.kinds.get("mrr") in NUMERIC:
        frame = frame.with_columns((pl.col("mrr") * 12).alias("__report_arr"))
        arr = "__report_arr"
    elif arr is None:
        skipped.append({"kpi": "ARR", "reason": "no field or derived value named arr or mrr"})
    ltv = look("average LTV", LTV_NAMES, NUMERIC)
    nrr = look("NRR", NRR_NAMES, NUMERIC)
    churn, churn_label = _churn(book)
    if churn is None:
        skipped.append({"kpi": "churn rate", "reason": f"no field named {' / '.join(CHURN_NAMES + CHURN_RISK_NAMES)}"})
    else:
        frame = frame.with_columns(churn)
    win_name = look("win rate", WIN_NAMES, (*NUMERIC, FieldType.BOOLEAN))
    if win_name is not None:
        frame = frame.with_columns(pl.col(win_name).cast(pl.Float64).alias("__report_win"))
    nps_category = _find(book, NPS_CATEGORY_NAMES, (FieldType.STRING,))
    nps = _find(book, NPS_NAMES, NUMERIC)
    if nps_category is None and nps is None:
        skipped.append({"kpi": "NPS mix", "reason": "no field named nps_category or nps"})
    support = look("support load", SUPPORT_NAMES, NUMERIC)
    measures = Measures(arr, ltv, nrr, "__report_churn" if churn is not None else None, churn_label,
                        "__report_win" if win_name else None, nps_category, nps, support)
    return frame, measures, skipped


def _churn(book: Rulebook) -> tuple[pl.Expr | None, str]:
    """A 0/1 churn indicator (null where unknown), and what it measures."""
    churned = _find(book, CHURN_NAMES, (*NUMERIC, FieldType.BOOLEAN))
    if churned is not None:
        return (pl.col(churned).cast(pl.Float64) > 0).cast(pl.Float64).alias("__report_churn"), f"churned ({churned})"
    risk = _find(book, CHURN_RISK_NAMES, (FieldType.STRING,))
    if risk is None:
        return None, ""
    # No churn outcome in the CRM: the High churn-risk share among accounts the rule rates
    # (not N/A, not null) is the nearest proxy, and the report says so.
    rated = pl.col(risk).is_not_null() & ~pl.col(risk).is_in(["N/A", "n/a", ""])
    indicator = pl.when(rated).then((pl.col(risk) == "High").cast(pl.Float64)).otherwise(None)
    return indicator.alias("__report_churn"), f"high churn risk ({risk} == 'High'; proxy: no churn field)"


def _label(value: Any) -> str:
    return NONE_LABEL if value is None else str(value)


def _ordered_values(decision: Decision, present: Iterable[Any]) -> list[str]:
    """Values in rule order, then the default, then anything else (overrides, none)."""
    order = [str(r.then) for r in decision.rules] + [str(decision.default)]
    seen = [_label(v) for v in present]
    return [v for v in dict.fromkeys(order) if v in seen] + sorted(v for v in set(seen) if v not in order)


# -- segments and KPIs -----------------------------------------------------------


def _segment_counts(frame: pl.DataFrame, decision: Decision, measures: Measures) -> dict[str, Any]:
    arr = pl.col(measures.arr).sum() if measures.arr else pl.lit(None, dtype=pl.Float64)
    grouped = frame.group_by(decision.name).agg(pl.len().alias("accounts"), arr.alias("arr"))
    rows = {_label(v): (n, a) for v, n, a in grouped.iter_rows()}
    total = frame.height
    total_arr = sum(a or 0.0 for _, a in rows.values()) if measures.arr else None
    values = []
    for value in _ordered_values(decision, grouped[decision.name].to_list()):
        accounts, value_arr = rows[value]
        values.append({
            "value": value, "accounts": accounts, "share": accounts / total if total else 0.0,
            "arr": value_arr, "arr_share": (value_arr or 0.0) / total_arr if total_arr else None,
        })
    return {"decision": decision.name, "description": decision.description, "values": values,
            "total_arr": total_arr}


def _kpis(frame: pl.DataFrame, decision: Decision, m: Measures) -> dict[str, Any]:
    aggs: list[pl.Expr] = [pl.len().alias("accounts")]
    if m.arr:
        aggs.append(pl.col(m.arr).sum().alias("arr"))
    for name, column in (("avg_ltv", m.ltv), ("nrr", m.nrr), ("churn_rate", m.churn), ("win_rate", m.win),
                         ("avg_tickets", m.support)):
        if column:
            aggs.append(pl.col(column).mean().alias(name))
    if m.nps:
        known = pl.col(m.nps).is_not_null().sum()
        # Counts are unsigned: cast before subtracting, or more detractors than promoters wraps around.
        promoters = (pl.col(m.nps) >= 9).sum().cast(pl.Int64)
        detractors = (pl.col(m.nps) <= 6).sum().cast(pl.Int64)
        aggs.append(pl.when(known > 0).then(100 * (promoters - detractors) / known).alias("nps_score"))
    grouped = frame.group_by(decision.name).agg(aggs)
    mix = _nps_mix(frame, decision.name, m)
    rows = []
    by_value = {_label(row[decision.name]): row for row in grouped.iter_rows(named=True)}
    for value in _ordered_values(decision, grouped[decision.name].to_list()):
        row = {k: v for k, v in by_value[value].items() if k != decision.name}
        rows.append({"value": value, **row, "nps_mix": mix.get(value, {})})
    columns = ["accounts"] + [c for c in ("arr", "avg_ltv", "nrr", "churn_rate", "win_rate", "nps_score",
                                          "avg_tickets") if c in grouped.columns]
    return {"decision": decision.name, "columns": columns, "rows": rows, "churn_measure": m.churn_label,
            "nps_categories": _nps_categories(frame, m)}


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
    present = {_label(v) for v in frame.select(expr.alias("c"))["c"].unique().to_list()}
    preferred = [c for c in ("Promoter", "Passive", "Detractor") if c in present]
    return preferred + sorted(present - set(preferred))


def _nps_mix(frame: pl.DataFrame, segment: str, m: Measures) -> dict[str, dict[str, float]]:
    expr = _nps_category_expr(m)
    if expr is None:
        return {}
    counts = frame.group_by(pl.col(segment), expr.alias("__nps")).len()
    mix: dict[str, dict[str, float]] = {}
    for value, category, n in counts.iter_rows():
        mix.setdefault(_label(value), {})[_label(category)] = n
    return {v: {c: n / sum(cats.values()) for c, n in cats.items()} for v, cats in mix.items()}


# -- are the segments real? --------------------------------------------------------


def _effect_words(epsilon_squared: float) -> str:
    # The usual eta-squared bands, which epsilon-squared shares.
    if epsilon_squared < 0.01:
        return "negligible"
    if epsilon_squared < 0.06:
        return "small"
    if epsilon_squared < 0.14:
        return "moderate"
    return "large"


def _distinctness(frame: pl.DataFrame, decision: Decision, m: Measures, tainted: set[str]) -> dict[str, Any]:
    metrics = []
    for metric, column, label in (("ltv", m.ltv, "LTV"), ("churn", m.churn, m.churn_label)):
        if column is None:
            continue
        metrics.append(_test_metric(frame, decision, metric, column, label,
                                    by_construction=metric == "ltv" and decision.name in tainted))
    return {"decision": decision.name, "metrics": metrics}


def _test_metric(frame: pl.DataFrame, decision: Decision, metric: str, column: str, label: str,
                 *, by_construction: bool) -> dict[str, Any]:
    values = frame.select(pl.col(decision.name), pl.col(column)).drop_nulls(column)
    groups: dict[str, list[float]] = {}
    for value, measure in values.iter_rows():
        groups.setdefault(_label(value), []).append(float(measure))
    order = _ordered_values(decision, list(groups))
    small = [v for v in order if len(groups[v]) < MIN_GROUP]
    tested = [v for v in order if len(groups[v]) >= MIN_GROUP]
    kw = kruskal_wallis([groups[v] for v in tested])
    pairs = []
    for a, b in itertools.combinations(tested, 2):
        mw = mann_whitney(groups[a], groups[b])
        pairs.append({"a": a, "b": b, "n_a": len(groups[a]), "n_b": len(groups[b]), "u": mw.u, "p": mw.p,
                      "cliffs_delta": mw.cliffs_delta, "distinguishable": mw.distinguishable})
    if len(tested) < 2:
        verdict = f"not testable: fewer than two {decision.name} values with {MIN_GROUP}+ accounts with a value"
    elif kw.p >= 0.05:
        verdict = f"not distinguishable: no evidence that {decision.name} values differ in {label}"
    else:
        verdict = f"different ({_effect_words(kw.epsilon_squared)} effect)"
    if by_construction:
        verdict += f"; {decision.name} is computed from LTV, so this is expected"
    return {
        "metric": metric, "label": label, "groups": {v: len(groups[v]) for v in tested}, "too_small": small,
        "medians": {v: _median(groups[v]) for v in tested}, "means": {v: sum(groups[v]) / len(groups[v])
                                                                     for v in tested},
        "h": kw.h, "df": kw.df, "p": kw.p, "epsilon_squared": kw.epsilon_squared, "n": kw.n,
        "effect": _effect_words(kw.epsilon_squared), "verdict": verdict, "by_construction": by_construction,
        "pairs": pairs, "indistinguishable": [[p["a"], p["b"]] for p in pairs if not p["distinguishable"]],
        "delta_threshold": NEGLIGIBLE_DELTA,
    }


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# -- value: the LTV quintile profile -------------------------------------------------


def _value_profile(frame: pl.DataFrame, book: Rulebook, m: Measures, tainted: set[str],
                   decisions: Sequence[Decision]) -> dict[str, Any] | None:
    if m.ltv is None:
        return None
    work = frame.with_columns(ltv_quintile(frame, m.ltv).alias("__q")).filter(pl.col("__q").is_not_null())
    top, bottom = work.filter(pl.col("__q") == 5), work.filter(pl.col("__q") == 1)
    names = [d.name for d in decisions if d.name not in tainted]
    dimensions = [n for n in PROFILE_DIMENSIONS if n in names] or names[:5]
    profile = []
    for name in dimensions:
        shares = {key: _shares(part, name) for key, part in (("top", top), ("bottom", bottom), ("all", work))}
        values = sorted(set(shares["top"]) | set(shares["bottom"]),
                        key=lambda v: -(shares["top"].get(v, 0.0) + shares["bottom"].get(v, 0.0)))
        profile.append({"dimension": name, "values": [
            {"value": v, "top": shares["top"].get(v, 0.0), "bottom": shares["bottom"].get(v, 0.0),
             "all": shares["all"].get(v, 0.0),
             "lift": shares["top"].get(v, 0.0) / shares["all"][v] if shares["all"].get(v) else None}
            for v in values]})
    numeric = []
    for name, kind in book.kinds.items():
        if kind not in NUMERIC or name in tainted or name not in frame.columns or _is_decision(book, name):
            continue
        medians = [part[name].drop_nulls().median() if part.height else None for part in (top, bottom, work)]
        if all(v is None for v in medians):
            continue
        numeric.append({"field": name, "top": medians[0], "bottom": medians[1], "all": medians[2]})
    return {
        "ltv": m.ltv, "with_ltv": work.height, "without_ltv": frame.height - work.height,
        "top_count": top.height, "bottom_count": bottom.height,
        "top_min_ltv": top[m.ltv].min() if top.height else None,
        "bottom_max_ltv": bottom[m.ltv].max() if bottom.height else None,
        "top_ltv_share": _share(float(top[m.ltv].sum()), float(work[m.ltv].sum())),
        "dimensions": profile, "numeric": numeric,
    }


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _is_decision(book: Rulebook, name: str) -> bool:
    return any(d.name == name for d in book.decisions)


def _shares(part: pl.DataFrame, column: str) -> dict[str, float]:
    if not part.height:
        return {}
    counts = part.group_by(column).len()
    return {_label(v): n / part.height for v, n in counts.iter_rows()}


# -- rule coverage -----------------------------------------------------------------


def _coverage(frame: pl.DataFrame, book: Rulebook) -> dict[str, Any]:
    rules = [(d, r) for d in book.decisions for r in d.rules]
    matched = frame.select(
        [r.when.compiled.fill_null(False).sum().alias(str(i)) for i, (_, r) in enumerate(rules)]
    ).row(0) if rules else ()
    counts = {(d.name, r.id): int(n) for (d, r), n in zip(rules, matched, strict=True)}
    decisions = []
    for decision in book.decisions:
        decided = frame.group_by(rule_column(decision.name)).len()
        by_rule = {str(k): int(n) for k, n in decided.iter_rows()}
        entry: dict[str, Any] = {
            "decision": decision.name, "hit": decision.hit,
            "rules": [{"id": r.id, "when": r.when.source, "then": r.then, "matched": counts[(decision.name, r.id)],
                       "decided": by_rule.get(r.id, 0)} for r in decision.rules],
            "default": by_rule.get(DEFAULT, 0) if decision.hit in ("first", "unique") else None,
            "default_value": decision.default, "overridden": by_rule.get(OVERRIDE, 0),
        }
        if decision.hit in ("collect", "sum", "any"):
            entry["none_matched"] = by_rule.get(DEFAULT, 0)
        if decision.hit == "unique":
            entry["conflicts"] = _conflicts(frame, decision)
        decisions.append(entry)
    never = [{"decision": d, "rule": r} for (d, r), n in counts.items() if n == 0]
    return {
        "records": frame.height, "decisions": decisions, "never_matched": never,
        "territories": _territory_counts(frame, book), "lists": [
            {"id": item.id, "name": item.name, "members": int(frame[list_column(item.id)].sum())}
            for item in book.lists if list_column(item.id) in frame.columns],
        "unmapped": _unmapped(frame, book),
    }


def _conflicts(frame: pl.DataFrame, decision: Decision) -> dict[str, Any]:
    rows = frame.filter(pl.col(rule_column(decision.name)) == CONFLICT)
    groups = []
    if rows.height:
        keyed = rows.with_columns(pl.col(conflict_column(decision.name)).list.join(", ").alias("__rules"))
        for key, part in keyed.group_by("__rules"):
            groups.append({"rules": key[0], "count": part.height, "example_ids": part[ID].head(3).to_list()})
        groups.sort(key=lambda g: (-g["count"], g["rules"]))
    return {"count": rows.height, "groups": groups}


def _territory_counts(frame: pl.DataFrame, book: Rulebook) -> dict[str, Any] | None:
    territories = book.territories
    if territories is None or territories.output not in frame.columns:
        return None
    counts = {_label(v): int(n) for v, n in frame.group_by(territories.output).len().iter_rows()}
    leaves = [path[-1].id for path in territories.leaves()]
    return {"output": territories.output, "leaves": [{"id": t, "accounts": counts.get(t, 0)} for t in leaves],
            "unassigned": counts.get(NONE_LABEL, 0), "never_matched": [t for t in leaves if not counts.get(t)]}


def _unmapped(frame: pl.DataFrame, book: Rulebook) -> list[dict[str, Any]]:
    """For mapping decisions (rules read only input fields, some of them text): the text values left to the default."""
    found = []
    for decision in book.decisions:
        symbols = decision.depends_on
        if decision.hit not in ("first", "unique") or not symbols or not symbols <= set(book.fields):
            continue
        text = [s for s in sorted(symbols) if book.fields[s] == FieldType.STRING]
        defaulted = frame.filter(pl.col(rule_column(decision.name)) == DEFAULT)
        for field in text:
            counts = defaulted.group_by(field).len().sort(["len", field], descending=[True, False], nulls_last=True)
            values = [{"value": BLANK_LABEL if v is None else str(v), "count": int(n)} for v, n in counts.iter_rows()]
            found.append({"decision": decision.name, "field": field, "default": decision.default,
                          "records": defaulted.height, "distinct": len(values), "values": values[:TOP_UNMAPPED]})
    return found


# -- change since the previous run ---------------------------------------------------


def _change(project: Project, primary: Decision | None) -> dict[str, Any]:
    path = project.config.state_dir / "ledger.db"
    if not path.exists():
        return {"run": None, "message": "no previous run", "fields": []}
    ledger = Ledger(path)
    try:
        run = next((r for r in ledger.runs(limit=1000)
                    if r.command == "apply" and r.status in ("succeeded", "partial", "interrupted")), None)
        writes = ledger.writes(run.id, "written") if run else None
    finally:
        ledger.close()
    if run is None or writes is None:
        return {"run": None, "message": "no previous run", "fields": []}
    names = {field: name for name, field in project.outputs.items()}
    first = [n for n in (primary.name if primary else None,
                         project.book.territories.output if project.book.territories else None) if n]
    fields = []
    for (field,), part in writes.group_by("field"):
        transitions = (part.group_by("before", "after").len()
                       .sort(["len", "before", "after"], descending=[True, False, False], nulls_last=True))
        fields.append({"field": field, "name": names.get(str(field)), "total": part.height, "transitions": [
            {"before": b, "after": a, "count": n} for b, a, n in transitions.head(TOP_TRANSITIONS).iter_rows()],
            "distinct_transitions": transitions.height})
    fields.sort(key=lambda f: (f["name"] not in first, first.index(f["name"]) if f["name"] in first else 0,
                               -f["total"], str(f["field"])))
    run_info = {"id": run.id, "started_at": run.started_at, "finished_at": run.finished_at, "status": run.status,
                "written": run.written}
    message = f"run {run.id} ({run.started_at[:16].replace('T', ' ')})"
    if writes.is_empty():
        message += " wrote no changes"
    return {"run": run_info, "message": message, "fields": fields}


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
