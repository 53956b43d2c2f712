"""Lookup tables beside a rulebook: loaded, typed and checked with file:line problems, and joined to records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl

from revrules.engine import model
from revrules.engine.convert import ID, FieldSpec, FieldType, convert_frame
from revrules.engine.definitions import Expression, LookupJoin, LookupTable
from revrules.engine.yamlstrict import Document, PathKey
from revrules.errors import Problem, did_you_mean

KEY = "__key"
LINE = "__line"
_PLACE = "__lookup_place"
MAX_LISTED = 10
Parse = Callable[[Document, PathKey, str, Mapping[str, FieldType]], Expression | None]


def normal_key(text: pl.Expr) -> pl.Expr:
    """Keys compare trimmed and case-folded, so `ca`, ` CA` and `Ca` are one state."""
    return text.str.strip_chars().str.to_lowercase()


def load_lookup(doc: Document, folder: Path, display: str, name: str,
                spec: model.LookupModel) -> tuple[LookupTable | None, list[Problem]]:
    """Read and check one `lookups:` entry.

    Args:
        doc: The rulebook file declaring it, for problems about the declaration.
        folder: The rulebook file's folder: `file` is relative to it.
        display: How problems name the CSV file (relative to the working directory).
        name: The lookup's name.
        spec: The declaration.

    Returns:
        The table, or None with every problem found: a missing file or column, a value
        that does not convert to its column's type, empty or duplicate keys.
    """
    where: PathKey = ("lookups", name)
    path = folder / spec.file
    if not path.is_file():
        return None, [doc.problem((*where, "file"), f"lookup file {spec.file} not found in {folder}")]
    try:
        raw = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, OSError) as exc:
        return None, [doc.problem((*where, "file"), f"cannot read {spec.file} as CSV ({exc})")]
    raw = raw.rename({c: c.lstrip("\ufeff").strip() for c in raw.columns})
    problems = _column_problems(doc, where, spec, raw.columns)
    if problems:
        return None, problems
    kinds = {c: FieldType(spec.types.get(c, "string")) for c in raw.columns if c != spec.key}
    if spec.priority:
        kinds[spec.priority] = FieldType(spec.types.get(spec.priority, "number"))
    # The header is line 1, so a record's line is its index + 2: what an editor shows.
    lines = pl.int_range(2, raw.height + 2, eager=True).cast(pl.String)
    typed, issues = convert_frame(raw.with_columns(lines.alias(ID)),
                                  [FieldSpec(c, c, kind) for c, kind in kinds.items()])
    problems += [Problem(display, int(q.example_id), 1, q.source,
                         f"{q.count:,} value(s) are not a {kinds[q.field].value}, the first on this line")
                 for q in issues]
    table = typed.with_columns(raw[spec.key].alias(KEY)).select(
        normal_key(pl.col(KEY)), pl.col(ID).cast(pl.Int64).alias(LINE), *kinds)
    problems += _key_problems(display, spec.key, table)
    if problems:
        return None, problems
    if spec.priority:
        table = table.sort([spec.priority, LINE], nulls_last=True)
    return LookupTable(name, display, path, spec.match, table, kinds, spec.priority), []


def _column_problems(doc: Document, where: PathKey, spec: model.LookupModel, columns: list[str]) -> list[Problem]:
    found = []
    named = [((*where, "key"), spec.key)] + [((*where, "types", c), c) for c in spec.types]
    if spec.priority:
        named.append(((*where, "priority"), spec.priority))
    for path, column in named:
        if column not in columns:
            message = f"{spec.file} has no column '{column}'{did_you_mean(column, columns)}"
            found.append(doc.problem(path, message))
    if spec.priority and spec.types.get(spec.priority, "number") not in ("number", "integer"):
        found.append(doc.problem((*where, "priority"), f"the priority column '{spec.priority}' must be a number"))
    return found


def _key_problems(display: str, key: str, table: pl.DataFrame) -> list[Problem]:
    found = []
    empty = table.filter(pl.col(KEY).is_null() | (pl.col(KEY) == ""))
    if not empty.is_empty():
        found.append(Problem(display, int(empty[LINE][0]), 1, key, f"{empty.height:,} row(s) have an empty key"))
    repeated = (table.filter(pl.col(KEY) != "").group_by(KEY).agg(pl.col(LINE).sort())
                .filter(pl.col(LINE).list.len() > 1).sort(pl.col(LINE).list.first()))
    if not repeated.is_empty():
        listed = ", ".join(f"'{k}' (lines {', '.join(map(str, lines))})"
                           for k, lines in repeated.head(MAX_LISTED).iter_rows())
        more = f" and {repeated.height - MAX_LISTED:,} more" if repeated.height > MAX_LISTED else ""
        found.append(Problem(display, int(repeated[LINE][0][1]), 1, key, f"duplicate keys: {listed}{more}"))
    return found


def lookup_join(doc: Document, path: PathKey, spec: model.LookupDeriveModel, tables: Mapping[str, LookupTable],
                *, names: Mapping[str, FieldType], parse: Parse) -> tuple[LookupJoin | None, list[Problem]]:
    """Check a lookup derive: its table and column exist, and its key is text.

    Returns:
        The join, whose value has the column's type, or None with the problems found.
    """
    table = tables.get(spec.lookup)
    if table is None:
        message = f"unknown lookup '{spec.lookup}'{did_you_mean(spec.lookup, tables)}"
        return None, [doc.problem((*path, "lookup"), message)]
    if spec.column not in table.kinds:
        message = f"lookup '{spec.lookup}' has no column '{spec.column}'{did_you_mean(spec.column, table.kinds)}"
        return None, [doc.problem((*path, "column"), message)]
    key = parse(doc, (*path, "key"), spec.key, names)
    if key is None:
        return None, []
    if key.kind != FieldType.STRING:
        message = f"a lookup key is text, but this expression gives a {key.kind.value}"
        return None, [doc.problem((*path, "key"), message)]
    return LookupJoin(table, key, spec.column), []


def join_lookup(lazy: pl.LazyFrame, name: str, join: LookupJoin, which_column: str) -> pl.LazyFrame:
    """A lookup derive: the matching row's value, and `which_column` = `<lookup>:<CSV line>`.

    Keys are unique (the loader refuses repeats), so a record's match is a place in the
    table, found by one lookup of its key; the values are taken from that place, not joined.
    """
    table = join.table
    keys = table.table.get_column(KEY)
    places = pl.int_range(keys.len(), dtype=pl.UInt32, eager=True)
    key = normal_key(join.key.compiled)
    if keys.is_empty():
        place = pl.lit(None, pl.UInt32)
    elif table.match == "keyword":
        # One Aho-Corasick pass finds every keyword a text contains; the table is sorted by priority,
        # then line, so the first place among them is the best match.
        found = key.str.extract_many(keys.to_list(), overlapping=True)
        place = found.list.eval(pl.element().replace_strict(keys, places, return_dtype=pl.UInt32)).list.min()
    else:
        place = key.replace_strict(keys, places, default=None, return_dtype=pl.UInt32)
    # No match: no line, and `format` of a null is null.
    which = pl.format(f"{table.name}:{{}}", pl.lit(table.table.get_column(LINE)).gather(pl.col(_PLACE)))
    return (lazy.with_columns(place.alias(_PLACE))
            .with_columns(pl.lit(table.table.get_column(join.column)).gather(pl.col(_PLACE)).alias(name),
                          which.alias(which_column))
            .drop(_PLACE))
