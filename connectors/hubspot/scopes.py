"""Token scopes: probing which of the scopes a run needs the access token lacks (`check --online`).

Each probe is a request that changes nothing (a one-record page, an empty batch
update, a list creation without a name); a 403 `MISSING_SCOPES` answer names the
scopes it lacked. Scope names follow HubSpot's API reference ("Scope
requirements" of each endpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from revrules.connectors.hubspot.errors import missing_scopes
from revrules.connectors.hubspot.lists import OBJECT_TYPE_IDS
from revrules.connectors.hubspot.session import HubspotSession

PROBE_LIST_NAME = "revrules scope probe"
"""The list name the `read lists` probe looks up; a 404 (no such list) proves the scope."""


@dataclass(frozen=True)
class Probe:
    """One request that needs `scope` and changes nothing; `purpose` says which feature needs it."""

    purpose: str
    scope: str
    verb: str
    path: str
    body: object = None


@dataclass(frozen=True)
class MissingScope:
    """A scope the token lacks, and the feature of this config that needs it."""

    scope: str
    purpose: str


def probes(session: HubspotSession, *, contacts: bool, owners: bool, lists: bool,
           related: Sequence[str] = ()) -> list[Probe]:
    """The probes for what a run needs: records and property definitions always, the rest by feature."""
    object_type = session.object_type
    objects = session.paths.objects(object_type)
    found: list[Probe] = [
        Probe("read records", f"crm.objects.{object_type}.read", "GET", objects),
        # An empty batch changes nothing, but HubSpot checks the write scope first.
        Probe("write records", f"crm.objects.{object_type}.write", "POST", objects + "/batch/update", {"inputs": []}),
        Probe("read property definitions", f"crm.schemas.{object_type}.read", "GET",
              session.paths.properties(object_type)),
    ]
    if owners:
        found.append(Probe("read owners: territories route owners", "crm.objects.owners.read", "GET",
                           session.paths.owners()))
    if lists:
        type_id = quote(OBJECT_TYPE_IDS.get(object_type, object_type), safe="")
        by_name = f"{session.paths.lists()}/object-type-id/{type_id}/name/{quote(PROBE_LIST_NAME, safe='')}"
        found += [
            Probe("find lists: the rulebook has lists", "crm.lists.read", "GET", by_name),
            # A creation without a name is refused (400) after the scope check: nothing is made.
            Probe("write lists: the rulebook has lists", "crm.lists.write", "POST", session.paths.lists(), {}),
        ]
    if contacts:
        found.append(Probe("read contacts: include_contacts", "crm.objects.contacts.read", "GET",
                           session.paths.objects("contacts")))
    for name in related:
        path = session.paths.objects(name)
        found += [Probe(f"read {name}: owner_change", f"crm.objects.{name}.read", "GET", path),
                  Probe(f"write {name}: owner_change", f"crm.objects.{name}.write", "POST", path + "/batch/update",
                        {"inputs": []})]
    return found


def missing(session: HubspotSession, *, contacts: bool, owners: bool = False,
            lists: bool = False, related: Sequence[str] = ()) -> list[MissingScope]:
    """The scopes the token lacks among those the run needs, each once, with the feature that needs it.

    Args:
        session: The portal.
        contacts: A list syncs its members' contacts (`include_contacts`).
        owners: Territories route owners (the owners API).
        lists: The rulebook has lists (the lists API, read and write).
        related: Objects whose owners follow a company's (`owner_change`), read and written.

    Raises:
        CrmError: HubSpot failed otherwise (401, retries exhausted).
    """
    lacking: dict[str, MissingScope] = {}
    for probe in probes(session, contacts=contacts, owners=owners, lists=lists, related=related):
        query = [("limit", 1)] if probe.verb == "GET" else []
        answer = session.request(f"probe scopes: {probe.purpose}", probe.verb, probe.path, body=probe.body,
                                 query=query, accept_statuses={400, 403, 404})
        if answer.status == 403:
            for scope in missing_scopes(answer.body) or [probe.scope]:
                lacking.setdefault(scope, MissingScope(scope, probe.purpose))
    return list(lacking.values())
