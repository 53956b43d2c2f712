"""Reading a snapshot: the records the rules need, from the CRM, converted to their declared types."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

import polars as pl

from revrules.connectors.protocols import Connector, IncrementalRead
from revrules.engine.convert import FieldSpec, FieldType, QualityIssue, convert_frame
from revrules.engine.hierarchy import resolve_hierarchy
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
    return convert(project, connector.read(project.read_fields()))


def read_modified(project: Project, connector: Connector, since: datetime) -> Snapshot:
    """Read only the records modified since `since` (the connector must support incremental reads)."""
    if not isinstance(connector, IncrementalRead):
        raise InvalidInputError(f"the {connector.kind} connector cannot read only modified records")
    modified = connector.read_modified_since(project.read_fields(), since)
    return replace(convert(project, modified.frame), watermark=modified.watermark)


def convert(project: Project, raw: pl.DataFrame) -> Snapshot:
    """Typed values for the rules, overrides and the current owner."""
    specs = list(project.config.field_specs())
    for decision, source in project.config.model.overrides.items():
        specs.append(FieldSpec(override_column(decision), source, project.book.kinds[decision]))
    owner = project.owner_output
    if owner:
        specs.append(FieldSpec(CURRENT_OWNER, project.outputs[owner], FieldType.STRING))
    hierarchy = project.config.model.hierarchy
    if hierarchy:
        specs.append(FieldSpec(PARENT_ID, hierarchy.parent, FieldType.STRING))
    typed, quality = convert_frame(raw, specs)
    visible = [q for q in quality if not q.field.startswith("__")]
    if hierarchy:
        # Families are resolved once per read, over every record read, so rules see whole families.
        typed, found = resolve_hierarchy(typed, PARENT_ID, hierarchy.parent)
        visible += found
    return Snapshot(raw, typed, tuple(visible))
