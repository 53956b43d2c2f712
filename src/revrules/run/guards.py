"""Safety guards that refuse an apply before anything is written (exit 3 unless --force)."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from revrules.project import Project
from revrules.run.plan import Plan


def max_changed_records(project: Project, records_read: int) -> int | None:
    """`safety.max_changed_records` as a count of records, or None when unlimited."""
    limit = project.config.model.safety.max_changed_records
    if limit is None:
        return None
    if isinstance(limit, str):
        return int(records_read * float(limit.rstrip("%")) / 100)
    return limit


def changed_records_refusal(project: Project, plan: Plan) -> str | None:
    """Why the plan changes too many records, or None when it is within the limit."""
    limit = max_changed_records(project, plan.meta.records_read)
    if limit is None or plan.changed_records <= limit:
        return None
    return (f"the plan changes {plan.changed_records:,} records, more than safety.max_changed_records "
            f"allows ({limit:,}); review it and pass --force to apply anyway")


def list_guard(project: Project, plan: Plan, sizes: Mapping[str, int]) -> str | None:
    """Why `safety.max_list_change` refuses the plan's list changes, or None; `sizes`: each list's members now."""
    limit = project.config.model.safety.max_list_change
    if limit is None or plan.list_changes.is_empty():
        return None
    for (list_id,), group in plan.list_changes.group_by("list", maintain_order=True):
        before = sizes.get(str(list_id), 0)
        adds = group.filter(pl.col("action") == "add").height
        removes = group.height - adds
        if isinstance(limit, str):
            if before == 0:
                continue  # a new list: a percentage of nothing cannot be the measure
            allowed = int(before * float(limit.rstrip("%")) / 100)
        else:
            allowed = limit
        if group.height > allowed:
            return (f"the plan adds {adds:,} and removes {removes:,} member(s) of list {list_id} "
                    f"({before:,} now), more than safety.max_list_change allows ({allowed:,} per list); "
                    "review it and pass --force to apply anyway")
    return None
