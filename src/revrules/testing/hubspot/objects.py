"""Companies CRUD: `GET|POST /crm/v3/objects/companies` and `GET|PATCH .../companies/{id}`."""

from __future__ import annotations

import bisect
import json
import re

from revrules.testing.hubspot.defaults import SYSTEM_PROPERTIES
from revrules.testing.hubspot.protocol import (
    MAX_LIST_PAGE,
    JsonObject,
    _ApiError,
    _int_param,
    _link,
    _Reply,
    _Request,
    _require_object,
)
from revrules.testing.hubspot.state import PortalState, _Company
from revrules.testing.hubspot.values import _as_bool, _id_sort_key, _invalid_message, now_iso


class CompaniesApi(PortalState):
    """Paging through, reading, creating and updating one company at a time."""

    def _list_companies(self, request: _Request, _match: re.Match[str]) -> _Reply:
        limit = _int_param(request.param("limit"), "limit", default=10)
        if not 1 <= limit <= MAX_LIST_PAGE:
            raise _ApiError(
                400, f"limit must be between 1 and {MAX_LIST_PAGE}, got {limit}", "VALIDATION_ERROR"
            )
        after = request.param("after")
        with self._lock:
            names = self._requested_properties(request.multi("properties"))
            if _as_bool(request.param("archived") or "false"):
                return _Reply(200, {"results": []})
            keys, ids = self._company_order()
            start = bisect.bisect_left(keys, _id_sort_key(after)) if after else 0
            page = [self._companies[i] for i in ids[start : start + limit]]
            body: JsonObject = {"results": [self._serve(c, names or None) for c in page]}
            if start + limit < len(ids):
                next_after = ids[start + limit]
                body["paging"] = {"next": {"after": next_after, "link": _link(request, next_after)}}
        return _Reply(200, body)

    def _get_company(self, request: _Request, match: re.Match[str]) -> _Reply:
        with self._lock:
            company = self._companies.get(match["record_id"])
            if company is None:
                raise _ApiError(
                    404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
                )
            names = self._requested_properties(request.multi("properties"))
            return _Reply(200, self._serve(company, names or None))

    def _create_company(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        values = body.get("properties")
        if not isinstance(values, dict):
            raise _ApiError(400, "Invalid input JSON: properties is required", "VALIDATION_ERROR")
        with self._lock:
            record_id = self._assign_id()
            invalid, changes = self._validate(record_id, values)
            if invalid:
                raise _ApiError(400, _invalid_message(invalid), "VALIDATION_ERROR")
            stamp = now_iso()
            props: dict[str, str | None] = dict(changes)
            props.update({"createdate": stamp, "hs_lastmodifieddate": stamp})
            props["hs_object_id"] = record_id
            company = _Company(record_id, props, stamp, stamp)
            self._companies[record_id] = company
            self._order = None
            self._publish(company)
            return _Reply(201, self._serve(company, [*changes, *SYSTEM_PROPERTIES]))

    def _patch_company(self, request: _Request, match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        values = body.get("properties")
        if not isinstance(values, dict) or not values:
            raise _ApiError(
                400,
                "No properties found to update, please provide at least one.",
                "VALIDATION_ERROR",
                context={"properties": [json.dumps(values or {})]},
            )
        with self._lock:
            company = self._companies.get(match["record_id"])
            if company is None:
                raise _ApiError(
                    404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
                )
            invalid, changes = self._validate(company.id, values)
            if invalid:
                raise _ApiError(400, _invalid_message(invalid), "VALIDATION_ERROR")
            self._apply(company, changes)
            return _Reply(200, self._serve(company, [*changes, *SYSTEM_PROPERTIES]))

