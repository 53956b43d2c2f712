"""Lists v3: creating, finding, searching and deleting lists, and changing their memberships."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from revrules.testing.hubspot.protocol import (
    COMPANY_OBJECT_TYPE_ID,
    CONTACT_OBJECT_TYPE_ID,
    JsonObject,
    _ApiError,
    _id_list,
    _int_param,
    _Reply,
    _Request,
    _require_object,
)
from revrules.testing.hubspot.state import PortalState, _List
from revrules.testing.hubspot.values import _id_sort_key, now_iso, parse_datetime_ms


class ListsApi(PortalState):
    """`/crm/v3/lists`: MANUAL and SNAPSHOT lists take membership changes, DYNAMIC lists refuse them."""

    def _find_list(self, list_id: str) -> _List:
        entry = self._lists.get(list_id)
        if entry is None:
            raise _ApiError(
                404,
                f"List with id {list_id} does not exist",
                "OBJECT_NOT_FOUND",
                subCategory="ILS.LIST_NOT_FOUND",
            )
        return entry

    def _list_json(self, entry: _List) -> JsonObject:
        return {**entry.record, "size": len(entry.members)}

    def _create_list(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        missing = [k for k in ("name", "objectTypeId", "processingType") if not body.get(k)]
        if missing:
            raise _ApiError(
                400, f"Missing required fields: {', '.join(missing)}", "VALIDATION_ERROR"
            )
        processing = str(body["processingType"])
        if processing not in {"MANUAL", "SNAPSHOT", "DYNAMIC"}:
            raise _ApiError(400, f"Invalid processingType {processing}", "VALIDATION_ERROR")
        name, object_type = str(body["name"]), str(body["objectTypeId"])
        with self._lock:
            for entry in self._lists.values():
                same_type = entry.record["objectTypeId"] == object_type
                if same_type and entry.record["name"].lower() == name.lower():
                    raise _ApiError(
                        409,
                        f"A list named '{name}' already exists.",
                        "CONFLICT",
                        subCategory="ILS.LIST_NAME_ALREADY_EXISTS",
                    )
            list_id = str(self._next_list_id)
            self._next_list_id += 1
            stamp = now_iso()
            record: JsonObject = {
                "listId": list_id,
                "listVersion": 1,
                "name": name,
                "objectTypeId": object_type,
                "processingType": processing,
                "processingStatus": "COMPLETE",
                "createdAt": stamp,
                "updatedAt": stamp,
                "filtersUpdatedAt": stamp,
                "createdById": "2000001",
                "updatedById": "2000001",
            }
            if body.get("listFolderId") is not None:
                record["listFolderId"] = body["listFolderId"]
            entry = _List(record)
            self._lists[list_id] = entry
            return _Reply(200, {"list": self._list_json(entry)})

    def _get_list(self, _request: _Request, match: re.Match[str]) -> _Reply:
        with self._lock:
            return _Reply(200, {"list": self._list_json(self._find_list(match["list_id"]))})

    def _get_lists_by_id(self, request: _Request, _match: re.Match[str]) -> _Reply:
        with self._lock:
            wanted = request.multi("listIds")
            lists = [self._list_json(self._lists[i]) for i in wanted if i in self._lists]
            return _Reply(200, {"lists": lists})

    def _get_list_by_name(self, _request: _Request, match: re.Match[str]) -> _Reply:
        name, object_type = unquote(match["name"]), unquote(match["object_type"])
        with self._lock:
            for entry in self._lists.values():
                same_type = entry.record["objectTypeId"] == object_type
                if same_type and entry.record["name"].lower() == name.lower():
                    return _Reply(200, {"list": self._list_json(entry)})
        raise _ApiError(
            404,
            f"List with name {name} does not exist",
            "OBJECT_NOT_FOUND",
            subCategory="ILS.LIST_NOT_FOUND",
        )

    def _delete_list(self, _request: _Request, match: re.Match[str]) -> _Reply:
        with self._lock:
            self._find_list(match["list_id"])
            del self._lists[match["list_id"]]
        return _Reply(204)

    def _search_lists(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body if request.body is not None else {})
        count = _int_param(body.get("count"), "count", default=20)
        if not 1 <= count <= 500:
            raise _ApiError(400, "count must be between 1 and 500", "VALIDATION_ERROR")
        offset = _int_param(body.get("offset"), "offset", default=0)
        query = str(body.get("query") or "").lower()
        types = set(body.get("processingTypes") or [])
        ids = {str(i) for i in body.get("listIds") or []}
        with self._lock:
            found = [
                entry
                for lid, entry in sorted(self._lists.items(), key=lambda kv: int(kv[0]))
                if (not query or query in entry.record["name"].lower())
                and (not types or entry.record["processingType"] in types)
                and (not ids or lid in ids)
            ]
            page = found[offset : offset + count]
            lists = []
            for entry in page:
                last_added = max(entry.members.values(), default=None)
                extra = {
                    "hs_list_size": str(len(entry.members)),
                    "hs_list_reference_count": "0",
                }
                if last_added is not None:
                    extra["hs_last_record_added_at"] = str(parse_datetime_ms(last_added))
                lists.append({**entry.record, "additionalProperties": extra})
        return _Reply(
            200,
            {
                "lists": lists,
                "hasMore": offset + count < len(found),
                "offset": offset + len(page),
                "total": len(found),
            },
        )

    def _change_members(
        self, list_id: str, add: Iterable[Any], remove: Iterable[Any]
    ) -> JsonObject:
        with self._lock:
            entry = self._find_list(list_id)
            if entry.record["processingType"] == "DYNAMIC":
                raise _ApiError(
                    400,
                    f"List {list_id} is a DYNAMIC list; memberships can only be changed on "
                    "MANUAL or SNAPSHOT lists",
                    "VALIDATION_ERROR",
                    subCategory="ILS.INVALID_LIST_PROCESSING_TYPE",
                )
            known: Mapping[str, Any] | None = {
                COMPANY_OBJECT_TYPE_ID: self._companies,
                CONTACT_OBJECT_TYPE_ID: self._contacts,
            }.get(str(entry.record["objectTypeId"]))
            gone = self.faults.missing_list_record_ids
            add, remove = list(add), list(remove)
            if len(add) + len(remove) > self.max_membership_ids:
                raise _ApiError(
                    400,
                    f"at most {self.max_membership_ids} record ids may be added and removed in one request",
                    "VALIDATION_ERROR",
                )
            added: list[str] = []
            removed: list[str] = []
            missing: list[str] = []
            stamp = now_iso()
            for raw in remove:
                record_id = str(raw)
                if record_id in entry.members:
                    del entry.members[record_id]
                    removed.append(record_id)
                elif known is not None and (record_id not in known or record_id in gone):
                    missing.append(record_id)
            for raw in add:
                record_id = str(raw)
                if known is not None and (record_id not in known or record_id in gone):
                    missing.append(record_id)
                elif record_id not in entry.members:
                    entry.members[record_id] = stamp
                    added.append(record_id)
            if added or removed:
                entry.record["updatedAt"] = stamp
            return {
                "recordIdsRemoved": removed,
                "recordsIdsAdded": added,
                "recordIdsMissing": missing,
            }

    def _add_members(self, request: _Request, match: re.Match[str]) -> _Reply:
        return _Reply(200, self._change_members(match["list_id"], _id_list(request.body), []))

    def _remove_members(self, request: _Request, match: re.Match[str]) -> _Reply:
        return _Reply(200, self._change_members(match["list_id"], [], _id_list(request.body)))

    def _add_and_remove_members(self, request: _Request, match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        add = body.get("recordIdsToAdd")
        remove = body.get("recordIdsToRemove")
        if not isinstance(add, list) or not isinstance(remove, list):
            raise _ApiError(
                400, "recordIdsToAdd and recordIdsToRemove are required", "VALIDATION_ERROR"
            )
        return _Reply(200, self._change_members(match["list_id"], add, remove))

    def _list_members(self, request: _Request, match: re.Match[str]) -> _Reply:
        limit = _int_param(request.param("limit"), "limit", default=100)
        if not 1 <= limit <= 250:
            raise _ApiError(400, "limit must be between 1 and 250", "VALIDATION_ERROR")
        offset = _int_param(request.param("after"), "after", default=0)
        with self._lock:
            entry = self._find_list(match["list_id"])
            ordered = sorted(entry.members.items(), key=lambda kv: _id_sort_key(kv[0]))
        page = ordered[offset : offset + limit]
        body: JsonObject = {
            "results": [{"recordId": rid, "membershipTimestamp": ts} for rid, ts in page],
            "total": len(ordered),
        }
        if offset + limit < len(ordered):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return _Reply(200, body)

