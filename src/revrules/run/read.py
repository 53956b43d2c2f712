"""Reading a snapshot: the records the rules need, from the CRM, converted to their declared types."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

import polars as pl

from revrules.connectors.protocols import Connector, IncrementalRead
from revrules.engine.convert import ID, FieldSpec, FieldType, QualityIssue, convert_frame
from revrules.engine.hierarchy import CONTEXT, MAX_DEPTH, resolve_hierarchy
from revrules.errors import InvalidInputError
from revrules.project import CURRENT_OWNER, Project, override_column

log = logging.getLogger(__name__)
PARENT_ID = "__parent_id"


@dataclass(frozen=True)
class Snapshot:
    """What one read of the CRM gave: raw values, typed values and data-quality counts."""

    raw: pl.DataFrame
    typed: pl.DataFrame
    quality: tuple[QualityIssue, ...]
    watermark: datetime | None = None
    """For an incremental read: the moment it covered up to (None: the present)."""


def read_all(project: Project, connector: Connector) -> Snapshot:
    """Read every record and convert the values to their declared types."""
    raw = connector.read(project.read_fields())
    return convert(project, raw, read_ancestors(project, connector, raw))


def read_modified(project: Project, connector: Connector, since: datetime) -> Snapshot:
    """Read only the records modified since `since` (the connector must support incremental reads)."""
    if not isinstance(connector, IncrementalRead):
        raise InvalidInputError(f"the {connector.kind} connector cannot read only modified records")
    modified = connector.read_modified_since(project.read_fields(), since)
    ancestors = read_ancestors(project, connector, modified.frame)
    return replace(convert(project, modified.frame, ancestors), watermark=modified.watermark)


def read_ancestors(project: Project, connector: Connector, raw: pl.DataFrame) -> pl.DataFrame | None:
    """The parents (and their parents) of records in `raw` that `raw` does not hold, read by id.

    A filtered read (Salesforce `where:`) or an incremental one can leave a family's
    parent out; without it the family would be cut in two. One read by id per missing
    level (usually one: `read_records` chunks the ids itself) finds them; a parent the
    CRM does not have stays missing and is reported by `resolve_hierarchy`.

    Returns:
        The raw ancestors, same columns as `raw`; None without a hierarchy or when none is missing.
    """
    hierarchy = project.config.model.hierarchy
    if hierarchy is None:
        return None
    fields = project.read_fields()
    known = raw.select(ID)
    parts: list[pl.DataFrame] = []
    frame = raw
    for _ in range(MAX_DEPTH):
        wanted = (frame.select(pl.col(hierarchy.parent).cast(pl.String).str.strip_chars().alias(ID))
                  .filter(pl.col(ID).is_not_null() & (pl.col(ID) != ""))
                  .unique(maintain_order=True).join(known, on=ID, how="anti"))
        if wanted.is_empty():
            break
        frame = connector.read_records(wanted[ID].to_list(), fields).select(raw.columns)
        if frame.is_empty():
            break
        parts.append(frame)
        # Asked-for ids count as known even when not found, so a missing parent is asked for once.
        known = pl.concat([known, wanted])
    if not parts:
        return None
    ancestors = pl.concat(parts)
    log.info("read %d parent record(s) outside the records read, so that families are complete", ancestors.height)
    return ancestors


def convert(project: Project, raw: pl.DataFrame, ancestors: pl.DataFrame | None = None) -> Snapshot:
    """Typed values for the rules, overrides and the current owner.

    `ancestors` (parents read only to complete families) are typed and appended to
    `typed` with `CONTEXT` true: rules read them, plans never write them.
    """
    specs = list(project.config.field_specs())
    for decision, source in project.config.model.overrides.items():
        specs.append(FieldSpec(override_column(decision), source, project.book.kinds[decision]))
    owner = project.owner_output
    if owner:
        specs.append(FieldSpec(CURRENT_OWNER, project.outputs[owner], FieldType.STRING))
    hierarchy = project.config.model.hierarchy
    if hierarchy:
        specs.append(FieldSpec(PARENT_ID, hierarchy.parent, FieldType.STRING))
    records = raw if ancestors is None else pl.concat([raw, ancestors], how="vertical_relaxed")
    typed, quality = convert_frame(records, specs)
    if ancestors is not None:
        typed = typed.with_columns((pl.int_range(pl.len()) >= raw.height).alias(CONTEXT))
    visible = [q for q in quality if not q.field.startswith("__")]
    if hierarchy:
        # Families are resolved once per read, over every record read, so rules see whole families.
        typed, found = resolve_hierarchy(typed, PARENT_ID, hierarchy.parent)
        visible += found
    return Snapshot(raw, typed, tuple(visible))
