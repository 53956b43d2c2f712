"""Findings on a population of records: rules that never hold or never decide, input values no rule maps."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import polars as pl

from revrules.engine.columns import DEFAULT, OVERRIDE, rule_column
from revrules.engine.convert import ID
from revrules.engine.definitions import Decision, Rule, Rulebook
from revrules.engine.lint.findings import Finding, location

BLANK = "(blank)"
TOP_VALUES = 5
"""Unmapped values named in a finding's message; the JSON lists up to the report's own top list."""


def population_findings(book: Rulebook, evaluated: pl.DataFrame, coverage: Mapping[str, Any],
                        static: Collection[tuple[str, str]] = ()) -> list[Finding]:
    """RR201-RR203 from the report's rule coverage of an evaluated population.

    Args:
        book: The rulebook that was evaluated.
        evaluated: `evaluate`'s frame over the population (rule columns included).
        coverage: `report.coverage.coverage(evaluated, book)`: its `never_matched`,
            `never_decide` and `unmapped` are what these findings restate.
        static: (code, target) of the static findings; a rule already proved never to
            hold (RR107) or never to decide (RR101) is not reported again.

    Returns:
        Findings in rulebook order; witnesses are record ids (`revrules explain ID`).
    """
    rules = {(d.name, r.id): (d, r) for d in book.decisions for r in d.rules}
    found: list[Finding] = []
    records = int(coverage["records"])
    for entry in coverage["never_matched"]:
        decision, rule = rules[(entry["decision"], entry["rule"])]
        if ("RR107", rule.id) not in static and records:
            found.append(_finding("RR201", decision, rule, rule.id,
                                  f"rule '{rule.id}' held for none of the {records:,} records read: "
                                  f"`{rule.when.source}`", None, {}))
    for entry in coverage["never_decide"]:
        if not entry["matched"]:
            continue
        decision, rule = rules[(entry["decision"], entry["rule"])]
        if ("RR101", rule.id) in static:
            continue
        held = evaluated.filter(rule.when.compiled.fill_null(False)).get_column(ID).head(1).to_list()
        why = ("another rule held too each time (a unique conflict)" if decision.hit == "unique"
               else "earlier rules decided each of them")
        found.append(_finding("RR202", decision, rule, rule.id,
                              f"rule '{rule.id}' held for {entry['matched']:,} records but decided none: {why}",
                              held[0] if held else None,
                              {"true": [[decision.name, rule.id]], "decider_not": [decision.name, rule.id]}))
    decisions = {d.name: d for d in book.decisions}
    for entry in coverage["unmapped"]:
        finding = _unmapped(decisions[entry["decision"]], entry, evaluated)
        if finding is not None:
            found.append(finding)
    return found


def _unmapped(decision: Decision, entry: Mapping[str, Any], evaluated: pl.DataFrame) -> Finding | None:
    """The values of one input that reach the default and that no rule decided for any record."""
    field, column = entry["field"], rule_column(decision.name)
    # A value some rule decides for other records is mapped: another input sent these to the default.
    mapped = evaluated.filter(~pl.col(column).is_in([DEFAULT, OVERRIDE])).get_column(field).drop_nulls().unique()
    shown = {str(v) for v in mapped.to_list()}
    values = [v for v in entry["values"] if v["value"] not in shown]
    if not values:
        return None
    first = values[0]["value"]
    blank = first == BLANK  # the report's label of a missing value
    example = evaluated.filter((pl.col(column) == DEFAULT)
                               & (pl.col(field).is_null() if blank else pl.col(field).cast(pl.String) == first))
    record = example.get_column(ID).head(1).to_list()
    listed = ", ".join(f"{'blank' if v['value'] == BLANK else repr(v['value'])} ({v['count']:,})"
                       for v in values[:TOP_VALUES])
    # The report keeps the top values only: past them, the count of the rest is not known.
    rest = len(values) - TOP_VALUES
    more = (", and more" if entry["distinct"] > len(entry["values"]) else f", and {rest} more") if rest > 0 else ""
    default = "no value" if entry["default"] is None else f"the default {entry['default']!r}"
    message = f"{field} values no rule of {decision.name} maps, which get {default}: {listed}{more}"
    return _finding("RR203", decision, decision.rules[0], f"{decision.name}.{field}", message,
                    record[0] if record else None, {"decider": [decision.name, DEFAULT]},
                    values=values)


def _finding(code: str, decision: Decision, rule: Rule, target: str, message: str,  # noqa: PLR0917
             record: str | None, claim: dict[str, Any], *, values: list[dict[str, Any]] | None = None) -> Finding:
    file, line, col = location(rule.when.where)
    return Finding(code, file, line, col, f"decision {decision.name}", target, message, None, claim,
                   record=record, values=values)
