"""Rule coverage: records matched and decided per rule, defaults, conflicts, territories, lists, unmapped values."""

from __future__ import annotations

from typing import Any

import polars as pl

from revrules.engine.columns import CONFLICT, DEFAULT, OVERRIDE, conflict_column, list_column, rule_column
from revrules.engine.convert import ID, FieldType
from revrules.engine.definitions import Decision, Rulebook
from revrules.report.kpis import NONE_LABEL, label

BLANK_LABEL = "(blank)"
TOP_UNMAPPED = 20


def coverage(frame: pl.DataFrame, book: Rulebook) -> dict[str, Any]:
    """Records matched and decided per rule, defaults, conflicts, territories, lists, and unmapped values."""
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
    # A rule can match many records and still never decide one: an earlier rule always wins.
    never_decide = [{"decision": d["decision"], "rule": r["id"], "matched": r["matched"],
                     "why": "never matches" if not r["matched"] else "shadowed: earlier rules decide every match"}
                    for d in decisions if d["hit"] in ("first", "unique") for r in d["rules"] if not r["decided"]]
    return {
        "records": frame.height, "decisions": decisions, "never_matched": never, "never_decide": never_decide,
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
    counts = {label(v): int(n) for v, n in frame.group_by(territories.output).len().iter_rows()}
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
