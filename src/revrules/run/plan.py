"""Plans: the diff between what the rules decide and what the CRM holds (SPEC §5)."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl

from revrules.connectors.base import ID
from revrules.engine.columns import CONFLICT, OVERRIDE, conflict_column, list_column, rule_column
from revrules.engine.convert import FieldSpec, FieldType, QualityIssue, convert_frame
from revrules.engine.hierarchy import ULTIMATE
from revrules.project import Project
from revrules.run.arrays import ROW_SEPARATOR, encoded, write_array
from revrules.run.balance import BALANCE_SCHEMA
from revrules.run.books import OWNER_SCHEMA, TERRITORY_SCHEMA, owner_books, territory_books
from revrules.run.changes import CHANGE_SCHEMA, POSITION, Changes, column
from revrules.run.policy import HELD_SCHEMA
from revrules.run.provenance import TOO_LONG_SCHEMA, provenance_line
from revrules.run.read import Snapshot

LIST_SCHEMA = pl.Schema({"list": pl.String, "id": pl.String, "action": pl.String})
CONFLICT_SCHEMA = pl.Schema({"id": pl.String(), "decision": pl.String(), "rules": pl.List(pl.String())})
UNASSIGNED_SCHEMA = pl.Schema({"id": pl.String, "territory": pl.String, "reason": pl.String})
RELATED_SCHEMA = pl.Schema({"object": pl.String, "id": pl.String, "field": pl.String, "before": pl.String,
                            "after": pl.String, "account": pl.String, "rule": pl.String})
"""A related record's owner change (`owner_change`): its object, id, owner field, and the account it follows."""
FAMILY_SCHEMA = pl.Schema({"family": pl.String, "accounts": pl.Int64, "territory": pl.String, "owner": pl.String})
_FILTER_BELOW = 0.5
"""Share of records changing under which the diff first keeps only the records that change."""
_CHANGES_OPEN, _CHANGES_CLOSE = b',\n "changes": [\n  ', b"\n ]"
"""Where `write_json` opens and closes the array of changes, when it has any."""
_READ_PIECE = 64 << 20
_SLICE = 10_000
"""Records whose provenance line is made at a time to compare with the CRM's."""


@dataclass(frozen=True)
class PlanMeta:
    """Where and when a plan was made."""

    created_at: str
    crm: str
    config_hash: str
    rulebook_hash: str
    records_read: int


@dataclass(frozen=True)
class Plan:
    """Field changes, list changes, conflicts and data quality of one evaluation."""

    meta: PlanMeta
    changes: Changes
    list_changes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LIST_SCHEMA))
    conflicts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CONFLICT_SCHEMA))
    unassigned: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=UNASSIGNED_SCHEMA))
    quality: tuple[QualityIssue, ...] = ()
    owner_books: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=OWNER_SCHEMA))
    territory_books: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TERRITORY_SCHEMA))
    too_long: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TOO_LONG_SCHEMA))
    """Values held back because their field cannot hold them: id, field, length, limit."""
    balance: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=BALANCE_SCHEMA))
    """With `--rebalance`: per pool, count and value balance before and after."""
    held: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=HELD_SCHEMA))
    """Changes an output's write policy held back: id, field, before, after, rule, policy."""
    related: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=RELATED_SCHEMA))
    """Contacts and open deals that follow their account's owner change (`owner_change`)."""
    families_moved: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FAMILY_SCHEMA))
    """With `families: together`: per family (its ultimate parent's id) re-routed as one unit, the accounts whose
    territory or owner changes and where the family goes (null: that field does not change)."""
    list_sizes: Mapping[str, int] | None = None
    """Members each rulebook list had in the CRM when the plan was made (not saved: a saved plan's lists are read
    again before it is applied)."""

    @property
    def changed_records(self) -> int:
        """How many records have at least one field change."""
        return self.changes.changed_records

    @property
    def is_empty(self) -> bool:
        """True when applying would write nothing."""
        return self.changes.is_empty() and self.list_changes.is_empty() and self.related.is_empty()

    def dumps(self) -> str:
        """The plan as the text of one JSON document (SPEC §5)."""
        text = io.BytesIO()
        self.write_json(text)
        return text.getvalue().decode()

    def write_json(self, sink: IO[bytes]) -> None:
        """Write the plan as one JSON document (SPEC §5) in UTF-8, one row per line, never holding it as Python rows."""
        frames = {
            "list_changes": self.list_changes,
            "related_changes": self.related,
            "conflicts": self.conflicts,
            "unassigned_owners": self.unassigned,
        }
        sink.write(b'{\n "meta": ' + json.dumps(vars(self.meta), default=str).encode())
        sink.write(b',\n "changes": ')
        write_array(sink, self.changes.json_texts(ROW_SEPARATOR), self.changes.changed_records)
        for key, frame in frames.items():
            sink.write(f',\n "{key}": '.encode())
            write_array(sink, encoded(frame), frame.height)
        sink.write(b',\n "data_quality": ' + json.dumps([vars(q) for q in self.quality], default=str).encode())
        for key, frame in (("owner_books", self.owner_books), ("territory_books", self.territory_books),
                           ("too_long", self.too_long), ("balance", self.balance),
                           ("held_by_policy", self.held), ("families_moved", self.families_moved)):
            sink.write(f',\n "{key}": '.encode())
            write_array(sink, encoded(frame), frame.height)
        sink.write(b"\n}\n")

    @classmethod
    def load(cls, path: Path) -> Plan:
        """Read a saved plan; its changes are read by polars, never made into Python objects.

        A plan `write_json` wrote holds each change on a line of its own: that array is read
        from the file a piece at a time as NDJSON, and the rest of the document (small) by
        `json`; the document is never held whole (a 1,000,000-account plan is 2.2 GB). One
        laid out otherwise (reformatted by another tool) is read whole.
        """
        with path.open("rb") as file:
            head = file.read(_READ_PIECE)
            begin = head.find(_CHANGES_OPEN)
            read = _read_changes(file, head[begin + len(_CHANGES_OPEN):]) if begin >= 0 else None
        if read is None:
            return cls.from_json(json.loads(path.read_bytes()))
        changes, tail = read
        return cls.from_json(json.loads(head[:begin] + b',\n "changes": []' + tail), changes)

    @classmethod
    def from_json(cls, data: dict[str, Any], changes: pl.DataFrame | None = None) -> Plan:
        """Read a saved plan back from its document, or from the rest of it and its `changes`."""
        if changes is None:
            changes = pl.DataFrame(data.get("changes", []), schema=CHANGE_SCHEMA)
        return cls(
            meta=PlanMeta(**data["meta"]),
            changes=Changes.from_frame(changes),
            list_changes=pl.DataFrame(data.get("list_changes", []), schema=LIST_SCHEMA),
            conflicts=pl.DataFrame(data.get("conflicts", []), schema=CONFLICT_SCHEMA),
            unassigned=pl.DataFrame(data.get("unassigned_owners", []), schema=UNASSIGNED_SCHEMA),
            quality=tuple(QualityIssue(**q) for q in data.get("data_quality", [])),
            owner_books=pl.DataFrame(data.get("owner_books", []), schema=OWNER_SCHEMA),
            territory_books=pl.DataFrame(data.get("territory_books", []), schema=TERRITORY_SCHEMA),
            too_long=pl.DataFrame(data.get("too_long", []), schema=TOO_LONG_SCHEMA),
            balance=pl.DataFrame(data.get("balance", []), schema=BALANCE_SCHEMA),
            held=pl.DataFrame(data.get("held_by_policy", []), schema=HELD_SCHEMA),
            related=pl.DataFrame(data.get("related_changes", []), schema=RELATED_SCHEMA),
            families_moved=pl.DataFrame(data.get("families_moved", []), schema=FAMILY_SCHEMA),
        )


def _read_changes(file: IO[bytes], pending: bytes) -> tuple[pl.DataFrame, bytes] | None:
    """The changes array `write_json` wrote, read on from `file` (`pending`: its start, read already), and the rest.

    Pieces of about `_READ_PIECE` bytes are made NDJSON by turning the separators between
    changes into line ends (a line end inside a JSON string is escaped, so each separator
    found ends a change, and the array's close is found only at its end). None when the
    array never closes so: the document is laid out otherwise.
    """
    separator = ROW_SEPARATOR.encode()
    frames = [pl.DataFrame(schema=CHANGE_SCHEMA)]
    while (close := pending.find(_CHANGES_CLOSE)) < 0:
        more = file.read(_READ_PIECE)
        if not more:
            return None
        cut = pending.rfind(separator)
        if cut > 0:
            frames.append(pl.read_ndjson(io.BytesIO(pending[:cut].replace(separator, b"\n")), schema=CHANGE_SCHEMA))
            pending = pending[cut + len(separator):]
        pending += more
    frames.append(pl.read_ndjson(io.BytesIO(pending[:close].replace(separator, b"\n")), schema=CHANGE_SCHEMA))
    return pl.concat(frames), pending[close + len(_CHANGES_CLOSE):] + file.read()


def crm_text(value: pl.Expr, kind: FieldType) -> pl.Expr:
    """A typed value as the CSV cell / CRM text it is written as (SPEC §6)."""
    if kind in (FieldType.NUMBER, FieldType.INTEGER):
        integral = value.is_finite() & (value == value.floor())
        return pl.when(integral).then(value.cast(pl.Int64).cast(pl.String)).otherwise(value.cast(pl.String))
    if kind == FieldType.BOOLEAN:
        return pl.when(value).then(pl.lit("true")).when(~value).then(pl.lit("false"))
    if kind == FieldType.LIST:
        return pl.when(value.list.len() > 0).then(value.list.join(";"))
    if kind == FieldType.DATETIME:
        return value.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    if kind == FieldType.DATE:
        return value.dt.strftime("%Y-%m-%d")
    return value.cast(pl.String)


def _comparable(value: pl.Expr, kind: FieldType, *, converted: bool = False) -> pl.Expr:
    """`value` as it compares with the CRM's: a `converted` value (read from the CRM) is already trimmed."""
    if kind == FieldType.LIST:
        # An empty multi-select is written as an empty cell, which reads back as null. The items are
        # sorted by `list.eval`: `list.sort` takes some forty times as long (2.5 s for a million lists).
        return pl.when(value.list.len() > 0).then(value.list.eval(pl.element().sort()))
    if kind == FieldType.STRING and not converted:
        return value.str.strip_chars()
    return value


def build_plan(
    project: Project,
    snapshot: Snapshot,
    evaluated: pl.DataFrame,
    current_lists: Mapping[str, set[str]] | None = None,
    text_lengths: Mapping[str, int] | None = None,
) -> Plan:
    """Diff the evaluated values against the CRM's current values.

    Changes come in id order, and within a record in CRM field name order.
    `text_lengths` (field -> the most characters it holds) holds back values that cannot
    fit and shortens provenance to its compact form where needed.
    """
    lengths = text_lengths or {}
    book = project.book
    raw = snapshot.raw
    # Fields in name order, so that one record's changes come out sorted without a sort.
    outputs = sorted(project.outputs.items(), key=lambda item: item[1])
    befores = convert_frame(raw, [FieldSpec(_before(name), src, book.kinds[name]) for name, src in outputs])[0]
    needed = [ID, *project.outputs, *(c for name in project.outputs if (c := rule_column(name)) in evaluated.columns)]
    frame = pl.concat([
        evaluated.select(*needed, pl.int_range(pl.len(), dtype=pl.UInt32).alias(_POSITION_IN_FRAME)),
        befores.drop(ID),
        raw.select(pl.col(f).alias(_raw(f)) for f in project.write_fields()),
    ], how="horizontal")
    del befores
    # Lazily throughout: `frame` joins columns chunked differently (the CSV reader's and the evaluated
    # ones), and an eager operation on it would first copy every column into one chunk.
    # The CRM's texts are read trimmed, so a decided text equal to the CRM's in every record is trimmed too:
    # such a field (every field of a re-plan with nothing to change) is compared without a trimmed copy.
    text_fields = [name for name, _ in outputs if book.kinds[name] == FieldType.STRING]
    same = frame.lazy().select(pl.col(name).eq_missing(pl.col(_before(name))).all() for name in text_fields).collect()
    trimmed = {name for name in text_fields if same[name][0]}
    flags = frame.lazy().select(_keep(frame, name, book.kinds[name], project, trimmed=name in trimmed)
                                .fill_null(False).alias(_kept(name)) for name, _ in outputs).collect()
    # Whether each field changes is worked out once, as flags: the diff and the filter below both read them.
    frame = pl.concat([frame, flags], how="horizontal")
    keeps = [pl.col(_kept(name)) for name, _ in outputs]
    changing = flags.select(pl.any_horizontal(keeps) if keeps else pl.lit(False)).to_series()
    if changing.sum() < frame.height * _FILTER_BELOW:
        # Few records change (a re-plan): the changes carry only theirs. When most change,
        # filtering first would copy the frame for little gain.
        frame = frame.lazy().filter(changing).collect()
    texts = [crm_text(pl.col(name), book.kinds[name]) for name, _ in outputs]
    # A value longer than its field is held back, never sent (the org would refuse the whole record).
    fits = [text.str.len_chars().le(lengths[source]).fill_null(True) if source in lengths else pl.lit(True)
            for (_, source), text in zip(outputs, texts, strict=True)]
    sent = [keep & fit for keep, fit in zip(keeps, fits, strict=True)]
    too_long = _too_long(frame, [(source, keep & ~fit, text) for (_, source), keep, fit, text
                                 in zip(outputs, keeps, fits, texts, strict=True) if source in lengths], lengths)
    # The changes carry each output's value and rule as the evaluated records hold them; texts are made when written.
    carried = [pl.col(name).alias(_value(name)) for name, _ in outputs]
    carried += [pl.col(ruled) for name, _ in outputs if (ruled := rule_column(name)) in frame.columns]
    columns: list[Diffed] = [
        (source, keep, crm_text(pl.col(_value(name)), book.kinds[name]), _rule(frame, name))
        for (name, source), keep in zip(outputs, sent, strict=True)
    ]
    target = project.config.model.provenance
    if target:
        # The line reads only rule columns, which the changes carry: it is made here to compare with the
        # CRM's, a slice of records at a time, and again when written, never held for every record.
        line = provenance_line(frame, project, lengths.get(target))
        # Provenance changes only for records that change anyway; it never changes on its own.
        keep = (pl.any_horizontal(sent) & pl.col(_raw(target)).ne_missing(line) if sent
                else pl.repeat(False, pl.len())).alias(_kept(target))
        compared = [frame.slice(start, _SLICE).lazy().select(keep).collect()
                    for start in range(0, max(frame.height, 1), _SLICE)]
        frame = pl.concat([frame, pl.concat(compared)], how="horizontal")
        columns.append((target, pl.col(_kept(target)), line, pl.lit("provenance")))
        columns.sort(key=lambda item: item[0])
    changes = _changes(frame, columns, carried)
    del frame
    changes, held = changes.held_back(project.policies, target)
    families_moved = _families_moved(project, evaluated, changes)
    meta = PlanMeta(
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        crm=project.config.model.crm.kind,
        config_hash=project.config.hash,
        rulebook_hash=book.hash,
        records_read=raw.height,
    )
    return Plan(
        meta=meta,
        changes=changes,
        list_changes=_list_changes(project, evaluated, current_lists or {}),
        list_sizes=None if current_lists is None else {key: len(ids) for key, ids in current_lists.items()},
        conflicts=_conflicts(project, evaluated),
        unassigned=_unassigned(project, evaluated),
        quality=snapshot.quality,
        owner_books=owner_books(project, evaluated),
        territory_books=territory_books(project, snapshot, evaluated),
        too_long=too_long,
        held=held,
        families_moved=families_moved,
    )


def _families_moved(project: Project, evaluated: pl.DataFrame, changes: Changes) -> pl.DataFrame:
    """Families routed together in which a member, not only the head, changes territory or owner.

    Column-wise: the records that moved are marked by their row in the evaluated records,
    then one group-by of them; where a family goes is read from its members' evaluated
    values (not a child's manual override).
    """
    territories = project.book.territories
    if territories is None or territories.families != "together" or ULTIMATE not in evaluated.columns:
        return pl.DataFrame(schema=FAMILY_SCHEMA)
    outputs = {name: field for name in (territories.output, territories.owner_output or "")
               if (field := project.outputs.get(name))}
    changed = changes.positions(list(outputs.values()))
    if changed.is_empty():
        return pl.DataFrame(schema=FAMILY_SCHEMA)
    marked = np.zeros(evaluated.height, dtype=bool)
    marked[changed.to_numpy()] = True
    moved = pl.Series(marked)
    # A family has two or more records: some record of it is not its own ultimate parent.
    family = (pl.col(ID) != pl.col(ULTIMATE)).any().over(ULTIMATE)
    names = list(outputs)
    rows = evaluated.select(ID, ULTIMATE, *names, *(rule_column(n) for n in names)).filter(moved)
    rows = rows.filter(family)
    go = [pl.col(n).filter(pl.col(rule_column(n)) != OVERRIDE).first().cast(pl.String)
          .alias("territory" if n == territories.output else "owner") for n in names]
    found = rows.group_by(ULTIMATE).agg(pl.len().cast(pl.Int64).alias("accounts"), *go)
    return (found.rename({ULTIMATE: "family"}).with_columns(
        *(pl.lit(None, pl.String).alias(c) for c in ("territory", "owner") if c not in found.columns))
        .sort("family").select(FAMILY_SCHEMA.names()).cast(FAMILY_SCHEMA))


def _too_long(frame: pl.DataFrame, held: list[tuple[str, pl.Expr, pl.Expr]],
              lengths: Mapping[str, int]) -> pl.DataFrame:
    """One row per value held back as too long: id, field, its length and the field's limit (never the value)."""
    parts = [frame.filter(keep.fill_null(False)).select(
        pl.col(ID).alias("id"), pl.lit(source, pl.String).alias("field"),
        text.str.len_chars().cast(pl.Int64).alias("length"), pl.lit(lengths[source], pl.Int64).alias("limit"),
    ) for source, keep, text in held]
    return pl.concat(parts) if parts else pl.DataFrame(schema=TOO_LONG_SCHEMA)


_POSITION_IN_FRAME = "__position_in_frame__"


def _before(name: str) -> str:
    return f"__before__{name}"


def _value(name: str) -> str:
    return f"{name}#value"


def _kept(name: str) -> str:
    return f"__keep__{name}"


def _raw(field: str) -> str:
    return f"__raw__{field}"


Diffed = tuple[str, pl.Expr, pl.Expr, pl.Expr]
"""A field as diffed: its CRM name, whether it changes (read from the frame diffed), and its text and rule
(read from the columns the changes carry)."""


def _changes(frame: pl.DataFrame, columns: list[Diffed], carried: list[pl.Expr]) -> Changes:
    """The changes of `columns`, a row per record, its `POSITION` beside it.

    Each field's before is the CRM's raw text, and the `carried` columns (values and rules)
    are those of `frame`, all taken as they are: only the keep flags are made here.
    """
    records = frame.lazy().select(
        pl.col(ID).alias("id"),
        pl.col(_POSITION_IN_FRAME).alias(POSITION),
        *(keep.alias(column("keep", i)) for i, (_, keep, _, _) in enumerate(columns)),
        *(pl.col(_raw(field)).alias(column("before", i)) for i, (field, *_) in enumerate(columns)),
        *carried,
    ).collect()
    return Changes.of([field for field, *_ in columns], records, [after for _, _, after, _ in columns],
                      [rule for *_, rule in columns])


def _keep(frame: pl.DataFrame, name: str, kind: FieldType, project: Project, *, trimmed: bool = False) -> pl.Expr:
    """Whether the value decided for `name` differs from what the CRM holds and may be written.

    `trimmed`: the decided values are known to be trimmed texts, compared as they are.
    """
    after, before = pl.col(name), pl.col(_before(name))
    raw_before = pl.col(_raw(project.outputs[name]))
    equal = _comparable(after, kind, converted=trimmed).eq_missing(_comparable(before, kind, converted=True))
    # A before value that could not be converted is junk in the CRM: replace it.
    equal = equal & (before.is_not_null() | raw_before.is_null())
    keep = ~equal
    if rule_column(name) in frame.columns:
        keep = keep & (pl.col(rule_column(name)) != CONFLICT).fill_null(True)
    if name == project.owner_output:
        keep = keep & after.is_not_null()  # no owner found: leave the current owner
    return keep


def _rule(frame: pl.DataFrame, name: str) -> pl.Expr:
    return pl.col(rule_column(name)) if rule_column(name) in frame.columns else pl.lit(name)


def _list_changes(project: Project, evaluated: pl.DataFrame, current: Mapping[str, set[str]]) -> pl.DataFrame:
    """Per list, the records to add (members now, not in the CRM's list) and to remove, each in id order."""
    parts = []
    for item in project.book.lists:
        members = evaluated.select(pl.col(ID).filter(pl.col(list_column(item.id))).alias("id"))
        before = pl.DataFrame({"id": list(current.get(item.id, ()))}, schema={"id": pl.String})
        for action, have, lack in (("add", members, before), ("remove", before, members)):
            found = have.join(lack, on="id", how="anti").sort("id")
            parts.append(found.select(pl.lit(item.id).alias("list"), "id", pl.lit(action).alias("action")))
    return pl.concat(parts) if parts else pl.DataFrame(schema=LIST_SCHEMA)


def _conflicts(project: Project, evaluated: pl.DataFrame) -> pl.DataFrame:
    # Lazily, so that only the columns kept are filtered.
    parts = [
        evaluated.lazy().filter(pl.col(rule_column(d.name)) == CONFLICT).select(
            pl.col(ID).alias("id"), pl.lit(d.name).alias("decision"), pl.col(conflict_column(d.name)).alias("rules")
        ).collect()
        for d in project.book.decisions
        if d.hit == "unique"
    ]
    return pl.concat(parts) if parts else pl.DataFrame(schema=CONFLICT_SCHEMA)


def _unassigned(project: Project, evaluated: pl.DataFrame) -> pl.DataFrame:
    territories = project.book.territories
    if territories is None or not territories.owner_output:
        return pl.DataFrame(schema=UNASSIGNED_SCHEMA)
    column = rule_column(territories.owner_output)
    return evaluated.lazy().filter(pl.col(column).is_in(["capacity-full", "no-available-owner"])).select(
        pl.col(ID).alias("id"), pl.col(territories.output).alias("territory"), pl.col(column).alias("reason")
    ).collect()
