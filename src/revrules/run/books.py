"""Book report: per owner and per territory, what a plan changes (accounts and value before and after)."""

from __future__ import annotations

import polars as pl

from revrules.connectors.base import ID
from revrules.engine.people import status_column
from revrules.project import CURRENT_OWNER, Project
from revrules.run.read import Snapshot

OWNER_SCHEMA = pl.Schema({"owner": pl.String(), "accounts_before": pl.Int64(), "accounts_after": pl.Int64(),
                          "gained": pl.Int64(), "lost": pl.Int64(), "value_before": pl.Float64(),
                          "value_after": pl.Float64(), "status": pl.String()})
TERRITORY_SCHEMA = pl.Schema({"territory": pl.String(), "accounts_before": pl.Int64(),
                              "accounts_after": pl.Int64()})


def owner_books(project: Project, evaluated: pl.DataFrame) -> pl.DataFrame:
    """Each owner's accounts (and value, with `territories.value`) before and after, gained and lost.

    An account the plan leaves without an owner keeps its current one, as the CRM will.
    `status` says whether an owner is active, away until a date, gone, or unknown in the CRM.
    """
    territories = project.book.territories
    if territories is None or project.owner_output is None or CURRENT_OWNER not in evaluated.columns:
        return pl.DataFrame(schema=OWNER_SCHEMA)
    value = pl.col(territories.value).fill_null(0.0) if territories.value else pl.lit(0.0)
    frame = evaluated.select(
        pl.col(CURRENT_OWNER).alias("before"),
        pl.coalesce(territories.owner_output, CURRENT_OWNER).alias("after"),
        value.cast(pl.Float64).alias("value"),
        _previous_status(territories.owner_output or "", evaluated).alias("status"),
    )
    before = frame.group_by("before").agg(pl.len().alias("accounts_before"),
                                          pl.col("value").sum().alias("value_before"), pl.col("status").first())
    after = frame.group_by("after").agg(pl.len().alias("accounts_after"), pl.col("value").sum().alias("value_after"))
    moved = frame.filter(pl.col("before").ne_missing(pl.col("after")))
    gained = moved.group_by("after").agg(pl.len().alias("gained"))
    lost = moved.group_by("before").agg(pl.len().alias("lost"))
    owners = pl.concat([before.select(pl.col("before").alias("owner")), after.select(pl.col("after").alias("owner"))])
    books = (
        owners.unique().drop_nulls()
        .join(before, left_on="owner", right_on="before", how="left")
        .join(after, left_on="owner", right_on="after", how="left")
        .join(gained, left_on="owner", right_on="after", how="left")
        .join(lost, left_on="owner", right_on="before", how="left")
        .with_columns(pl.col("status").fill_null("active"))
        .fill_null(0)
        .sort("owner")
    )
    return books.select(OWNER_SCHEMA.names()).cast(OWNER_SCHEMA)


def _previous_status(owner_output: str, evaluated: pl.DataFrame) -> pl.Expr:
    column = status_column(owner_output)
    return pl.col(column) if column in evaluated.columns else pl.lit(None, dtype=pl.String)


def territory_books(project: Project, snapshot: Snapshot, evaluated: pl.DataFrame) -> pl.DataFrame:
    """Accounts per territory before (the CRM's territory field) and after."""
    territories = project.book.territories
    if territories is None:
        return pl.DataFrame(schema=TERRITORY_SCHEMA)
    field = project.outputs.get(territories.output)
    after = evaluated.group_by(territories.output).agg(pl.len().alias("accounts_after"))
    after = after.rename({territories.output: "territory"})
    if field is None or field not in snapshot.raw.columns:
        before = pl.DataFrame(schema={"territory": pl.String, "accounts_before": pl.UInt32})
    else:
        current = snapshot.raw.select(ID, pl.col(field).str.strip_chars().alias("territory"))
        before = current.group_by("territory").agg(pl.len().alias("accounts_before"))
    books = before.join(after, on="territory", how="full", coalesce=True, nulls_equal=True).fill_null(0)
    return books.sort("territory", nulls_last=True).select(TERRITORY_SCHEMA.names()).cast(TERRITORY_SCHEMA)
