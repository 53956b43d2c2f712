"""A plan's field changes, held a row per record and made a row per change only a slice at a time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from revrules.config import OutputModel
from revrules.run.policy import HELD_SCHEMA, hold_back_by_policy, may_hold

CHANGE_SCHEMA = pl.Schema({"id": pl.String, "field": pl.String, "before": pl.String, "after": pl.String,
                           "rule": pl.String})
POSITION = "__position"
"""A record's row in the evaluated records, when the changes were diffed from them."""
_ROW, _FIELD = "__row", "__field"


def column(quantity: str, field: int) -> str:
    """The name of one field's column in `Changes.records`: its `keep` flag, `before` text, or any other."""
    return f"{quantity}{field}"


def in_change_order(changes: pl.DataFrame) -> bool:
    """Whether each change (a row with `id` and `field`) comes after the one before: by id, then field; none repeats.

    Plans and the ledger hold changes so: a check this cheap spares hashing every (id, field).
    """
    ids, fields = pl.col("id"), pl.col("field")
    after_previous = (ids > ids.shift()) | ((ids == ids.shift()) & (fields > fields.shift()))
    return bool(changes.select(after_previous.slice(1).all()).item())


@dataclass(frozen=True, eq=False)
class Changes:
    """Field changes, as one row per changing record and per field a keep flag, the CRM's text, the value and rule.

    A million records changing 18 fields each are 18 million changes; held this way they are
    a few columns per field rather than a row each (five strings), and the columns are those
    of the evaluated records, shared rather than copied: the text written is made from the
    value only when rows are. A row per change is made only for a slice of records at a time
    (`slices`), in id order and, within a record, in the order of `fields`: the order of SPEC §5.
    """

    fields: tuple[str, ...]
    records: pl.DataFrame
    """`id`, maybe `POSITION`, `column("keep", i)` and `column("before", i)` for each field i, and the columns
    `after` and `rule` read; each record changes some field."""
    after: tuple[pl.Expr, ...]
    """Per field, the CRM text written, as an expression over `records`."""
    rule: tuple[pl.Expr, ...]
    """Per field, the rule that decided the value, as an expression over `records`."""

    @classmethod
    def of(cls, fields: Sequence[str], records: pl.DataFrame, after: Sequence[pl.Expr],
           rule: Sequence[pl.Expr]) -> Changes:
        """Changes of `records` (keep may be null), keeping the changing ones in id order."""
        if not fields:
            return cls((), records.clear(), (), ())
        keeps = [pl.col(column("keep", i)).fill_null(False) for i in range(len(fields))]
        # Lazily: an eager operation on a frame whose columns are chunked unevenly copies every column first.
        filled = records.lazy().with_columns(keeps)
        changing = filled.select(pl.any_horizontal(keeps)).collect().to_series()
        if not changing.all():
            filled = filled.filter(changing)
        records = filled.collect()
        if not records["id"].is_sorted():
            # Id order makes the plan the same whatever order the CRM returned the records in.
            records = records.lazy().sort("id").collect()
        return cls(tuple(fields), records, tuple(after), tuple(rule))

    @classmethod
    def from_frame(cls, changes: pl.DataFrame) -> Changes:
        """Changes given a row each (`CHANGE_SCHEMA`, as a saved plan or a rollback holds them).

        The last change of a (record, field) stands, as when they were written one by one.
        Changes already in record and field order, as plans and the ledger hold them, are
        numbered as they come; others are first made unique and numbered by a join of their
        ids. Each change is then placed by its record's and its field's number.
        """
        changes = changes.select(CHANGE_SCHEMA.names())
        ids, fields = pl.col("id"), pl.col("field")
        if in_change_order(changes):
            first = (ids != ids.shift()).fill_null(True)
            records = changes.filter(first).select("id")
            row = (first.cum_sum() - 1).cast(pl.UInt32)
        else:
            changes = changes.unique(["id", "field"], keep="last", maintain_order=True)
            records = changes.select(ids.unique().sort())
            row = pl.col(_ROW)
            changes = changes.join(records.with_row_index(_ROW), on="id", how="left", maintain_order="left")
        names = changes["field"].unique().sort().to_list()
        located = changes.select(row.alias(_ROW),
                                 fields.replace_strict(names, range(len(names)), return_dtype=pl.UInt32).alias(_FIELD),
                                 "before", "after", "rule")
        rows = records.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias(_ROW))
        spread = []
        for (i,), found in sorted(located.partition_by(_FIELD, as_dict=True, include_key=False).items()):
            mine = found.select(_ROW, pl.lit(True).alias(column("keep", i)),
                                *(pl.col(q).alias(column(q, i)) for q in ("before", "after", "rule")))
            if mine.height < records.height or not mine[_ROW].is_sorted():
                # Some records leave this field alone: each change goes to its record's row.
                mine = rows.join(mine, on=_ROW, how="left", maintain_order="left")
            spread.append(mine.drop(_ROW))
        return cls.of(names, pl.concat([records, *spread], how="horizontal"),
                      [pl.col(column("after", i)) for i in range(len(names))],
                      [pl.col(column("rule", i)) for i in range(len(names))])

    @cached_property
    def height(self) -> int:
        """How many field changes there are."""
        if not self.fields:
            return 0
        counts = self.records.lazy().select(pl.sum_horizontal(pl.col(self._keeps).sum())).collect().item()
        return int(counts or 0)

    @property
    def changed_records(self) -> int:
        """How many records have at least one field change."""
        return self.records.height

    def is_empty(self) -> bool:
        """True when no field changes."""
        return self.records.is_empty()

    def slices(self, records: int) -> Iterator[pl.DataFrame]:
        """The changes (`CHANGE_SCHEMA`), `records` records at a time, in order."""
        for start in range(0, self.records.height, records):
            yield self._rows(self.records.slice(start, records)).drop(_ROW, _FIELD)

    def json_texts(self, separator: str) -> pl.LazyFrame:
        """The changes as JSON objects (`CHANGE_SCHEMA`'s keys) in order: a text per record, its objects joined.

        Lazy, so that polars' streaming engine makes and writes it a slice of records at a
        time. Each field's objects are encoded straight from the records' columns, and a
        record's joined by `separator`: no row is made for each change, as `slices` makes them.
        """
        if not self.fields:
            return pl.LazyFrame(schema={"text": pl.String})
        objects = [pl.when(pl.col(column("keep", i))).then(pl.struct(
            "id", pl.lit(field, pl.String).alias("field"), pl.col(column("before", i)).cast(pl.String).alias("before"),
            self.after[i].cast(pl.String).alias("after"), self.rule[i].cast(pl.String).alias("rule"),
        ).struct.json_encode()) for i, field in enumerate(self.fields)]
        return self.records.lazy().select(pl.concat_str(objects, separator=separator, ignore_nulls=True).alias("text"))

    def frame(self) -> pl.DataFrame:
        """Every change, a row each (`CHANGE_SCHEMA`): for small plans and tests; large ones go by `slices`."""
        return self._rows(self.records).drop(_ROW, _FIELD)

    def of_fields(self, fields: Sequence[str]) -> pl.DataFrame:
        """The changes of these fields only, a row each, with their record's `POSITION` when the records have it."""
        found = self._rows(self.records, [i for i, field in enumerate(self.fields) if field in fields])
        if POSITION in self.records.columns:
            found = found.with_columns(self.records[POSITION].gather(found[_ROW]))
        return found.drop(_ROW, _FIELD)

    def positions(self, fields: Sequence[str]) -> pl.Series:
        """The `POSITION` of each record that changes any of these fields, read from the keep flags alone."""
        keeps = [pl.col(column("keep", i)) for i, field in enumerate(self.fields) if field in fields]
        if not keeps:
            return pl.Series(POSITION, [], dtype=pl.UInt32)
        return self.records.lazy().filter(pl.any_horizontal(keeps)).select(POSITION).collect().to_series()

    def of_record(self, record_id: str) -> pl.DataFrame:
        """One record's changes, a row each."""
        return self._rows(self.records.lazy().filter(pl.col("id") == record_id).collect()).drop(_ROW, _FIELD)

    def transitions(self) -> pl.DataFrame:
        """Per field, each (before, after) and how many records make it: `field, before, after, len`.

        The records are counted per before and per values of the columns the after text is
        made from first, and the text is made for those few rows alone: made for every
        record (a provenance line is some 450 characters) and grouped, it took a second at
        1,000,000 records.
        """
        counted = []
        for i, field in enumerate(self.fields):
            before = column("before", i)
            sources = [name for name in dict.fromkeys(self.after[i].meta.root_names()) if name != before]
            counted.append(
                self.records.lazy().filter(pl.col(column("keep", i))).group_by(before, *sources).len()
                .group_by(pl.col(before).alias("before"), self.after[i].cast(pl.String).alias("after"))
                .agg(pl.col("len").sum().cast(pl.UInt32))
                .select(pl.lit(field, pl.String).alias("field"), "before", "after", "len"))
        empty = pl.DataFrame(schema={"field": pl.String, "before": pl.String, "after": pl.String, "len": pl.UInt32})
        return pl.concat([empty, *pl.collect_all(counted)])

    def held_back(self, policies: Mapping[str, OutputModel], provenance: str | None) -> tuple[Changes, pl.DataFrame]:
        """These changes without those the outputs' write policies hold back, and the held ones (`HELD_SCHEMA`).

        Provenance is not an output with a policy; it is dropped for a record whose every
        other change was held, since it only ever changes beside another change.
        """
        watched = {i: might for i, field in enumerate(self.fields) if field != provenance and field in policies
                   and (might := may_hold(policies[field], pl.col(column("before", i)), self.after[i]))
                   is not None}
        if not watched:
            return self, pl.DataFrame(schema=HELD_SCHEMA)
        # Only the changes a policy might hold are made into rows: usually few.
        over_values = self.records.lazy().with_columns(
            (pl.col(column("keep", i)) & might).alias(column("keep", i)) for i, might in watched.items()).collect()
        candidates = self._rows(over_values, list(watched))
        sent, held = hold_back_by_policy(candidates, policies)
        if held.is_empty():
            return self, held
        cells = candidates.join(sent, on=[_ROW, _FIELD], how="anti")
        keeps = {}
        for (i,), part in cells.partition_by(_FIELD, as_dict=True).items():
            kept = np.ones(self.records.height, dtype=bool)
            kept[part[_ROW].to_numpy()] = False
            keeps[column("keep", int(i))] = self.records[column("keep", int(i))] & pl.Series(kept)
        records = self.records.lazy().with_columns(**keeps)
        if provenance in self.fields:
            mine = self.fields.index(provenance)
            others = [pl.col(column("keep", i)) for i in range(len(self.fields)) if i != mine]
            records = records.with_columns(
                (pl.col(column("keep", mine)) & pl.any_horizontal(others)).alias(column("keep", mine)))
        return Changes.of(self.fields, records.collect(), self.after, self.rule), held

    @property
    def _keeps(self) -> list[str]:
        return [column("keep", i) for i in range(len(self.fields))]

    def _rows(self, records: pl.DataFrame, fields: Sequence[int] | None = None) -> pl.DataFrame:
        """A row per kept (record, field) of `records`, in record order then field order.

        Beside each change, its record's row in `records` (`__row`) and its field's index (`__field`).
        The keep flags are read as a (record x field) matrix, row by row: the kept cells come
        out in order without sorting them, and each quantity's columns are stacked (as chunks,
        not copied) and gathered once.
        """
        chosen = list(range(len(self.fields))) if fields is None else list(fields)
        if not chosen or records.is_empty():
            return pl.DataFrame(schema={**CHANGE_SCHEMA, _ROW: pl.UInt32, _FIELD: pl.UInt32})
        keeps = np.stack([records[column("keep", i)].to_numpy() for i in chosen], axis=1)
        # Indices as polars' own (32-bit) while they fit: a third of the memory of numpy's default, and not converted.
        index = np.uint32 if records.height * len(chosen) < 2**32 else np.int64
        row, which = np.divmod(np.flatnonzero(keeps).astype(index), index(len(chosen)))
        del keeps
        kept = pl.Series(which * index(records.height) + row)  # positions in the stacked (field after field) columns

        # Only now, for these records, are the texts written made from the values.
        made = records.lazy().select(*(self.after[i].cast(pl.String).alias(column("after", i)) for i in chosen),
                                     *(self.rule[i].cast(pl.String).alias(column("rule", i)) for i in chosen)).collect()

        def stacked(quantity: str, frame: pl.DataFrame) -> pl.Series:
            return pl.concat([frame[column(quantity, i)].alias(quantity) for i in chosen], rechunk=False)

        rows = pl.Series(_ROW, row)
        return pl.DataFrame([
            records["id"].gather(rows),
            pl.Series("field", [self.fields[i] for i in chosen], dtype=pl.String).gather(which),
            stacked("before", records).cast(pl.String).gather(kept),
            stacked("after", made).gather(kept),
            stacked("rule", made).gather(kept),
            rows.cast(pl.UInt32),
            pl.Series(_FIELD, np.asarray(chosen, dtype=np.uint32)[which]),
        ])
