"""Owners: `GET /crm/v3/owners` (paged, by email, archived), `GET /crm/v3/owners/{id}`; the account's details."""

from __future__ import annotations

import re

from revrules.testing.hubspot.protocol import JsonObject, _ApiError, _int_param, _link, _Reply, _Request
from revrules.testing.hubspot.state import PortalState
from revrules.testing.hubspot.values import _as_bool


class OwnersApi(PortalState):
    """The portal's owners, read-only, and `GET /account-info/{version}/details`."""

    def _account_details(self, _request: _Request, _match: re.Match[str]) -> _Reply:
        """The Account information API's details (shape of its reference example)."""
        return _Reply(200, {"portalId": self.portal_id, "accountType": "STANDARD", "timeZone": "US/Eastern",
                            "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
                            "utcOffsetMilliseconds": -18000000, "uiDomain": "app.hubspot.com",
                            "dataHostingLocation": "na1"})

    def _list_owners(self, request: _Request, _match: re.Match[str]) -> _Reply:
        limit = _int_param(request.param("limit"), "limit", default=100)
        if not 1 <= limit <= 500:
            raise _ApiError(400, "limit must be between 1 and 500", "VALIDATION_ERROR")
        offset = _int_param(request.param("after"), "after", default=0)
        archived = _as_bool(request.param("archived") or "false")
        email = (request.param("email") or "").lower()
        owners = [
            o
            for o in self._owners
            if bool(o["archived"]) == archived
            and (not email or o.get("email", "").lower() == email)
        ]
        body: JsonObject = {"results": owners[offset : offset + limit]}
        if offset + limit < len(owners):
            after = str(offset + limit)
            body["paging"] = {"next": {"after": after, "link": _link(request, after)}}
        return _Reply(200, body)

    def _get_owner(self, _request: _Request, match: re.Match[str]) -> _Reply:
        for owner in self._owners:
            if owner["id"] == match["owner_id"]:
                return _Reply(200, owner)
        raise _ApiError(404, f"Owner {match['owner_id']} not found", "OBJECT_NOT_FOUND")

