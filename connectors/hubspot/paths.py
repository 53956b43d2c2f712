"""HubSpot's two path families: the date-versioned API (`/crm/objects/2026-03/...`) and the legacy v3/v4 one.

Every date-versioned path here is named in HubSpot's 2026-03 API reference
(developers.hubspot.com/docs/api-reference/2026-03): objects, batch update and
read, search, properties, property groups, lists (memberships add-and-remove),
owners and associations batch read. The legacy family is the one
hubspot-api-client's generated APIs call (`/crm/v3/...`, associations `/crm/v4/...`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

DATE_VERSIONS = ("2026-03",)
"""Date versions whose every path revrules uses is in HubSpot's API reference."""
LEGACY = "v3"
DEFAULT_API_VERSION = DATE_VERSIONS[-1]
API_VERSIONS = (*DATE_VERSIONS, LEGACY)


@dataclass(frozen=True)
class ApiPaths:
    """The request paths of one API family (`version` is a date version or `v3`)."""

    version: str = DEFAULT_API_VERSION

    @property
    def dated(self) -> bool:
        """True for a date-versioned family."""
        return self.version != LEGACY

    def objects(self, object_type: str) -> str:
        """`.../objects/{objectType}`: list pages; append `/batch/update`, `/batch/read`, `/search`."""
        return self._crm("objects", quote(object_type, safe=""))

    def properties(self, object_type: str) -> str:
        """`.../properties/{objectType}`: definitions; append `/groups` or `/{name}`."""
        return self._crm("properties", quote(object_type, safe=""))

    def lists(self) -> str:
        """`.../lists`: create; append `/{listId}/memberships...` or `/object-type-id/...`."""
        return self._crm("lists", "")

    def account_details(self) -> str:
        """`/account-info/{version}/details`: the portal id, time zone and currencies (Account information API)."""
        return f"/account-info/{self.version}/details"

    def owners(self) -> str:
        """`.../owners`: the portal's owners, paged."""
        return self._crm("owners", "")

    def associations(self, from_type: str, to_type: str) -> str:
        """`.../associations/{from}/{to}`: append `/batch/read` (v4 semantics on both families)."""
        tail = f"{quote(from_type, safe='')}/{quote(to_type, safe='')}"
        if not self.dated:
            return f"/crm/v4/associations/{tail}"
        return f"/crm/associations/{self.version}/{tail}"

    def _crm(self, api: str, tail: str) -> str:
        base = f"/crm/{api}/{self.version}" if self.dated else f"/crm/{LEGACY}/{api}"
        return f"{base}/{tail}" if tail else base
