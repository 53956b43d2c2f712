"""Plans: the diff between what the rules decide and what the CRM holds (SPEC §5)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from revrules.connectors.base import ID
from revrules.engine.convert import FieldSpec, FieldType, QualityIssue, convert_frame
from revrules.engine.evaluate import CONFLICT, conflict_column, list_column, rule_column
from revrules.project import Project
from revrules.run.books import OWNER_SCHEMA, TERRITORY_SCHEMA, owner_books, territory_books
from revrules.run.policy import HELD_SCHEMA, hold_back_by_policy
from revrules.run.provenance import TOO_LONG_SCHEMA, hold_back_too_long, provenance_line
from revrules.run.read import Snapshot

CHANGE_SCHEMA = pl.Schema({"id": pl.String, "field": pl.String, "before": pl.String, "after": pl.String,
                           "rule": pl.String})
LIST_SCHEMA = pl.Schema({"list": pl.String, "id": pl.String, "action": pl.String})
CONFLICT_SCHEMA = pl.Schema({"id": pl.String(), "decision": pl.String(), "rules": pl.List(pl.String())})
UNASSIGNED_SCHEMA = pl.Schema({"id": pl.String, "territory": pl.String})


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
    changes: pl.DataFrame
    list_changes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LIST_SCHEMA))
    conflicts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CONFLICT_SCHEMA))
    unassigned: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=UNASSIGNED_SCHEMA))
    quality: tuple[QualityIssue, ...] = ()
    owner_books: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=OWNER_SCHEMA))
    territory_books: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TERRITORY_SCHEMA))
    too_long: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TOO_LONG_SCHEMA))
    """Values held back because their field cannot hold them: id, field, length, limit."""
    held: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=HELD_SCHEMA))
    """Changes an output's write policy held back: id, field, before, after, rule, policy."""

    @property
    def changed_records(self) -> int:
        """How many records have at least one field change."""
        return self.changes["id"].n_unique()

    @property
    def is_empty(self) -> bool:
        """True when applying would write nothing."""
        return self.changes.is_empty() and self.list_changes.is_empty()

    def to_json(self) -> dict[str, Any]:
        """The plan as one JSON document (SPEC §5)."""
        return {
            "meta": vars(self.meta),
            "changes": self.changes.to_dicts(),
            "list_changes": self.list_changes.to_dicts(),
            "conflicts": self.conflicts.to_dicts(),
            "unassigned_owners": self.unassigned.to_dicts(),
            "data_quality": [vars(q) for q in self.quality],
            "owner_books": self.owner_books.to_dicts(),
            "territory_books": self.territory_books.to_dicts(),
            "too_long": self.too_long.to_dicts(),
            "held_by_policy": self.held.to_dicts(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        """Read a saved plan back."""
        return cls(
            meta=PlanMeta(**data["meta"]),
            changes=pl.DataFrame(data.get("changes", []), schema=CHANGE_SCHEMA),
            list_changes=pl.DataFrame(data.get("list_changes", []), schema=LIST_SCHEMA),
            conflicts=pl.DataFrame(data.get("conflicts", []), schema=CONFLICT_SCHEMA),
            unassigned=pl.DataFrame(data.get("unassigned_owners", []), schema=UNASSIGNED_SCHEMA),
            quality=tuple(QualityIssue(**q) for q in data.get("data_quality", [])),
            owner_books=pl.DataFrame(data.get("owner_books", []), schema=OWNER_SCHEMA),
            territory_books=pl.DataFrame(data.get("territory_books", []), schema=TERRITORY_SCHEMA),
            too_long=pl.DataFrame(data.get("too_long", []), schema=TOO_LONG_SCHEMA),
            held=pl.DataFrame(data.get("held_by_policy", []), schema=HELD_SCHEMA),
        )


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


def _comparable(value: pl.Expr, kind: FieldType) -> pl.Expr:
    if kind == FieldType.LIST:
        # An empty multi-select is written as an empty cell, which reads back as null.
        return pl.when(value.list.len() > 0).then(value.list.sort())
    if kind == FieldType.STRING:
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

    `text_lengths` (field -> the most characters it holds) holds back values that cannot
    fit and shortens provenance to its compact form where needed.
    """
    book = project.book
    raw = snapshot.raw
    befores = convert_frame(
        raw, [FieldSpec(f"__before__{name}", src, book.kinds[name]) for name, src in project.outputs.items()]
    )[0]
    frame = evaluated.hstack(befores.drop(ID))
    frame = frame.with_columns(raw.select(project.write_fields()).rename(lambda c: f"__raw__{c}"))
    parts = [_field_changes(frame, name, src, book.kinds[name], project) for name, src in project.outputs.items()]
    changes = pl.concat(parts) if parts else pl.DataFrame(schema=CHANGE_SCHEMA)
    changes, held = hold_back_by_policy(changes, project.policies)
    changes, too_long = hold_back_too_long(changes, text_lengths or {})
    if project.config.model.provenance and not changes.is_empty():
        limit = (text_lengths or {}).get(project.config.model.provenance)
        changes = pl.concat([changes, _provenance(frame, changes, project, limit)])
    changes = changes.sort(["id", "field"])
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
        conflicts=_conflicts(project, evaluated),
        unassigned=_unassigned(project, evaluated),
        quality=snapshot.quality,
        owner_books=owner_books(project, evaluated),
        territory_books=territory_books(project, snapshot, evaluated),
        too_long=too_long,
        held=held,
    )


def _field_changes(frame: pl.DataFrame, name: str, source: str, kind: FieldType, project: Project) -> pl.DataFrame:
    after, before = pl.col(name), pl.col(f"__before__{name}")
    raw_before = pl.col(f"__raw__{source}")
    equal = _comparable(after, kind).eq_missing(_comparable(before, kind))
    # A before value that could not be converted is junk in the CRM: replace it.
    equal = equal & (before.is_not_null() | raw_before.is_null())
    keep = ~equal
    rule = pl.col(rule_column(name)) if rule_column(name) in frame.columns else pl.lit(name)
    if rule_column(name) in frame.columns:
        keep = keep & (pl.col(rule_column(name)) != CONFLICT).fill_null(True)
    if name == project.owner_output:
        keep = keep & after.is_not_null()  # no owner found: leave the current owner
    return frame.filter(keep).select(
        pl.col(ID).alias("id"),
        pl.lit(source, dtype=pl.String).alias("field"),
        raw_before.alias("before"),
        crm_text(after, kind).alias("after"),
        rule.cast(pl.String).alias("rule"),
    )


def _provenance(frame: pl.DataFrame, changes: pl.DataFrame, project: Project, limit: int | None) -> pl.DataFrame:
    """Provenance changes for the records that change anyway; it never changes on its own."""
    target = project.config.model.provenance or ""
    changed = frame.join(changes.select(pl.col("id").alias(ID)).unique(), on=ID, how="semi")
    line = provenance_line(frame, project, limit)
    return changed.select(
        pl.col(ID).alias("id"),
        pl.lit(target, dtype=pl.String).alias("field"),
        pl.col(f"__raw__{target}").alias("before"),
        line.alias("after"),
        pl.lit("provenance").alias("rule"),
    ).filter(pl.col("before").ne_missing(pl.col("after")))


def _list_changes(project: Project, evaluated: pl.DataFrame, current: Mapping[str, set[str]]) -> pl.DataFrame:
    parts = []
    for item in project.book.lists:
        members = set(evaluated.filter(pl.col(list_column(item.id)))[ID].to_list())
        before = current.get(item.id, set())
        rows = [(item.id, i, "add") for i in sorted(members - before)]
        rows += [(item.id, i, "remove") for i in sorted(before - members)]
        if rows:
            parts.append(pl.DataFrame(rows, schema=LIST_SCHEMA, orient="row"))
    return pl.concat(parts) if parts else pl.DataFrame(schema=LIST_SCHEMA)


def _conflicts(project: Project, evaluated: pl.DataFrame) -> pl.DataFrame:
    parts = [
        evaluated.filter(pl.col(rule_column(d.name)) == CONFLICT).select(
            pl.col(ID).alias("id"), pl.lit(d.name).alias("decision"), pl.col(conflict_column(d.name)).alias("rules")
        )
        for d in project.book.decisions
        if d.hit == "unique"
    ]
    return pl.concat(parts) if parts else pl.DataFrame(schema=CONFLICT_SCHEMA)


def _unassigned(project: Project, evaluated: pl.DataFrame) -> pl.DataFrame:
    territories = project.book.territories
    if territories is None or not territories.owner_output:
        return pl.DataFrame(schema=UNASSIGNED_SCHEMA)
    column = rule_column(territories.owner_output)
    return evaluated.filter(pl.col(column) == "capacity-full").select(
        pl.col(ID).alias("id"), pl.col(territories.output).alias("territory")
    )
