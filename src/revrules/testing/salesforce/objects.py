"""REST sObjects (describe, one record's CRUD) and sObject Collections on the main object."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from revrules.testing.salesforce.records import RecordStore
from revrules.testing.salesforce.responses import _error, _json, _not_found, _Response
from revrules.testing.salesforce.state import MAX_COLLECTION_RECORDS
from revrules.testing.salesforce.values import _FieldError


class ObjectsApi(RecordStore):
    """`vXX.X/sobjects[/{obj}[/{id}|/describe]]` and `PATCH|POST vXX.X/composite/sobjects`."""

    def _sobjects(
        self,
        method: str,
        version: str,
        parts: list[str],
        query: Mapping[str, list[str]],
        body: bytes,
    ) -> _Response:
        if not parts:
            if method != "GET":
                return _not_found()
            describe = self.describe(version)
            summary = {k: v for k, v in describe.items() if not isinstance(v, list)}
            return _json(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [summary]})
        if parts[0].lower() != self.object_name.lower():
            return _not_found()
        if len(parts) == 1:
            if method == "GET":
                describe = self.describe(version)
                summary = {k: v for k, v in describe.items() if not isinstance(v, list)}
                return _json(200, {"objectDescribe": summary, "recentItems": []})
            if method == "POST":
                return self._create_one(body)
            return _not_found()
        if parts[1:] == ["describe"] and method == "GET":
            return _json(200, self.describe(version))
        if len(parts) == 2:
            return self._one_record(method, version, parts[1], query, body)
        return _not_found()


    def _one_record(
        self, method: str, version: str, record_id: str, query: Mapping[str, list[str]], body: bytes
    ) -> _Response:
        found = self._find(record_id)
        if method == "GET":
            if found is None:
                return _not_found()
            wanted = query.get("fields", [""])[0]
            names = [n.strip() for n in wanted.split(",") if n.strip()] or list(self._fields)
            unknown = [n for n in names if n not in self._fields]
            if unknown:
                return _error(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{unknown[0]}' on sobject of type {self.object_name}",
                )
            with self._lock:
                record = dict(self._records[found])
            return _json(200, self._record_json(version, record, names))
        if method == "PATCH":
            values = self._record_body(body)
            if isinstance(values, _Response):
                return values
            outcome = self._write([(record_id, values)], all_or_none=True, json_values=True)[0]
            if isinstance(outcome, _FieldError):
                if outcome.code == "INVALID_CROSS_REFERENCE_KEY":
                    return _not_found()
                return _error(400, outcome.code, outcome.message, outcome.fields)
            return _Response(204)
        if method == "DELETE":
            if found is None:
                return _not_found()
            with self._lock:
                self._records.pop(found, None)
                self._deleted.add(found)
            return _Response(204)
        return _not_found()

    def _record_body(self, body: bytes) -> dict[str, Any] | _Response:
        """One record's field values from a request body, or the error Salesforce answers."""
        try:
            values = json.loads(body or b"{}")
            if not isinstance(values, dict):
                raise ValueError("expected a JSON object")
        except ValueError as problem:
            return _error(400, "JSON_PARSER_ERROR", str(problem))
        values.pop("attributes", None)
        return self._unknown_fields(values) or values

    def _create_one(self, body: bytes) -> _Response:
        values = self._record_body(body)
        if isinstance(values, _Response):
            return values
        outcome = self._write([(None, values)], all_or_none=True, json_values=True)[0]
        if isinstance(outcome, _FieldError):
            return _error(400, outcome.code, outcome.message, outcome.fields)
        return _json(201, {"id": outcome, "success": True, "errors": []})

    def _unknown_fields(self, values: Mapping[str, Any]) -> _Response | None:
        unknown = [k for k in values if k not in self._fields and k.lower() != "id"]
        if unknown:
            return _error(
                400,
                "INVALID_FIELD",
                f"No such column '{unknown[0]}' on sobject of type {self.object_name}",
            )
        return None

    # -- sObject Collections ------------------------------------------------------------------
    def _collection(self, method: str, body: bytes, *, allow_save: bool = False) -> _Response:
        try:
            payload = json.loads(body or b"{}")
            items = payload["records"]
            if not isinstance(items, list):
                raise TypeError("records must be a list")
        except (ValueError, KeyError, TypeError) as problem:
            return _error(400, "JSON_PARSER_ERROR", f"Cannot deserialize request: {problem}")
        if len(items) > MAX_COLLECTION_RECORDS:
            return _error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        if not items:
            return _error(400, "REQUIRED_FIELD_MISSING", "At least 1 record is required.")
        writes: list[tuple[str | None, dict[str, Any]]] = []
        for item in items:
            if not isinstance(item, dict):
                return _error(400, "JSON_PARSER_ERROR", "each record must be a JSON object")
            values = dict(item)
            attributes = values.pop("attributes", None)
            if not isinstance(attributes, dict) or "type" not in attributes:
                return _error(400, "INVALID_TYPE", "Must send a concrete entity type.")
            if str(attributes["type"]).lower() != self.object_name.lower():
                return _error(
                    400, "INVALID_TYPE", f"sObject type '{attributes['type']}' is not supported."
                )
            unknown_error = self._unknown_fields(values)
            if unknown_error is not None:
                return unknown_error
            record_id = values.pop("id", None) or values.pop("Id", None)
            if method == "POST" and record_id is not None:
                values["Id"] = record_id  # rejected below: an insert may not carry an id
                record_id = None
            writes.append((None if record_id is None else str(record_id), values))
        if method == "PATCH":
            for index, (record_id, _values) in enumerate(writes):
                if record_id is None:
                    writes[index] = ("", _values)  # an update without id: reported per record
        all_or_none = bool(payload.get("allOrNone", False))
        outcomes = self._write(writes, all_or_none=all_or_none, json_values=True, allow_save=allow_save)
        results: list[dict[str, Any]] = []
        for outcome in outcomes:
            if isinstance(outcome, _FieldError):
                results.append({"success": False, "errors": [outcome.as_json()]})
            else:
                results.append({"id": outcome, "success": True, "errors": []})
        return _json(200, results)

