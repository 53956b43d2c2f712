"""The plan as Markdown for a pull-request comment (`plan --format markdown`)."""

from __future__ import annotations

from typing import Any

import polars as pl

from revrules.cli.render import transitions, transitions_by_field
from revrules.run.plan import Plan

TOP_TRANSITIONS = 10
"""Transitions listed per field: a comment is a summary; `plan --show ID` has the rest."""
MAX_OWNERS = 20


def _cell(value: Any) -> str:
    text = "_(empty)_" if value is None or value == "" else str(value)
    # A pipe or a newline would end the table cell early.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def plan_markdown(plan: Plan, source: str) -> str:
    """Counts per field, top transitions, owner book moves and data-quality lines, as GitHub Markdown."""
    meta = plan.meta
    lines = ["### revrules plan", ""]
    if plan.is_empty:
        lines.append(f"Read {meta.records_read:,} records from `{source}`. **No changes.** The CRM matches the "
                     "rulebook.")
    else:
        lines.append(f"Read {meta.records_read:,} records from `{source}`. **{plan.changed_records:,} record(s) to "
                     f"change**: {plan.changes.height:,} field change(s), {plan.list_changes.height:,} list "
                     "membership change(s).")
    lines.append(f"Rulebook `{meta.rulebook_hash[:7]}`, config `{meta.config_hash[:7]}`.")
    if not plan.changes.is_empty():
        by_field = transitions_by_field(plan.changes)
        lines += ["", "| field | records |", "|---|---:|"]
        lines += [f"| `{_cell(field)}` | {count:,} |" for field, count, _ in by_field]
        lines += ["", "<details><summary>Top transitions</summary>", "",
                  "| field | before | after | records |", "|---|---|---|---:|"]
        for field, count, found in by_field:
            shown, more, more_records = transitions(found, count)
            for before, after, n in shown.head(TOP_TRANSITIONS).iter_rows():
                lines.append(f"| `{_cell(field)}` | {_cell(before)} | {_cell(after)} | {n:,} |")
            hidden = shown.slice(TOP_TRANSITIONS)
            if more or hidden.height:
                others = more + hidden.height
                records = more_records + (int(hidden["len"].sum()) if hidden.height else 0)
                lines.append(f"| `{_cell(field)}` | … and {others:,} more | | {records:,} |")
        lines += ["", "</details>"]
    lines += _related(plan) + _lists(plan) + _owners(plan) + _quality(plan)
    return "\n".join(lines)


def _related(plan: Plan) -> list[str]:
    """Contacts and open deals following their account's new owner (`owner_change`), counted by object."""
    if plan.related.is_empty():
        return []
    lines = ["", "**Related records following their account's new owner**", "", "| object | records |", "|---|---:|"]
    for (name,), group in plan.related.group_by("object", maintain_order=True):
        lines.append(f"| `{_cell(name)}` | {group.height:,} |")
    return lines


def _lists(plan: Plan) -> list[str]:
    if plan.list_changes.is_empty():
        return []
    lines = ["", "**Marketing lists**", "", "| list | added | removed |", "|---|---:|---:|"]
    for (list_id,), group in plan.list_changes.group_by("list", maintain_order=True):
        adds = group.filter(pl.col("action") == "add").height
        lines.append(f"| `{_cell(list_id)}` | {adds:,} | {group.height - adds:,} |")
    return lines


def _owners(plan: Plan) -> list[str]:
    moved = plan.owner_books.filter((pl.col("gained") > 0) | (pl.col("lost") > 0))
    if moved.is_empty():
        return []
    lines = ["", "**Owner book moves**", "", "| owner | accounts before | after | gained | lost |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| `{_cell(r['owner'])}` | {r['accounts_before']:,} | {r['accounts_after']:,} | +{r['gained']:,} | "
              f"-{r['lost']:,} |" for r in moved.head(MAX_OWNERS).iter_rows(named=True)]
    if moved.height > MAX_OWNERS:
        lines.append(f"| … and {moved.height - MAX_OWNERS:,} more owners | | | | |")
    return lines


def _quality(plan: Plan) -> list[str]:
    if not plan.quality:
        return []
    lines = ["", "**Data quality** (values that could not be converted are treated as empty)", ""]
    lines += [f"- `{_cell(q.field)}` (`{_cell(q.source)}`): {q.count:,} value(s), e.g. record `{_cell(q.example_id)}`"
              for q in plan.quality]
    return lines
