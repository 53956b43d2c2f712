"""Reading a CSV export: its header, every cell as text held compactly, and its ids checked; errors quote no cell."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from revrules.errors import CrmError, InvalidInputError

_BOM = b"\xef\xbb\xbf"
_MAX_LISTED_DUPLICATES = 10
_SHARED_FROM = 20_000
"""Records from which a column of long texts that repeat is held once per distinct text."""
_SHARED_FROM_BYTES = 8 << 20
"""File size from which long texts that repeat are looked for before the file is read."""
_SHARED_LENGTH = 64
"""Bytes a column's texts take on average, from which they count as long."""
_SHARED_SHARE = 0.25
_SHARED_SAMPLE = 5_000
_SHARED_SAMPLE_SHARE = 0.9
"""A column repeats when at most `_SHARED_SHARE` of its values are distinct; a column whose sample of
about `_SHARED_SAMPLE` values has more than `_SHARED_SAMPLE_SHARE` distinct is taken not to."""
_TOGETHER = 4
"""Columns put in one piece at once (side by side)."""


def read_header(path: Path) -> tuple[list[str], bool]:
    """The header row of a CSV file and whether the file starts with a BOM."""
    try:
        with path.open("rb") as raw:
            start = raw.read(8192)
            bom = start.startswith(_BOM)
            if b"\x00" in start:
                raise _unreadable(path)
            raw.seek(0)
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            header = next(csv.reader(text, strict=True), None)
    except OSError as error:
        raise CrmError(f"cannot read {path}: {error.strerror or error}") from error
    except (UnicodeDecodeError, csv.Error):
        raise _unreadable(path) from None
    if not header:
        raise InvalidInputError(f"{path}: line 1: the file is empty; a CSV export starts with a header row")
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise InvalidInputError(f"{path}: the header repeats column(s) {', '.join(repeated)}")
    return header, bom


def read_text_csv(path: Path, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Read every cell (of `columns`, default all) as text, exactly as written, so untouched values round-trip."""
    try:
        shared = _shared_columns(path, columns) if path.stat().st_size >= _SHARED_FROM_BYTES else {}
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8", columns=columns, schema_overrides=shared)
    except OSError as error:
        raise CrmError(f"cannot read {path}: {error.strerror or error}") from error
    except pl.exceptions.PolarsError as error:
        # The polars message may quote a cell; the file is read again to say where and what, without cells.
        raise _unreadable(path, type(error).__name__) from None
    return _compact(frame)


def _shared_columns(path: Path, columns: Sequence[str] | None) -> dict[str, pl.DataType]:
    """The columns to read as categories: those whose texts are long and repeat in the file's first records.

    Read so, each distinct text is held once from the start, never once per record (the
    provenance line revrules writes: 450 MB at a million records).
    """
    head = pl.read_csv(path, infer_schema=False, encoding="utf8", columns=columns, n_rows=_SHARED_SAMPLE)
    return {column: pl.Categorical() for column in head.columns if _long(head[column]) and _repeats(head[column])}


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """The same cells, as text, in less memory: in one piece, without empty cells, long texts held once.

    The reader hands back each column in many pieces, which every later step would copy
    into one (and keep both). A cell takes 16 bytes even when empty, and exports carry
    columns nobody fills (and the output fields before a first apply): those cost nothing
    as a single null. A long text that recurs (the provenance line revrules wrote, some
    450 bytes a record) is held once and each cell refers to it. Columns are replaced a
    few at a time, so their pieces can go once they are made.
    """
    height = frame.height
    columns = frame.get_columns()
    del frame
    plain: list[int] = []
    for index, column in enumerate(columns):
        if height and column.null_count() == height:
            columns[index] = pl.repeat(None, height, dtype=pl.String, eager=True).alias(column.name)
        elif column.dtype == pl.Categorical:
            columns[index] = _texts(column)
        elif (distinct := _long_and_repeating(column)) is not None:
            columns[index] = distinct.gather(_places(column, distinct))
        else:
            plain.append(index)
        del column
    # The others are put in one piece a few at a time, side by side: twice as fast as one by one.
    for start in range(0, len(plain), _TOGETHER):
        group = plain[start:start + _TOGETHER]
        for index, column in zip(group, pl.DataFrame([columns[i] for i in group]).rechunk().get_columns(), strict=True):
            columns[index] = column
    return pl.DataFrame(columns)


def _texts(column: pl.Series) -> pl.Series:
    """A categorical column as text, each distinct text held once and referred to by every cell holding it."""
    categories = column.drop_nulls().unique()
    places = _places(column.to_physical(), categories.to_physical())
    return categories.cast(pl.String).gather(places).alias(column.name)


def _places(column: pl.Series, distinct: pl.Series) -> pl.Series:
    """Each cell's place among the `distinct` values (null for an empty cell)."""
    return column.replace_strict(distinct, pl.int_range(distinct.len(), dtype=pl.UInt32, eager=True),
                                 return_dtype=pl.UInt32)


def _long(column: pl.Series) -> bool:
    """Whether a text column's values take `_SHARED_LENGTH` bytes or more on average."""
    return column.str.len_bytes().sum() >= max(column.len() - column.null_count(), 1) * _SHARED_LENGTH


def _repeats(sample: pl.Series) -> bool:
    """Whether a sample of a column's values repeats enough to be worth finding all its distinct values."""
    return sample.n_unique() <= sample.len() * _SHARED_SAMPLE_SHARE


def _long_and_repeating(column: pl.Series) -> pl.Series | None:
    """A column's distinct values (nulls left out) when its texts are long and few distinct, else None.

    Finding the distinct values costs a pass over every byte: it is done only when an
    even sample of the column's texts is long and repeats.
    """
    if column.len() < _SHARED_FROM or column.dtype != pl.String:
        return None
    sample = column.gather_every(column.len() // _SHARED_SAMPLE)
    if not (_long(sample) and _repeats(sample)):
        return None
    distinct = column.drop_nulls().unique()
    return distinct.alias(column.name) if distinct.len() <= column.len() * _SHARED_SHARE else None


def _unreadable(path: Path, fallback: str = "not a CSV file") -> InvalidInputError:
    """Where and why a CSV file cannot be read, as one line that quotes no cell."""
    data = path.read_bytes()
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        return InvalidInputError(f"{path}: line {line}: contains a NUL byte; this looks like a binary file, "
                                 "not a CSV export")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        byte = data[error.start]
        return InvalidInputError(f"{path}: line {line}, byte {column}: not valid UTF-8 (0x{byte:02X}); "
                                 "export the file as UTF-8")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    width, started = None, 1
    try:
        for row in reader:
            if width is None:
                width = len(row)
            elif len(row) > width:
                return InvalidInputError(f"{path}: line {started}: {len(row)} fields, but the header has {width}")
            started = reader.line_num + 1
    except csv.Error as error:
        what = "a quoted field is never closed" if "end of data" in str(error) else f"malformed CSV ({error})"
        return InvalidInputError(f"{path}: line {started}: {what}")
    return InvalidInputError(f"{path}: cannot read the file as CSV ({fallback})")


def check_ids(path: Path, ids: pl.Series) -> None:
    """Refuse empty or duplicate record ids, naming them and their count."""
    if not ids.has_nulls() and not (ids == "").any() and _surely_unique(ids):
        return
    column = ids.name
    problems: list[str] = []
    empty = ids.to_frame().with_row_index("row").filter(blank_as_null(pl.col(column)).is_null())
    if not empty.is_empty():
        lines = ", ".join(str(row + 2) for row in empty["row"].head(_MAX_LISTED_DUPLICATES))
        more = ", ..." if empty.height > _MAX_LISTED_DUPLICATES else ""
        problems.append(
            f"{path}: id column {column!r} is empty on {empty.height} row(s) (lines {lines}{more})"
        )
    present = ids.filter(ids != "")
    duplicates = present.filter(present.is_duplicated()).unique(maintain_order=True)
    if not duplicates.is_empty():
        listed = ", ".join(duplicates.head(_MAX_LISTED_DUPLICATES).to_list())
        more = ", ..." if duplicates.len() > _MAX_LISTED_DUPLICATES else ""
        problems.append(
            f"{path}: id column {column!r} has {duplicates.len()} duplicate id(s): {listed}{more}"
        )
    if problems:
        raise InvalidInputError("\n".join(problems))


def _surely_unique(ids: pl.Series) -> bool:
    """True when no id repeats, found quickly; which ids repeat is worked out only when some do.

    Exports are mostly sorted by id, and in a sorted column equal ids are neighbours:
    comparing each with the next is far cheaper than hashing every id.
    """
    if ids.len() < 2:
        return True
    if ids.is_sorted():
        return not (ids.slice(1) == ids.slice(0, ids.len() - 1)).any()
    return ids.n_unique() == ids.len()


def blank_as_null(column: pl.Expr) -> pl.Expr:
    """An empty cell is a missing value, whether written as `,,` or `,"",`."""
    return pl.when(column != "").then(column)
