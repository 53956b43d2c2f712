"""Contacts, read-only: `GET /crm/v3/objects/contacts` and `GET .../contacts/{id}`."""

from __future__ import annotations

import re

from revrules.testing.hubspot.protocol import (
    DEFAULT_CONTACT_PROPERTIES,
    MAX_LIST_PAGE,
    JsonObject,
    _ApiError,
    _int_param,
    _link,
    _Reply,
    _Request,
)
from revrules.testing.hubspot.state import PortalState, _Company
from revrules.testing.hubspot.values import _as_bool, _id_sort_key


class ContactsApi(PortalState):
    """Paging through and reading the contacts seeded with `contacts=` or `put_contact`."""

    def _serve_contact(self, contact: _Company, names: list[str]) -> JsonObject:
        wanted = names or list(DEFAULT_CONTACT_PROPERTIES)
        return {
            "id": contact.id,
            "properties": {name: contact.properties.get(name) for name in wanted},
            "createdAt": contact.created_at,
            "updatedAt": contact.updated_at,
            "archived": False,
        }

    def _list_contacts(self, request: _Request, _match: re.Match[str]) -> _Reply:
        limit = _int_param(request.param("limit"), "limit", default=10)
        if not 1 <= limit <= MAX_LIST_PAGE:
            raise _ApiError(
                400, f"limit must be between 1 and {MAX_LIST_PAGE}, got {limit}", "VALIDATION_ERROR"
            )
        after = request.param("after")
        names = list(dict.fromkeys(request.multi("properties")))
        with self._lock:
            if _as_bool(request.param("archived") or "false"):
                return _Reply(200, {"results": []})
            ordered = sorted(self._contacts.values(), key=lambda c: _id_sort_key(c.id))
            if after:
                start_key = _id_sort_key(after)
                ordered = [c for c in ordered if _id_sort_key(c.id) >= start_key]
            body: JsonObject = {"results": [self._serve_contact(c, names) for c in ordered[:limit]]}
            if len(ordered) > limit:
                next_after = ordered[limit].id
                body["paging"] = {"next": {"after": next_after, "link": _link(request, next_after)}}
        return _Reply(200, body)

    def _get_contact(self, request: _Request, match: re.Match[str]) -> _Reply:
        with self._lock:
            contact = self._contacts.get(match["record_id"])
            if contact is None:
                raise _ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
            return _Reply(200, self._serve_contact(contact, list(dict.fromkeys(request.multi("properties")))))

