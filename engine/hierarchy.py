"""Account hierarchies: each record's ultimate parent by pointer doubling, and family values as joins."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import polars as pl

from revrules.engine import model
from revrules.engine.arithmetic import clean_expr
from revrules.engine.convert import ID, FieldType, QualityIssue
from revrules.engine.definitions import Expression, FamilyValue
from revrules.engine.yamlstrict import Document, PathKey
from revrules.errors import Problem

PARENT = "__parent"
ULTIMATE = "__ultimate"
DEPTH = "__depth"
CONTEXT = "__context"
"""True for a record read only to complete a family (a parent outside the records read): read, never planned."""
UNIT = "__unit"
"""The record a family member is routed with: its ultimate parent, or itself when it has a routing override."""
MAX_DEPTH = 64
"""A deeper chain is a data problem (usually a cycle through an old merge), never a crash."""
_ROW, _PARENT_ROW, _ULTIMATE_ROW = "__row", "__parent_row", "__ultimate_row"
_ROUNDS = 7  # 2**7 = 128 hops > MAX_DEPTH: every chain that is not too deep reaches its root
Parse = Callable[[Document, PathKey, str, Mapping[str, FieldType], bool], Expression | None]


def resolve_hierarchy(frame: pl.DataFrame, parent: str, source: str) -> tuple[pl.DataFrame, list[QualityIssue]]:
    """Add `__parent`, `__ultimate` and `__depth` to typed records whose column `parent` names a parent id.

    A parent that is not among the records, a cycle, and a chain deeper than `MAX_DEPTH`
    are data-quality issues; those records are the roots of their own families.

    Returns:
        The frame with the three columns, and the issues found (named after `source`).
    """
    rows = frame.select(pl.col(ID).alias(PARENT)).with_row_index(_PARENT_ROW)
    named = frame.select(pl.col(parent).cast(pl.String).str.strip_chars().alias(PARENT))
    # Most accounts have no parent: only the ids that are named are looked for among the records.
    links = named.with_row_index(_ROW).filter(pl.col(PARENT).is_not_null()).join(rows, on=PARENT, how="inner")
    own = np.arange(frame.height, dtype=np.int64)
    found = np.full(frame.height, -1, dtype=np.int64)
    found[links[_ROW].to_numpy()] = links[_PARENT_ROW].to_numpy()
    known = (found >= 0) & (found != own)
    # Pointer doubling on row positions: after round r each record points 2**r hops up, a root at itself.
    up = np.where(known, found, own)
    depth = known.astype(np.int64)
    for _ in range(_ROUNDS):
        depth = depth + depth[up]
        up = up[up]
    reached = ~known[up]
    ok = reached & (depth <= MAX_DEPTH)
    ids = frame[ID]
    ultimate_rows = pl.Series(_ULTIMATE_ROW, np.where(ok, up, own), dtype=pl.Int64)
    parent_rows = pl.Series(_PARENT_ROW, np.where(ok & known, found, -1), dtype=pl.Int64).replace(-1, None)
    result = frame.with_columns(ids.gather(parent_rows).alias(PARENT), ids.gather(ultimate_rows).alias(ULTIMATE),
                                pl.Series(DEPTH, np.where(ok, depth, 0)), parent_rows, ultimate_rows)
    raw = named[PARENT]
    missing = (raw.is_not_null() & (raw != "")).to_numpy() & (found < 0)
    issues = [QualityIssue(what, source, int(mask.sum()), str(ids.filter(pl.Series(mask)).min()))
              for what, mask in (("parent not found", missing), ("hierarchy cycle", ~reached),
                                 (f"hierarchy deeper than {MAX_DEPTH}", reached & (depth > MAX_DEPTH)))
              if mask.any()]
    return result, issues


def family_value(doc: Document, path: PathKey, spec: model.FamilyModel | model.RelativeModel, *,
                 names: Mapping[str, FieldType], parse: Parse) -> tuple[FamilyValue | None, FieldType, list[Problem]]:
    """Check a family derive: `{family: count|sum|min|max|any, of: EXPR}` or `{parent|ultimate: EXPR}`."""
    if isinstance(spec, model.RelativeModel):
        how, text = ("parent", spec.parent) if spec.parent is not None else ("ultimate", spec.ultimate or "")
        key = "parent" if how == "parent" else "ultimate"
        of = parse(doc, (*path, key), text, names, False)
        return (FamilyValue(how, of), of.kind, []) if of is not None else (None, FieldType.STRING, [])
    if spec.of is None:
        if spec.family != "count":
            return None, FieldType.NUMBER, [doc.problem((*path, "family"), f"family {spec.family} needs `of:`")]
        return FamilyValue("count", None), FieldType.NUMBER, []
    condition = spec.family in ("any", "count")
    of = parse(doc, (*path, "of"), spec.of, names, condition)
    if of is None:
        return None, FieldType.NUMBER, []
    if spec.family == "sum" and of.kind not in (FieldType.NUMBER, FieldType.INTEGER):
        return None, FieldType.NUMBER, [doc.problem((*path, "of"), f"family sum needs a number, not a {of.kind.value}")]
    if spec.family in ("min", "max") and of.kind not in (FieldType.NUMBER, FieldType.INTEGER, FieldType.DATE,
                                                          FieldType.DATETIME):
        message = f"family {spec.family} needs a number or a date, not a {of.kind.value}"
        return None, FieldType.NUMBER, [doc.problem((*path, "of"), message)]
    kind = {"any": FieldType.BOOLEAN, "count": FieldType.NUMBER, "sum": FieldType.NUMBER}.get(spec.family, of.kind)
    return FamilyValue(spec.family, of), kind, []


def with_family_value(lazy: pl.LazyFrame, name: str, value: FamilyValue) -> pl.LazyFrame:
    """Add one family derive: a window over the ultimate parent's family, or a gather from a parent's row."""
    of = value.of.compiled if value.of is not None else pl.lit(True)
    if value.how in ("parent", "ultimate"):
        return lazy.with_columns(of.gather(pl.col(_PARENT_ROW if value.how == "parent" else _ULTIMATE_ROW))
                                 .alias(name))
    family = {
        "count": of.fill_null(False).cast(pl.Float64).sum() if value.of is not None else pl.len().cast(pl.Float64),
        "sum": clean_expr(of.sum()),  # decimal semantics: a family's ARR carries no float noise
        "min": of.min(),
        "max": of.max(),
        "any": of.fill_null(False).any(),
    }[value.how]
    return lazy.with_columns(family.over(_ULTIMATE_ROW).alias(name))


def with_family_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Row positions of each record's parent and ultimate parent, for gathers and integer-keyed windows.

    Without a hierarchy (a rulebook test, a config without `hierarchy:`) every record is its
    own family. The positions `resolve_hierarchy` took are checked, cheaply, to still point
    at the right ids: rows that moved in between are found again by a join.
    """
    if ULTIMATE not in frame.columns:
        return frame.with_columns(pl.lit(None, pl.String).alias(PARENT), pl.col(ID).alias(ULTIMATE),
                                  pl.lit(0, pl.Int64).alias(DEPTH), pl.lit(None, pl.Int64).alias(_PARENT_ROW),
                                  pl.int_range(pl.len(), dtype=pl.Int64).alias(_ULTIMATE_ROW))
    if _ULTIMATE_ROW in frame.columns and frame.select(
            pl.col(ID).gather(pl.col(_ULTIMATE_ROW)).eq(pl.col(ULTIMATE)).all()
            & pl.col(ID).gather(pl.col(_PARENT_ROW)).eq_missing(pl.col(PARENT)).all()).item():
        return frame
    rows = frame.select(ID).with_row_index("__position").with_columns(pl.col("__position").cast(pl.Int64))
    for column, position in ((PARENT, _PARENT_ROW), (ULTIMATE, _ULTIMATE_ROW)):
        found = rows.rename({ID: column, "__position": position})
        frame = frame.drop(position, strict=False).join(found, on=column, how="left", maintain_order="left")
    return frame


def ultimate_rows(frame: pl.DataFrame) -> pl.Series | None:
    """The row position of each record's ultimate parent, when `frame` holds positions that still point right.

    `resolve_hierarchy` and `with_family_rows` leave them; checking them is one gather,
    against a join on the ids to find them again. None when they are missing or stale.
    """
    if _ULTIMATE_ROW not in frame.columns or ULTIMATE not in frame.columns:
        return None
    rows = frame.get_column(_ULTIMATE_ROW)
    valid = frame.select(pl.col(_ULTIMATE_ROW).is_not_null().all()
                         & pl.col(ID).gather(pl.col(_ULTIMATE_ROW)).eq(pl.col(ULTIMATE)).all()).item()
    return rows if valid else None


def drop_family_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Remove the positions `with_family_rows` added: they mean nothing once rows move."""
    return frame.drop(_PARENT_ROW, _ULTIMATE_ROW)


def without_context(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` without the records read only to complete families."""
    if CONTEXT not in frame.columns:
        return frame
    return frame.filter(~pl.col(CONTEXT)).drop(CONTEXT)


def family_path(evaluated: pl.DataFrame, record_id: str) -> list[str]:
    """The ids from a record up to its ultimate parent (explain walks one record, so a short loop is fine)."""
    if PARENT not in evaluated.columns:
        return [record_id]
    parents = dict(evaluated.filter(pl.col(PARENT).is_not_null()).select(ID, PARENT).iter_rows())
    path = [record_id]
    while path[-1] in parents and len(path) <= MAX_DEPTH:
        path.append(parents[path[-1]])
    return path
