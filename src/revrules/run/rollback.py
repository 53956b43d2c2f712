"""Rollback: the changes that restore what a run overwrote, except fields changed since."""

from __future__ import annotations

import polars as pl

from revrules.connectors.protocols import Connector
from revrules.run.changes import CHANGE_SCHEMA, in_change_order
from revrules.run.settle import current_values, holds, split
from revrules.state.ledger import WRITTEN, Ledger


def rollback_changes(ledger: Ledger, connector: Connector, target: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The changes that undo run `target`, and the fields skipped because they changed since."""
    written = ledger.writes(target, WRITTEN, ("id", "field", "before", "after"))
    if written.is_empty():
        return pl.DataFrame(schema=CHANGE_SCHEMA), pl.DataFrame(schema=CHANGE_SCHEMA)
    # The last write of a field in the run wins; undo to the value before the first.
    first = (written if in_change_order(written)
             else written.group_by(["id", "field"], maintain_order=True).agg(pl.col("before").first(),
                                                                             pl.col("after").last()))
    del written
    checked = current_values(connector, first)
    # Usually no field changed since: the changes are then the writes' own columns, not a copy of them.
    kept, moved = split(checked, holds(checked, "after"))
    rule = pl.lit(f"rollback:{target}").alias("rule")
    undo = kept.select("id", "field", pl.col("after").alias("before"), pl.col("before").alias("after"), rule)
    changed = moved.select("id", "field", pl.col("current").alias("before"), pl.col("before").alias("after"), rule)
    return undo, changed


def rollback_lists(ledger: Ledger, target: int) -> pl.DataFrame:
    """List changes that undo the list writes of run `target`."""
    writes = ledger.list_writes(target).filter(pl.col("result") == WRITTEN)
    return writes.select(
        "list", "id",
        pl.when(pl.col("action") == "add").then(pl.lit("remove")).otherwise(pl.lit("add")).alias("action"),
    )
