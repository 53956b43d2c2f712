"""The CSV connector: a CRM export file as the source, an updated copy as the write-back."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from revrules.connectors.base import ID, CrmValue, ListWrite, RecordUpdate, WriteResult
from revrules.connectors.csvread import blank_as_null, check_ids, read_header, read_text_csv
from revrules.errors import CrmError, InvalidInputError, did_you_mean

_LIST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NOT_FOUND = "record not found"
_ID_NOT_WRITABLE = "the id column cannot be written"
_NEW_FILE_MODE = 0o644


@dataclass(frozen=True)
class _State:
    """The records as they stand now: every input column plus written columns, as text."""

    frame: pl.DataFrame
    signature: tuple[tuple[int, int, int] | None, ...]
    bom: bool


class CsvConnector:
    """Reads records from a CSV export and writes field changes to a CSV copy.

    The input file at `path` plays the CRM's part. Write-back goes to `output`
    (by default `path` itself), always rewritten whole and atomically, so a run
    killed half-way leaves a file holding exactly the batches that completed (or,
    after `buffer_writes`, exactly those flushed).
    When `output` is a separate file, the values of `write_fields` (and of any
    column only `output` has) are read from it, so reading after a write sees what
    was written.
    """

    kind = "csv"

    def __init__(
        self,
        path: Path,
        id_column: str,
        *,
        output: Path | None = None,
        lists_dir: Path | None = None,
        write_fields: Sequence[str] = (),
        batch_size: int = 10_000,
    ) -> None:
        """Describe the files; nothing is read until records are asked for.

        Args:
            path: The CRM export (UTF-8, optional BOM, header row).
            id_column: The column holding each record's unique id.
            output: Where write-back goes; defaults to `path`.
            lists_dir: Folder receiving one `<list id>.csv` per marketing list.
            write_fields: The columns revrules writes (output fields, provenance).
            batch_size: How many records one `write` call should take.
        """
        self.path = Path(path)
        self.id_column = id_column
        self.output = Path(output) if output is not None else self.path
        self.lists_dir = lists_dir
        self.write_fields = tuple(dict.fromkeys(write_fields))
        self.batch_size = batch_size
        self._state: _State | None = None
        self._buffering = False
        self._unflushed = False
        self._held: dict[str, list[pl.DataFrame]] = {}
        """Buffered writes per field, batch after batch: each batch's landed cells (row, value)."""

    def columns(self) -> list[str]:
        """The header of the input file.

        Raises:
            CrmError: The file is missing or unreadable.
            InvalidInputError: The header names a column twice.
        """
        header, _ = read_header(self.path)
        return header

    def read(self, fields: Sequence[str]) -> pl.DataFrame:
        """All records: `__id` plus each field as raw text, null for an empty cell.

        A `write_fields` column not yet in any file reads as all null, because the
        first write will add it.

        Raises:
            CrmError: A file is missing or unreadable.
            InvalidInputError: The id column is missing, has empty or duplicate
                ids, or a field is not a column.
        """
        frame = self._current().frame
        return frame.select(pl.col(self.id_column).alias(ID), *self._field_exprs(frame, fields))

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """The current values of `fields` for `ids`, in the order asked; unknown ids are left out.

        Raises:
            CrmError: A file is missing or unreadable.
            InvalidInputError: As for `read`.
        """
        frame = self._current().frame
        wanted = pl.DataFrame({ID: list(dict.fromkeys(ids))}, schema={ID: pl.String})
        # The few asked-for rows are picked first: the fields are then selected from them alone.
        frame = frame.filter(pl.col(self.id_column).is_in(wanted[ID].implode()))
        found = frame.select(pl.col(self.id_column).alias(ID), *self._field_exprs(frame, fields))
        return wanted.join(found, on=ID, how="inner", maintain_order="left")

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Apply one batch to the current records and rewrite the output file atomically.

        Args:
            updates: New values per record; None empties a cell.

        Returns:
            One result per (record, field), in the order of `updates`. An unknown
            record id fails with "record not found" and the id column cannot be
            written; the rest of the batch lands.

        Raises:
            CrmError: The output file could not be written; it is left as it was.
            InvalidInputError: The input file is invalid, as for `read`.
        """
        record_ids = [update.record_id for update in updates for _ in update.values]
        fields = [field for update in updates for field in update.values]
        values = [_format_cell(value) for update in updates for value in update.values.values()]
        changes = pl.DataFrame(
            {ID: record_ids, "field": fields, "value": values},
            schema={ID: pl.String, "field": pl.String, "value": pl.String},
        )
        errors = self._write_cells(changes)
        return [
            WriteResult(record_id, field, error is None, error)
            for record_id, field, error in zip(record_ids, fields, errors.to_list(), strict=True)
        ]

    def write_frame(self, changes: pl.DataFrame) -> pl.DataFrame:
        """Apply one batch given as a frame, as `write` does, without a Python object per change.

        Args:
            changes: Columns `id`, `field` and `after` (the new cell text; null empties it).

        Returns:
            The writes that failed: `id`, `field`, `error` (empty when every write landed).

        Raises:
            CrmError: The output file could not be written; it is left as it was.
            InvalidInputError: The input file is invalid, as for `read`.
        """
        cells = changes.select(pl.col("id").alias(ID), "field", pl.col("after").alias("value"))
        errors = self._write_cells(cells)
        return changes.select("id", "field", errors.alias("error")).filter(pl.col("error").is_not_null())

    def _write_cells(self, changes: pl.DataFrame) -> pl.Series:
        """Apply cells (`__id`, `field`, `value`) to the records; each cell's error, null where it landed.

        Without buffering, the output file is rewritten atomically before returning.
        """
        # Buffered batches are located against the records as loaded; their values join them in one go later.
        state = self._state if self._unflushed and self._state is not None else self._current()
        if changes.is_empty():
            return pl.Series("error", [], dtype=pl.String)
        # The batch's few records are found first: a join against every record hashes them all, batch after batch.
        found = (state.frame.lazy().select(pl.col(self.id_column).alias(ID)).with_row_index("row")
                 .filter(pl.col(ID).is_in(changes[ID].unique().implode())).collect())
        rows = changes.select(ID).join(found, on=ID, how="left", maintain_order="left")["row"]
        errors = changes.select(
            pl.when(rows.is_null())
            .then(pl.lit(_NOT_FOUND))
            .when(pl.col("field") == self.id_column)
            .then(pl.lit(_ID_NOT_WRITABLE))
            .alias("error")
        ).to_series()
        landing = errors.is_null()
        if self._buffering:
            # Applying each batch would copy every changed column once per batch: hold them, apply once.
            landed = changes.filter(landing).select(rows.filter(landing).alias("row"), "field", "value")
            # Held by field as they come, so that applying them never gathers every change at once.
            for (field,), cells in landed.partition_by("field", as_dict=True, include_key=False).items():
                self._held.setdefault(str(field), []).append(cells)
            self._unflushed = True
        else:
            frame = _apply_changes(state.frame, rows.filter(landing), changes.filter(landing))
            _write_atomically(self.output, lambda sink: frame.write_csv(sink, include_bom=state.bom))
            self._state = _State(frame, self._signature(), state.bom)
        return errors

    def buffer_writes(self) -> None:
        """Hold the next writes in memory until `flush`: an apply rewrites the file once, not once per batch."""
        self._buffering = True

    def flush(self) -> None:
        """Rewrite the output file once, atomically, with every write since `buffer_writes`.

        Raises:
            CrmError: The output file could not be written; it is left as it was.
        """
        self._buffering = False
        if not self._unflushed:
            return
        state = self._current()
        _write_atomically(self.output, lambda sink: state.frame.write_csv(sink, include_bom=state.bom))
        self._state = _State(state.frame, self._signature(), state.bom)
        self._unflushed = False

    def list_members(self, list_id: str, name: str | None = None) -> set[str]:  # noqa: ARG002
        """The ids in `lists_dir/<list_id>.csv`; empty when the file does not exist yet.

        `name` (the list's display name) is taken for `ListSync` and not used: a CSV
        list is found by its id.

        Raises:
            InvalidInputError: No `lists_dir` is configured, or `list_id` is not a
                plain file name.
            CrmError: The list file exists but cannot be read.
        """
        path = self._list_path(list_id)
        if not path.exists():
            return set()
        try:
            return set(read_text_csv(path).to_series(0).drop_nulls().to_list())
        except (OSError, pl.exceptions.PolarsError) as error:
            raise CrmError(f"cannot read {path}: {type(error).__name__}") from error

    def _list_path(self, list_id: str) -> Path:
        if self.lists_dir is None:
            raise InvalidInputError(f"list {list_id!r}: no lists_dir is configured for the CSV CRM")
        if not _LIST_ID_RE.match(list_id):
            raise InvalidInputError(
                f"list {list_id!r}: a list id must be letters, digits, '.', '_' or '-'"
            )
        return self.lists_dir / f"{list_id}.csv"

    def write_list_changes(
        self, list_id: str, name: str, adds: Sequence[str], removes: Sequence[str]  # noqa: ARG002
    ) -> list[ListWrite]:
        """Apply adds and removes to `lists_dir/<list_id>.csv` (created when missing); one result per id.

        The file is rewritten whole, atomically: a header naming the id column, then the
        sorted member ids. `name` is not used: a CSV list is found by its id.

        Raises:
            InvalidInputError: No `lists_dir` is configured, or `list_id` is not a
                plain file name.
            CrmError: The list file could not be read or written; nothing changed.
        """
        path = self._list_path(list_id)
        members = (self.list_members(list_id) | set(adds)) - set(removes)
        frame = pl.DataFrame({self.id_column: sorted(members)}, schema={self.id_column: pl.String})
        _write_atomically(path, frame.write_csv)
        return [ListWrite(list_id, i, "add", True) for i in dict.fromkeys(adds)] + [
            ListWrite(list_id, i, "remove", True) for i in dict.fromkeys(removes)
        ]

    def _field_exprs(self, frame: pl.DataFrame, fields: Sequence[str]) -> list[pl.Expr]:
        """Select each asked-for field as text, empty as null; refuse unknown fields."""
        unknown = [
            field
            for field in dict.fromkeys(fields)
            if field not in frame.columns and field not in self.write_fields
        ]
        if unknown:
            raise InvalidInputError(
                "\n".join(
                    f"{self.path}: no column {field!r}{did_you_mean(field, frame.columns)}"
                    for field in unknown
                )
            )
        present = [field for field in dict.fromkeys(fields) if field in frame.columns]
        # A column without a quoted empty cell is taken as it is, not copied (most columns have none).
        blanks = frame.select((pl.col(field) == "").any() for field in present).row(0) if present else ()
        has_blank = dict(zip(present, blanks, strict=True))
        return [
            (blank_as_null(pl.col(field)) if has_blank[field] else pl.col(field)).alias(field)
            if field in frame.columns
            else pl.lit(None, pl.String).alias(field)
            for field in dict.fromkeys(fields)
        ]

    def _current(self) -> _State:
        """The current records, reloaded only when a file changed since the last look."""
        if self._unflushed and self._state is not None:
            if self._held:
                frame = _apply_held(self._state.frame, self._held)
                self._state = _State(frame, self._state.signature, self._state.bom)
                self._held = {}
            return self._state  # buffered writes exist only here until flushed
        signature = self._signature()
        if self._state is None or self._state.signature != signature:
            self._state = self._load(signature)
        return self._state

    def _signature(self) -> tuple[tuple[int, int, int] | None, ...]:
        """What identifies the files' versions: inode, size and mtime of each."""
        files = (self.path,) if self.output == self.path else (self.path, self.output)
        return tuple(_stat_signature(file) for file in files)

    def _load(self, signature: tuple[tuple[int, int, int] | None, ...]) -> _State:
        """Read the input file, validate ids, and overlay what was written to `output`."""
        header, bom = read_header(self.path)
        if self.id_column not in header:
            raise InvalidInputError(
                f"{self.path}: id column {self.id_column!r} is not in the header"
                f"{did_you_mean(self.id_column, header)}"
            )
        problem: CrmError | InvalidInputError | None = None
        try:
            written = self._written_columns(header)
        except (CrmError, InvalidInputError) as error:
            written, problem = [], error
        # The input's cells of the columns written to `output` are read only if some record needs them.
        frame = read_text_csv(self.path, [column for column in header if column not in written])
        check_ids(self.path, frame[self.id_column])
        if problem is not None:
            raise problem  # after the input's own problems, which are reported first
        if written:
            frame = self._overlay_output(frame, header, written)
        return _State(frame, signature, bom)

    def _written_columns(self, header: Sequence[str]) -> list[str]:
        """The columns `output` holds that are taken from it: written ones, and those the input lacks."""
        if self.output == self.path or not self.output.exists():
            return []
        written, _ = read_header(self.output)
        if self.id_column not in written:
            raise CrmError(f"{self.output}: id column {self.id_column!r} is not in the header")
        return [column for column in written
                if column != self.id_column and (column in self.write_fields or column not in header)]

    def _overlay_output(self, frame: pl.DataFrame, header: Sequence[str], overlaid: Sequence[str]) -> pl.DataFrame:
        """Take the `overlaid` columns from `output`; records it lacks keep the input's values.

        `frame` is the input without the `overlaid` columns; the result has the input's
        columns in its order, then those only `output` has.
        """
        order = [*header, *(column for column in overlaid if column not in header)]
        written = read_text_csv(self.output, [self.id_column, *overlaid]).select(self.id_column, *overlaid)
        if written[self.id_column].equals(frame[self.id_column]):
            # The output holds these very records in the same order (written by the last apply):
            # its columns are taken as they are, without a join, and the input's are never read.
            return frame.with_columns(written[column] for column in overlaid).select(order)
        skipped = [column for column in header if column in overlaid]
        if skipped:
            # Some record may keep the input's values: they are read after all.
            kept = read_text_csv(self.path, skipped).select(skipped)
            if kept.height != frame.height:
                raise CrmError(f"cannot read {self.path}: the file changed while it was read")
            frame = pl.concat([frame, kept], how="horizontal")
        written = (
            written
            .unique(subset=self.id_column, keep="first", maintain_order=True)
            .rename({column: f"\x00written\x00{column}" for column in overlaid})
            .with_columns(pl.lit(True).alias("\x00present"))
        )
        joined = frame.join(written, on=self.id_column, how="left", maintain_order="left")
        present = pl.col("\x00present").fill_null(False)
        return joined.with_columns(
            pl.when(present)
            .then(pl.col(f"\x00written\x00{column}"))
            .otherwise(pl.col(column) if column in header else pl.lit(None, pl.String))
            .alias(column)
            for column in overlaid
        ).select(order)


def _apply_changes(frame: pl.DataFrame, rows: pl.Series, changes: pl.DataFrame) -> pl.DataFrame:
    """Replace or append one column per changed field; the last change of a cell wins.

    Args:
        frame: The current records.
        rows: For each change, the row of `frame` it targets.
        changes: Columns `field` and `value`, one row per changed cell.
    """
    located = changes.with_columns(rows.alias("row")).unique(
        subset=["row", "field"], keep="last", maintain_order=True
    )
    columns = {name: frame[name] for name in frame.columns}
    for (field,), cells in located.partition_by("field", as_dict=True, maintain_order=True).items():
        name = str(field)
        current = columns.get(name, pl.repeat(None, frame.height, dtype=pl.String, eager=True))
        # Scattering touches only the changed rows, so a small batch against a large
        # file costs no more than copying the column once.
        columns[name] = current.clone().scatter(cells["row"], cells["value"]).alias(name)
    return pl.DataFrame(list(columns.values()))


def _apply_held(frame: pl.DataFrame, held: dict[str, list[pl.DataFrame]]) -> pl.DataFrame:
    """Apply buffered batches (row, value per field) field by field, one copy of each changed column in all."""
    columns = {name: frame[name] for name in frame.columns}
    for field in list(held):  # in the order the fields were first written: new columns are added in it
        batches = held.pop(field)
        # The last change of a cell wins, as when batches are applied one by one.
        cells = pl.concat(batches, rechunk=False).unique(subset="row", keep="last", maintain_order=True)
        del batches
        current = columns.get(field, pl.repeat(None, frame.height, dtype=pl.String, eager=True))
        columns[field] = current.clone().scatter(cells["row"], cells["value"]).alias(field)
    return pl.DataFrame(list(columns.values()))


def _format_cell(value: CrmValue) -> str | None:
    """Render a value the way the CSV CRM stores it; None is an empty cell."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    return str(value)


def _stat_signature(path: Path) -> tuple[int, int, int] | None:
    """A file's inode, size and modification time; None when it does not exist."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CrmError(f"cannot read {path}: {error.strerror}") from error
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _write_atomically(target: Path, write: Callable[[io.BufferedWriter], object]) -> None:
    """Write a file through a temporary sibling and `os.replace`, so readers see old or new."""
    folder = target.parent
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        # Reading the umask means setting it, which races with other threads; a
        # new file gets the usual permissions instead.
        mode = _NEW_FILE_MODE
    except OSError as error:
        raise CrmError(f"cannot write {target}: {error.strerror}") from error
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            dir=folder, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise CrmError(f"cannot write {target}: {error.strerror}") from error
    try:
        with os.fdopen(descriptor, "wb") as sink:
            write(sink)
            sink.flush()
            os.fsync(sink.fileno())
        # mkstemp creates the file private; keep the permissions the file had.
        Path(temporary).chmod(mode)
        Path(temporary).replace(target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        if isinstance(error, OSError | pl.exceptions.PolarsError):
            reason = error.strerror if isinstance(error, OSError) else None
            raise CrmError(f"cannot write {target}: {reason or type(error).__name__}") from error
        raise
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable; some platforms cannot open a folder, which is harmless."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
