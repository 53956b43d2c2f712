"""Token scopes: which scope each emulated request needs, and HubSpot's 403 MISSING_SCOPES answer.

Scope names are those HubSpot's API reference lists per endpoint ("Scope
requirements"): `crm.objects.companies.read`/`.write`, `crm.schemas.companies.read`/
`.write`, `crm.objects.contacts.read`/`.write`, `crm.objects.deals.read`/`.write`,
`crm.objects.owners.read`, `crm.lists.read`/`.write`.
The 403 body follows the one HubSpot sends (hubspot-api-nodejs issue #50): category
`MISSING_SCOPES`, the scopes under `errors[].context.requiredGranularScopes`.
"""

from __future__ import annotations

import re
import uuid

from revrules.testing.hubspot.protocol import JsonObject

ALL_SCOPES = (
    "crm.objects.companies.read", "crm.objects.companies.write", "crm.schemas.companies.read",
    "crm.schemas.companies.write", "crm.objects.contacts.read", "crm.objects.owners.read",
    "crm.lists.read", "crm.lists.write", "crm.objects.contacts.write", "crm.objects.deals.read",
    "crm.objects.deals.write",
)
_WRITES = {"POST", "PATCH", "PUT", "DELETE"}


def required_scopes(method: str, path: str) -> list[str]:
    """The scopes a request needs (empty for paths the emulator does not know)."""
    reads = method == "GET" or path.endswith(("/search", "/batch/read"))
    deals = re.search(r"/(?:deals|deal|0-3)(?:/|$)", path) is not None
    if "/associations/" in path:
        return ["crm.objects.companies.read", "crm.objects.deals.read" if deals else "crm.objects.contacts.read"]
    if re.search(r"/(?:contacts|contact|0-1)(?:/|$)", path):
        return ["crm.objects.contacts.read"] if reads else ["crm.objects.contacts.write"]
    if deals:
        return ["crm.objects.deals.read"] if reads else ["crm.objects.deals.write"]
    if "/owners" in path:
        return ["crm.objects.owners.read"]
    if "/lists" in path:
        return ["crm.lists.read"] if reads and method != "PUT" else ["crm.lists.write"]
    if "/properties/" in path:
        return ["crm.schemas.companies.read"] if method == "GET" else ["crm.schemas.companies.write"]
    if "/objects/" in path:
        return ["crm.objects.companies.read"] if reads else ["crm.objects.companies.write"]
    return []


def missing_scopes_body(scopes: list[str]) -> JsonObject:
    """HubSpot's 403 body for a token lacking `scopes`."""
    return {
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call. Read more about "
        "required scopes here: https://developers.hubspot.com/scopes.",
        "correlationId": str(uuid.uuid4()),
        "errors": [
            {"message": "One or more of the following scopes are required.",
             "context": {"requiredGranularScopes": scopes}},
        ],
        "links": {"scopes": "https://developers.hubspot.com/scopes"},
        "category": "MISSING_SCOPES",
    }
