"""Per-field write policies: which planned changes an output's policy holds back (issue 21)."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from revrules.config import OutputModel

HELD_SCHEMA = pl.Schema({"id": pl.String, "field": pl.String, "before": pl.String, "after": pl.String,
                         "rule": pl.String, "policy": pl.String})


def may_hold(policy: OutputModel, before: pl.Expr, after: pl.Expr) -> pl.Expr | None:
    """Which changes (CRM text `before`, written text `after`) the policy might hold back; None: none."""
    # Every policy holds back only a change over a value the CRM holds: a first enrichment checks nothing.
    if policy.write == "if_blank" or policy.never_overwrite:
        return before.is_not_null()
    if policy.on_null == "keep":
        return before.is_not_null() & after.is_null()
    return None


def hold_back_by_policy(changes: pl.DataFrame,
                        policies: Mapping[str, OutputModel]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split changes into those their field's policy lets through and those it holds back.

    Args:
        changes: `id, field, before, after, rule`, with `before`/`after` as CRM text.
        policies: CRM field -> the policy of the output written to it.

    Returns:
        The changes to send, and the held ones with a `policy` column naming what held each
        back (`if_blank`, `never_overwrite`, `on_null: keep`).
    """
    if changes.is_empty() or not policies:
        return changes, pl.DataFrame(schema=HELD_SCHEMA)
    before = pl.col("before").str.strip_chars()
    filled = before.is_not_null() & (before != "")
    reasons: list[pl.Expr] = []
    for field, policy in policies.items():
        mine = pl.col("field") == field
        # Checked in this order so a held change names the policy a person would look for first.
        if policy.write == "if_blank":
            reasons.append(pl.when(mine & filled).then(pl.lit("if_blank")))
        if policy.never_overwrite:
            protected = before.is_in([v.strip() for v in policy.never_overwrite])
            reasons.append(pl.when(mine & protected.fill_null(False)).then(pl.lit("never_overwrite")))
        if policy.on_null == "keep":
            # A rule that produces nothing is no reason to erase what the CRM holds.
            reasons.append(pl.when(mine & filled & pl.col("after").is_null()).then(pl.lit("on_null: keep")))
    if not reasons:
        return changes, pl.DataFrame(schema=HELD_SCHEMA)
    marked = changes.with_columns(pl.coalesce(reasons).alias("policy"))
    held = marked.filter(pl.col("policy").is_not_null()).select(HELD_SCHEMA.names())
    return marked.filter(pl.col("policy").is_null()).select(changes.columns), held.cast(HELD_SCHEMA)
