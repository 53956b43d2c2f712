"""Token scopes: probing which of the scopes a run needs the access token lacks (`check --online`).

Each probe is a request that changes nothing (a one-record page, an empty batch
update); a 403 `MISSING_SCOPES` answer names the scopes it lacked. Scope names
follow HubSpot's API reference ("Scope requirements" of each endpoint).
"""

from __future__ import annotations

from revrules.connectors.hubspot.errors import missing_scopes
from revrules.connectors.hubspot.session import HubspotSession

COMPANY_SCOPES = {
    "read records": "crm.objects.{object}.read",
    "write records": "crm.objects.{object}.write",
    "read property definitions": "crm.schemas.{object}.read",
}


def missing(session: HubspotSession, *, contacts: bool) -> list[str]:
    """The scopes the token lacks among those every run needs (and contacts' when `contacts`).

    Raises:
        CrmError: HubSpot failed otherwise (401, retries exhausted).
    """
    objects = session.paths.objects(session.object_type)
    probes: list[tuple[str, str, str, object]] = [
        ("read records", "GET", objects, None),
        # An empty batch changes nothing, but HubSpot checks the write scope first.
        ("write records", "POST", objects + "/batch/update", {"inputs": []}),
        ("read property definitions", "GET", session.paths.properties(session.object_type), None),
    ]
    if contacts:
        probes.append(("read contacts", "GET", session.paths.objects("contacts"), None))
    lacking: list[str] = []
    for what, verb, path, body in probes:
        query = [("limit", 1)] if verb == "GET" else []
        answer = session.request(f"probe scopes: {what}", verb, path, body=body, query=query,
                                 accept_statuses={400, 403})
        if answer.status == 403:
            named = missing_scopes(answer.body) or [_fallback(what, session.object_type)]
            lacking += [scope for scope in named if scope not in lacking]
    return lacking


def _fallback(what: str, object_type: str) -> str:
    """The scope a probe needs, when a 403 does not name it."""
    template = COMPANY_SCOPES.get(what, "crm.objects.contacts.read")
    return template.format(object=object_type)
