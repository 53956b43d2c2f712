"""Marketing lists around a run: current members, the max_list_change guard, renamed lists."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import cast

from revrules.connectors.base import Connector, ListSync
from revrules.project import Project

log = logging.getLogger(__name__)


def current_lists(project: Project, connector: Connector) -> dict[str, set[str]]:
    """Each rulebook list's current members in the CRM (empty when the connector has no lists)."""
    if not project.book.lists:
        return {}
    if getattr(connector, "write_list_changes", None) is not None:
        # HubSpot and Salesforce find a list by its display name, not by the rulebook id.
        sync = cast(ListSync, connector)
        return {item.id: sync.list_members(item.id, item.name) for item in project.book.lists}
    members = getattr(connector, "list_members", None)
    if members is None:
        return {}
    return {item.id: members(item.id) for item in project.book.lists}


def list_names(project: Project) -> dict[str, str]:
    """Rulebook list id -> its display name (the CRM finds lists by name)."""
    return {item.id: item.name for item in project.book.lists}


def _synced_names_path(project: Project) -> Path:
    return project.config.state_dir / "lists.json"


def report_renamed_lists(project: Project) -> None:
    """Warn about rulebook lists whose name changed since they were last applied.

    The CRM list is found by name, so a renamed rulebook list syncs a new CRM list; the
    one synced under the old name is left alone (and keeps its members).
    """
    try:
        synced = json.loads(_synced_names_path(project).read_text())
    except (OSError, ValueError):
        return
    for list_id, name in list_names(project).items():
        old = synced.get(list_id) if isinstance(synced, dict) else None
        if isinstance(old, str) and old != name:
            log.warning("list %s is now named %r: revrules syncs the CRM list of that name and leaves the list "
                        "%r it synced before alone (delete or archive it in the CRM)", list_id, name, old)


def remember_list_names(project: Project) -> None:
    """Record the names the lists were synced under, to notice a rename later."""
    if not project.book.lists:
        return
    path = _synced_names_path(project)
    try:
        synced = json.loads(path.read_text())
    except (OSError, ValueError):
        synced = {}
    synced = {**(synced if isinstance(synced, dict) else {}), **list_names(project)}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(synced, indent=2, sort_keys=True))
    temporary.replace(path)
