"""Marketing lists around a run: current members, the max_list_change guard, renamed lists."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from revrules.connectors.protocols import ApiBudget, Connector, ListSync
from revrules.project import Project
from revrules.state.files import replace_private

log = logging.getLogger(__name__)


def current_lists(project: Project, connector: Connector) -> dict[str, set[str]]:
    """Each rulebook list's current members in the CRM (empty when the connector has no lists)."""
    if not project.book.lists or not isinstance(connector, ListSync):
        return {}
    return {item.id: connector.list_members(item.id, item.name) for item in project.book.lists}


def list_sizes(project: Project, connector: Connector) -> dict[str, int]:
    """How many members each rulebook list has in the CRM (see `current_lists`)."""
    return {key: len(ids) for key, ids in current_lists(project, connector).items()}


def list_calls(connector: ApiBudget, list_changes: pl.DataFrame, names: Mapping[str, str],
               sizes: Mapping[str, int]) -> int:
    """About the API calls writing `list_changes` costs, for the budget guard (see `ApiBudget.list_write_calls`).

    A list whose name is unknown is not counted: the apply refuses it before any call.
    """
    counts = list_changes.group_by("list", maintain_order=True).agg(
        adds=(pl.col("action") == "add").sum(), removes=(pl.col("action") == "remove").sum())
    return sum(connector.list_write_calls(list_id, names[list_id], adds, removes, sizes.get(list_id, 0))
               for list_id, adds, removes in counts.iter_rows() if list_id in names)


def list_names(project: Project) -> dict[str, str]:
    """Rulebook list id -> its display name (the CRM finds lists by name)."""
    return {item.id: item.name for item in project.book.lists}


def known_list_names(project: Project) -> dict[str, str]:
    """`list_names`, plus the names of lists synced before and since dropped from the rulebook.

    A saved plan or a rollback may still change a list the rulebook no longer has.
    """
    return {**_synced_names(project), **list_names(project)}


def _synced_names(project: Project) -> dict[str, str]:
    try:
        synced = json.loads(_synced_names_path(project).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in synced.items()} if isinstance(synced, dict) else {}


def _synced_names_path(project: Project) -> Path:
    return project.config.state_dir / "lists.json"


def report_renamed_lists(project: Project) -> None:
    """Warn about rulebook lists whose name changed since they were last applied.

    The CRM list is found by name, so a renamed rulebook list syncs a new CRM list; the
    one synced under the old name is left alone (and keeps its members).
    """
    synced = _synced_names(project)
    for list_id, name in list_names(project).items():
        old = synced.get(list_id)
        if old is not None and old != name:
            log.warning("list %s is now named %r: revrules syncs the CRM list of that name and leaves the list "
                        "%r it synced before alone (delete or archive it in the CRM)", list_id, name, old)


def remember_list_names(project: Project) -> None:
    """Record the names the lists were synced under, to notice a rename later."""
    if not project.book.lists:
        return
    path = _synced_names_path(project)
    synced = {**_synced_names(project), **list_names(project)}
    replace_private(path, json.dumps(synced, indent=2, sort_keys=True))
