"""Account hierarchies: each record's ultimate parent by pointer doubling, and family values as joins."""

from __future__ import annotations

from collections.abc import Callable, Mapping

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
MAX_DEPTH = 64
"""A deeper chain is a data problem (usually a cycle through an old merge), never a crash."""
_ROUNDS = 7  # 2**7 = 128 hops > MAX_DEPTH: every chain that is not too deep reaches its root
Parse = Callable[[Document, PathKey, str, Mapping[str, FieldType], bool], Expression | None]


def resolve_hierarchy(frame: pl.DataFrame, parent: str, source: str) -> tuple[pl.DataFrame, list[QualityIssue]]:
    """Add `__parent`, `__ultimate` and `__depth` to typed records whose column `parent` names a parent id.

    A parent that is not among the records, a cycle, and a chain deeper than `MAX_DEPTH`
    are data-quality issues; those records are the roots of their own families.

    Returns:
        The frame with the three columns, and the issues found (named after `source`).
    """
    ids = frame.select(pl.col(ID))
    raw_parent = pl.col(parent).cast(pl.String).str.strip_chars()
    links = frame.select(ID, raw_parent.alias(PARENT)).with_columns(
        pl.when(pl.col(PARENT).is_in(ids[ID].implode()) & (pl.col(PARENT) != pl.col(ID)))
        .then(pl.col(PARENT)).alias("__known"))
    missing = links.filter(pl.col(PARENT).is_not_null() & (pl.col(PARENT) != "") & pl.col("__known").is_null())
    # Pointer doubling: after round r each record points 2**r hops up (a root points to itself).
    up = links.select(ID, pl.coalesce("__known", ID).alias("__up"),
                      pl.col("__known").is_not_null().cast(pl.Int64).alias(DEPTH))
    for _ in range(_ROUNDS):
        step = up.select(pl.col(ID).alias("__up"), pl.col("__up").alias("__next"), pl.col(DEPTH).alias("__more"))
        up = up.join(step, on="__up", how="left", maintain_order="left").select(
            ID, pl.col("__next").alias("__up"), pl.col(DEPTH) + pl.col("__more"))
    roots = links.filter(pl.col("__known").is_null()).select(pl.col(ID).alias("__up"))
    reached = up.join(roots.with_columns(pl.lit(True).alias("__root")), on="__up", how="left",
                      maintain_order="left").with_columns(links["__known"])
    broken = reached.filter(pl.col("__root").is_null())
    deep = reached.filter(pl.col("__root").is_not_null() & (pl.col(DEPTH) > MAX_DEPTH))
    bad = pl.col("__root").is_null() | (pl.col(DEPTH) > MAX_DEPTH)
    resolved = reached.select(
        pl.when(bad).then(pl.col(ID)).otherwise(pl.col("__up")).alias(ULTIMATE),
        pl.when(bad).then(0).otherwise(pl.col(DEPTH)).alias(DEPTH))
    parents = reached.select(pl.when(bad.not_()).then(pl.col("__known")).alias(PARENT)).to_series()
    result = frame.with_columns(resolved.to_series(0), resolved.to_series(1), parents)
    issues = [QualityIssue(what, source, found.height, str(found[ID].min()))
              for what, found in (("parent not found", missing), ("hierarchy cycle", broken),
                                  (f"hierarchy deeper than {MAX_DEPTH}", deep)) if not found.is_empty()]
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
    """Add one family derive: a window over the ultimate parent's family, or a join to a parent's row."""
    of = value.of.compiled if value.of is not None else pl.lit(True)
    if value.how in ("parent", "ultimate"):
        link = PARENT if value.how == "parent" else ULTIMATE
        upper = lazy.select(pl.col(ID).alias(link), of.alias(name))
        return lazy.join(upper, on=link, how="left", maintain_order="left")
    family = {
        "count": of.fill_null(False).cast(pl.Float64).sum() if value.of is not None else pl.len().cast(pl.Float64),
        "sum": clean_expr(of.sum()),  # decimal semantics: a family's ARR carries no float noise
        "min": of.min(),
        "max": of.max(),
        "any": of.fill_null(False).any(),
    }[value.how]
    return lazy.with_columns(family.over(ULTIMATE).alias(name))


def ensure_families(frame: pl.DataFrame) -> pl.DataFrame:
    """Without a hierarchy (a rulebook test, a config without `hierarchy:`), every record is its own family."""
    if ULTIMATE in frame.columns:
        return frame
    return frame.with_columns(pl.lit(None, pl.String).alias(PARENT), pl.col(ID).alias(ULTIMATE),
                              pl.lit(0, pl.Int64).alias(DEPTH))


def family_path(evaluated: pl.DataFrame, record_id: str) -> list[str]:
    """The ids from a record up to its ultimate parent (explain walks one record, so a short loop is fine)."""
    if PARENT not in evaluated.columns:
        return [record_id]
    parents = dict(evaluated.filter(pl.col(PARENT).is_not_null()).select(ID, PARENT).iter_rows())
    path = [record_id]
    while path[-1] in parents and len(path) <= MAX_DEPTH:
        path.append(parents[path[-1]])
    return path
