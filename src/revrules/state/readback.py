"""A run's writes read back out of the ledger in bulk: no Python object per write.

Holds the SQL that gives a write its values (from its kind and batch), which the ledger's
`writes` view reads too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import polars as pl

_BATCH_WRITES = "batches AS b CROSS JOIN write_rows AS w ON w.id BETWEEN b.first_row AND b.last_row"
_JOINED = f"{_BATCH_WRITES} LEFT JOIN write_kinds AS k ON k.id = w.kind"
"""Each write beside its batch and its kind. CROSS JOIN makes SQLite go from the few batches (by run)
into the writes by their id range, never the other way round, which would look up every write's batch."""
_FIELD, _BEFORE, _AFTER, _RULE, _OBJECT = (f"coalesce(k.{c}, w.{c})" for c in ("field", "before", "after", "rule",
                                                                               "object"))
"""A write's values: its kind's, or its own. A write with a kind has '' and nulls of its own; one
without a kind joins none."""
_RESULT, _ERROR = "coalesce(w.result, b.result)", "CASE WHEN w.result IS NULL THEN b.error ELSE w.error END"
"""A write's result and error: its own if it has one, else its batch's."""

WRITES_VIEW = f"""
CREATE VIEW IF NOT EXISTS writes AS
SELECT w.id AS id, b.run_id AS run_id, w.record_id AS record_id, {_FIELD} AS field, {_BEFORE} AS before,
       {_AFTER} AS after, {_RULE} AS rule, {_RESULT} AS result, {_ERROR} AS error, coalesce(w.at, b.at) AS at,
       {_OBJECT} AS object
FROM {_JOINED}
"""  # noqa: S608
"""Every attempted write as one row, with the columns of the table it was before version 2.

`object` is null for the configured object's records, else the related object (`Contact`,
`Opportunity`, `contacts`, `deals`) whose owner followed an account's owner change.
"""

_READ_ROWS = 50_000
_READ_BATCHES = 8
"""Batches of writes read at a time: each is some 16 bytes a write of JSON, up to a few MB."""
_KIND_COLUMNS = ("field", "before", "after", "rule", "object")
_OWN = (*_KIND_COLUMNS, "result", "error")
"""The values a write may hold of its own, beside its id, record and kind."""
_BATCH: dict[str, pl.DataType] = {"b_run_id": pl.Int64(), "b_result": pl.String(), "b_error": pl.String()}
_SHARED: dict[str, pl.DataType] = {**_BATCH, "w_id": pl.Int64(), "w_record_id": pl.String(), "w_kind": pl.Int64()}
"""A write that takes its values from its kind and its result from its batch, as read."""


@contextmanager
def snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: the reads inside it see the ledger as it was at the first of them."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


def read_writes(db: sqlite3.Connection, columns: tuple[str, ...], batches: str, params: tuple[Any, ...],
                results: tuple[str, ...], *, related: bool) -> pl.DataFrame:
    """The writes of the `batches` (a condition on `b`) with one of `results` (any if none), as `columns`.

    The columns are those of the view `writes` (`row` is its `id`), the rows in the order
    they were recorded: the configured object's writes, or the `related` records'.
    Nearly every write has a kind and its batch's result: SQLite gives those of a batch
    as three JSON arrays (ids, record ids, kinds) that polars decodes, so that no Python
    object is made per write (as rows they took 3.5 µs a write: 11 s to read the run of
    a rollback of 200,000 accounts), and their kinds are joined in polars, not looked up
    per write in SQLite. The few others are read as rows.
    """
    wanted = ", ".join("?" * len(results))
    # The related records' writes are few: those are found by their kinds. The configured object's are
    # told from them once their kinds are joined, which costs less than looking for each write's in SQLite.
    related_kinds = " AND w.kind IN (SELECT id FROM write_kinds WHERE object IS NOT NULL)" if related else ""
    with snapshot(db):  # both reads see the same writes, though another process records more
        shared = db.execute(
            "SELECT b.run_id AS b_run_id, b.result AS b_result, b.error AS b_error, json_group_array(w.id) AS w_id,"  # noqa: S608
            " json_group_array(w.record_id) AS w_record_id, json_group_array(w.kind) AS w_kind"
            f" FROM {_BATCH_WRITES} WHERE {batches} AND w.kind IS NOT NULL AND w.result IS NULL{related_kinds}"
            f"{f' AND b.result IN ({wanted})' if results else ''} GROUP BY b.id ORDER BY b.id", params + results)
        arrays = {name: pl.List(kind) for name, kind in _SHARED.items() if name not in _BATCH}
        parts = []
        while rows := shared.fetchmany(_READ_BATCHES):
            writes = (pl.DataFrame(rows, schema={**_BATCH, **dict.fromkeys(arrays, pl.String())}, orient="row")
                      .with_columns(pl.col(name).str.json_decode(kind) for name, kind in arrays.items())
                      .explode(list(arrays)))
            parts.append(_valued(db, writes, columns, related=related))
        own = rows_frame(
            db, f"SELECT b.run_id AS b_run_id, b.result AS b_result, b.error AS b_error, w.id AS w_id,"  # noqa: S608
            f" w.record_id AS w_record_id, w.kind AS w_kind, {', '.join(f'w.{c} AS w_{c}' for c in _OWN)}"
            f" FROM {_JOINED} WHERE {batches} AND (w.kind IS NULL OR w.result IS NOT NULL)"
            f" AND {_OBJECT} IS {'NOT ' if related else ''}NULL"
            f"{f' AND {_RESULT} IN ({wanted})' if results else ''}", params + results, _SHARED)
        frame = pl.concat([*parts, _valued(db, own, columns, related=related)])
    # The arrays of a batch are in the order SQLite read its writes, which their id range makes ascending.
    frame = frame if frame["row"].is_sorted() else frame.sort("row")
    return frame if "row" in columns else frame.drop("row")


def _valued(db: sqlite3.Connection, writes: pl.DataFrame, columns: tuple[str, ...], *, related: bool) -> pl.DataFrame:
    """`writes` as read (`_SHARED`, maybe values of their own) with their kinds' and batches': `row`, `columns`."""
    kinds = rows_frame(db, f"SELECT id AS w_kind, {', '.join(f'{c} AS k_{c}' for c in _KIND_COLUMNS)}"  # noqa: S608
                        " FROM write_kinds WHERE id IN (SELECT value FROM json_each(?, '$[0].w_kind'))",
                        (writes.select(pl.col("w_kind").drop_nulls().unique().implode()).write_json(),), _SHARED)

    def own(value: str) -> pl.Expr:  # a write's own value, where some may have one
        return pl.col(f"w_{value}") if f"w_{value}" in writes.columns else pl.lit(None, pl.String)

    values = {"row": pl.col("w_id"), "run_id": pl.col("b_run_id"), "id": pl.col("w_record_id"),
              **{c: pl.coalesce(f"k_{c}", own(c)) for c in _KIND_COLUMNS},
              "result": pl.coalesce(own("result"), "b_result"),
              "error": pl.when(own("result").is_null()).then("b_error").otherwise(own("error"))}
    return (writes.lazy().join(kinds.lazy(), on="w_kind", how="left", maintain_order="left")
            .filter(values["object"].is_not_null() if related else values["object"].is_null())
            .select(values[column].alias(column) for column in dict.fromkeys(("row", *columns))).collect())


def rows_frame(db: sqlite3.Connection, query: str, params: tuple[Any, ...] = (),
               types: Mapping[str, pl.DataType] | None = None) -> pl.DataFrame:
    """The rows of `query`: a column of `types` as its type, `row` and `run_id` as integers, the rest as text.

    They are fetched `_READ_ROWS` at a time, each slice made a frame before the next is
    fetched, so that a large answer is never all Python tuples at once (a run's writes are
    read by `read_writes`, without them).
    """
    cursor = db.execute(query, params)
    schema = {name: (types or {}).get(name, pl.Int64 if name in ("row", "run_id") else pl.String)
              for name, *_ in cursor.description}
    parts = [pl.DataFrame(schema=schema)]
    while rows := cursor.fetchmany(_READ_ROWS):
        parts.append(pl.DataFrame(rows, schema=schema, orient="row"))
    return pl.concat(parts)
