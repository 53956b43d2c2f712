"""Lookup rows that match no record read: stale ZIP codes, churned named accounts (issue 21)."""

from __future__ import annotations

import polars as pl

from revrules.engine.columns import rule_column
from revrules.engine.lookups import LINE
from revrules.project import Project
from revrules.run.read import read_all


def unmatched_lookup_rows(project: Project, evaluated: pl.DataFrame | None = None) -> list[str]:
    """Say per lookup table how many rows no record matched.

    Args:
        project: The project whose lookup joins are checked.
        evaluated: The records, read and evaluated; when None (and the rulebook joins a
            lookup), every record is read and evaluated here.

    Returns:
        One line per table with unmatched rows, naming the first few CSV lines (never a
        record's values: only the table's own rows are shown).
    """
    joins = [(d.name, d.lookup) for d in project.book.derives if d.lookup is not None]
    if not joins:
        return []
    if evaluated is None:
        evaluated = project.evaluate(read_all(project, project.connector()).typed)
    used: dict[str, set[int]] = {}
    for name, join in joins:
        matched = evaluated[rule_column(name)].drop_nulls().unique().str.split(":").list.last().cast(pl.Int64)
        used.setdefault(join.table.name, set()).update(matched.to_list())
    lines = []
    for table in {join.table.name: join.table for _name, join in joins}.values():
        unmatched = table.table.filter(~pl.col(LINE).is_in(sorted(used[table.name])))[LINE].sort()
        if not unmatched.is_empty():
            shown = ", ".join(map(str, unmatched.head(5).to_list())) + (", ..." if unmatched.len() > 5 else "")
            lines.append(f"lookup {table.name} ({table.file}): {unmatched.len():,} of {table.table.height:,} "
                         f"row(s) match no record (lines {shown})")
    return lines
