"""Explain one record: every derived value and decision, the deciding rule, every rule's outcome."""

from __future__ import annotations

from typing import Any

import polars as pl

from revrules.engine.columns import OVERRIDE, conflict_column, list_column, rule_column
from revrules.engine.definitions import Derive, Expression, Rulebook
from revrules.engine.hierarchy import ULTIMATE, family_path
from revrules.engine.people import moved_because, previous_column, status_column
from revrules.engine.routing import FAMILY


def outcome(value: Any) -> str:
    """A three-valued outcome as a word."""
    return "unknown" if value is None else ("true" if value else "false")


def explain_record(book: Rulebook, evaluated: pl.DataFrame, record_id: str) -> dict[str, Any]:
    """The trace of one evaluated record (a row of `evaluate`'s result), as plain data."""
    row_frame = evaluated.filter(pl.col("__id") == record_id).head(1)
    if row_frame.is_empty():
        raise KeyError(record_id)
    row = row_frame.row(0, named=True)
    expressions = dict(book.expressions())
    raw = row_frame.select(
        expr.compiled.alias(label) for label, expr in expressions.items()
    ).row(0, named=True) if expressions else {}

    def trace(label: str, expr: Expression) -> dict[str, Any]:
        return {
            "when": expr.source,
            "outcome": outcome(raw[label]),
            "reads": {name: _plain(row.get(name)) for name in expr.symbols},
        }

    derived = [_derived(d, row) for d in book.derives]
    decisions = []
    for decision in book.decisions:
        entry: dict[str, Any] = {
            "name": decision.name,
            "hit": decision.hit,
            "value": _plain(row.get(decision.name)),
            "rule": row.get(rule_column(decision.name)),
            "rules": [{"id": r.id, "then": r.then, **trace(f"rule {r.id}", r.when)} for r in decision.rules],
        }
        if decision.hit == "unique":
            entry["conflicting_rules"] = row.get(conflict_column(decision.name)) or []
        decisions.append(entry)
    result: dict[str, Any] = {"id": record_id, "derived": derived, "decisions": decisions}
    if ULTIMATE in evaluated.columns:  # a hierarchy was read, or family values were computed
        result["family"] = {"path": family_path(evaluated, record_id), "ultimate": row.get(ULTIMATE)}
    if book.territories is not None:
        territories = book.territories
        result["territory"] = {
            "value": row.get(territories.output),
            "path": [
                {"id": node.id, **trace(f"territory {node.id}", node.when)}
                for node in territories.nodes()
            ],
        }
        follows = territories.families == "together" and row.get(ULTIMATE) not in (None, record_id)
        if follows and row.get(rule_column(territories.output)) != OVERRIDE:
            result["territory"]["family"] = row.get(ULTIMATE)
        if territories.owner_output:
            leaf = next((p[-1] for p in territories.leaves() if p[-1].id == row.get(territories.output)), None)
            output = territories.owner_output
            result["owner"] = {
                "value": row.get(output),
                "why": row.get(rule_column(output)),
                "pool": leaf.pool.id if leaf and leaf.pool else None,
                "overflow": (leaf.overflow_pool.id if leaf.overflow_pool else leaf.overflow_owner) if leaf else None,
                "previous": row.get(previous_column(output)),
                "previous_status": row.get(status_column(output)),
            }
            if row.get(rule_column(output)) == FAMILY:
                result["owner"]["ultimate"] = row.get(ULTIMATE)
            result["owner"]["because"] = moved_because(result["owner"])
    result["lists"] = [
        {"id": m.id, "name": m.name, "member": bool(row.get(list_column(m.id))), **trace(f"list {m.id}", m.when)}
        for m in book.lists
    ]
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _derived(derive: Derive, row: dict[str, Any]) -> dict[str, Any]:
    """How one derived value came about; a lookup names the table row that matched (`zips:14`), or none."""
    if derive.lookup is not None:
        join = derive.lookup
        return {"name": derive.name, "value": _plain(row.get(derive.name)),
                "how": f"lookup {join.table.name}.{join.column} by {join.key.source}",
                "reads": {n: _plain(row.get(n)) for n in join.key.symbols},
                "row": row.get(rule_column(derive.name))}
    if derive.family is not None:
        family = derive.family
        of = family.of.source if family.of else "members"
        how = f"{family.how} of {of}" if family.how in ("parent", "ultimate") else f"family {family.how} of {of}"
        return {"name": derive.name, "value": _plain(row.get(derive.name)), "how": how, "reads": {}}
    if derive.expression is not None:
        how, reads = derive.expression.source, derive.expression.symbols
    else:
        how, reads = f"quantile of {derive.quantile_of} in {derive.buckets} buckets", (derive.quantile_of or "",)
    return {"name": derive.name, "value": _plain(row.get(derive.name)), "how": how,
            "reads": {n: _plain(row.get(n)) for n in reads}}
