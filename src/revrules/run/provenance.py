"""Provenance that fits its field: the line in its full form, or compact when the field is too short."""

from __future__ import annotations

import polars as pl

from revrules.engine.columns import rule_column
from revrules.project import Project

CUT_MARKER = " +"
"""Ends a compact provenance line that had to leave rule ids out, followed by how many."""
MARKER_ROOM = len(CUT_MARKER) + 3
"""Characters kept free for the marker and a count of up to 999 rule ids."""
TOO_LONG_SCHEMA = pl.Schema({"id": pl.String, "field": pl.String, "length": pl.Int64, "limit": pl.Int64})


def hash_tag(project: Project) -> str:
    """`@rulebook:3f2a9c1`: the rulebook version every provenance line ends or starts with."""
    return f"@rulebook:{project.book.hash[:7]}"


def shortest_compact(project: Project) -> int:
    """The fewest characters a compact provenance line needs: the hash tag and the cut marker."""
    return len(hash_tag(project)) + MARKER_ROOM


def provenance_line(frame: pl.DataFrame, project: Project, limit: int | None = None) -> pl.Expr:
    """Each record's provenance, never longer than `limit` characters.

    The full form names each output and its deciding rule,
    `segment=enterprise territory=NA-ENT @rulebook:3f2a9c1`. When that is longer than the
    field holds, the compact form keeps the hash and the distinct rule ids, shortest first
    so that the most fit, and ends with ` +N` when N ids were left out:
    `@rulebook:3f2a9c1 emea ent high-fit +4`.
    """
    names = [name for name in project.outputs if rule_column(name) in frame.columns]
    parts: list[pl.Expr] = []
    for name in names:
        parts += [pl.lit(f"{name}="), pl.col(rule_column(name)).fill_null("none"), pl.lit(" ")]
    parts.append(pl.lit(hash_tag(project)))
    full = pl.concat_str(parts)
    if limit is None:
        return full
    return pl.when(full.str.len_chars() <= limit).then(full).otherwise(_compact(names, project, limit))


def _compact(names: list[str], project: Project, limit: int) -> pl.Expr:
    tag = hash_tag(project)
    if not names:
        return pl.lit(tag[:limit])
    # Each kept id costs its length plus a separating space.
    room_all = limit - len(tag)
    room_cut = room_all - MARKER_ROOM
    # One `list.eval` works out the whole tail of each line: an expression tree that refers to
    # the ids list several times is evaluated once per reference (10 s for 50,000 records).
    rule_id = pl.element()
    ends = (rule_id.str.len_chars() + 1).cum_sum()
    total = pl.len()
    kept = pl.when((ends <= room_all).sum() == total).then(total).otherwise((ends <= room_cut).sum())
    words = pl.concat_str([pl.lit(" "), rule_id]).filter(pl.int_range(pl.len()) < kept).str.join("")
    cut = pl.when(kept < total).then(pl.concat_str([pl.lit(CUT_MARKER), (total - kept).cast(pl.String)])
                                     ).otherwise(pl.lit(""))
    tail = (pl.concat_list([pl.col(rule_column(name)).cast(pl.String) for name in names])
            .list.drop_nulls().list.unique(maintain_order=True)
            .list.eval(rule_id.sort_by([rule_id.str.len_chars(), rule_id]))
            .list.eval(pl.concat_str([words, cut])).list.first())
    return pl.concat_str([pl.lit(tag), tail.fill_null("")]).str.slice(0, limit)
