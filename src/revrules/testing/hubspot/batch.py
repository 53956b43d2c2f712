"""Batch company endpoints: `POST .../companies/batch/update` and `.../batch/read`."""

from __future__ import annotations

import re
from typing import Any

from revrules.testing.hubspot.defaults import SYSTEM_PROPERTIES
from revrules.testing.hubspot.protocol import MAX_BATCH_INPUTS, JsonObject, _ApiError, _Reply, _Request, _require_object
from revrules.testing.hubspot.state import PortalState, _Company
from revrules.testing.hubspot.values import _id_sort_key, _Invalid, _invalid_message, _validation_error, now_iso


class BatchApi(PortalState):
    """Up to 100 inputs a call; partial failures answer 207 with per-record errors."""

    def _batch_update(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        inputs = _batch_inputs(body)
        ids = [str(item.get("id", "")) if isinstance(item, dict) else "" for item in inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1}, key=_id_sort_key)
        if duplicates:
            raise _ApiError(
                400,
                f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. "
                "IDs must be unique",
                "VALIDATION_ERROR",
            )
        started = now_iso()
        results: list[JsonObject] = []
        errors: list[JsonObject] = []
        missing: list[str] = []
        with self._lock:
            checked = []
            for item in inputs:
                if not isinstance(item, dict) or not isinstance(item.get("properties"), dict):
                    raise _ApiError(
                        400,
                        "Invalid input JSON: each input needs id and properties",
                        "VALIDATION_ERROR",
                    )
                if item.get("idProperty") not in (None, "hs_object_id"):
                    raise _ApiError(
                        400,
                        "The emulator updates by record id only (idProperty unsupported)",
                        "VALIDATION_ERROR",
                    )
                record_id = str(item.get("id"))
                company = self._companies.get(record_id)
                if company is None:
                    missing.append(record_id)
                    continue
                invalid, changes = self._validate(record_id, item["properties"])
                checked.append((item, company, invalid, changes))
            self._refuse_whole_batch(checked)
            for item, company, invalid, changes in checked:
                trace = item.get("objectWriteTraceId")
                if invalid:
                    errors.append(_validation_error(company.id, trace, invalid))
                    continue
                self._apply(company, changes)
                served = self._serve(company, [*item["properties"], *SYSTEM_PROPERTIES])
                if trace is not None:
                    served["objectWriteTraceId"] = str(trace)
                results.append(served)
        if missing:
            errors.insert(
                0,
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some COMPANY objects, they may be deleted or not "
                    "exist. Check that ids are valid.",
                    "context": {"ids": missing},
                    "errors": [],
                    "links": {},
                },
            )
        # Key order follows the recorded 207 body: status, results, numErrors, errors.
        reply: JsonObject = {"status": "COMPLETE", "results": results}
        if errors:
            reply["numErrors"] = sum(len(e["context"]["ids"]) for e in errors)
            reply["errors"] = errors
        reply.update({"requestedAt": started, "startedAt": started, "completedAt": now_iso()})
        return _Reply(207 if errors else 200, reply)

    def _refuse_whole_batch(self, checked: list[tuple[JsonObject, _Company, list[_Invalid], dict[str, Any]]]) -> None:
        """Raise one 400 for the whole batch when a switch says so; nothing of the batch is written then.

        Validation rules (`required_when`) always refuse the whole batch, naming its records:
        the 2026-09 changelog ("CRM API Write Validation Enforcement") answers them with a 400
        `VALIDATION_ERROR`. Invalid values do so only under `whole_batch_400`.
        """
        refused: list[tuple[str, list[_Invalid]]] = []
        for _item, company, invalid, changes in checked:
            broken = self._broken_rules(company, changes)
            if broken:
                refused.append((company.id, broken))
                invalid.extend(broken)
        ruled = bool(refused)
        mode = self.faults.whole_batch_400
        if mode is not None:
            refused += [(company.id, invalid) for _i, company, invalid, _c in checked
                        if invalid and company.id not in {r for r, _ in refused}]
        if not refused or (mode is None and not ruled):
            return
        first = refused[0][1]
        context = {"ids": [record for record, _ in refused]} if mode != "unnamed" else {}
        details = [
            {"message": item.message, "code": item.error, "in": item.name,
             **({"context": {"ids": [record]}} if mode != "unnamed" else {})}
            for record, invalid in refused
            for item in invalid
        ]
        extra: dict[str, Any] = {"errors": details}
        if context:
            extra["context"] = context
        raise _ApiError(400, _invalid_message(first), "VALIDATION_ERROR", **extra)

    def _broken_rules(self, company: _Company, changes: dict[str, Any]) -> list[_Invalid]:
        after = {**company.properties, **changes}
        broken = []
        for rule in self.faults.required_when:
            applies = all(after.get(name) == value for name, value in rule["when"].items())
            if applies and not after.get(rule["property"]):
                condition = ", ".join(f"{name} is {value}" for name, value in rule["when"].items())
                broken.append(_Invalid(rule["property"], "REQUIRED_PROPERTY",
                                       f"{rule['property']} is required when {condition}"))
        return broken

    def _batch_read(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        inputs = _batch_inputs(body)
        started = now_iso()
        with self._lock:
            names = self._requested_properties([str(n) for n in body.get("properties") or []])
            results, missing = [], []
            for item in inputs:
                record_id = str(item.get("id")) if isinstance(item, dict) else ""
                company = self._companies.get(record_id)
                if company is None:
                    missing.append(record_id)
                else:
                    results.append(self._serve(company, names or None))
        reply: JsonObject = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": now_iso(),
        }
        if not missing:
            return _Reply(200, reply)
        reply["numErrors"] = len(missing)
        reply["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some COMPANY objects, they may be deleted or not exist. "
                "Check that ids are valid.",
                "context": {"ids": missing},
                "errors": [],
                "links": {},
            }
        ]
        return _Reply(207, reply)


def _batch_inputs(body: JsonObject) -> list[Any]:
    """A batch request's `inputs`, refused as HubSpot refuses a missing list or more than 100 items."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise _ApiError(400, "Invalid input JSON: inputs is required", "VALIDATION_ERROR")
    if len(inputs) > MAX_BATCH_INPUTS:
        raise _ApiError(
            400,
            f"The maximum number of inputs supported in a batch request is "
            f"{MAX_BATCH_INPUTS}. Please reduce the number of items and try again",
            "VALIDATION_ERROR",
        )
    return inputs
