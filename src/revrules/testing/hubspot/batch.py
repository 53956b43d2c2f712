"""Batch company endpoints: `POST .../companies/batch/update` and `.../batch/read`."""

from __future__ import annotations

import re

from revrules.testing.hubspot.defaults import SYSTEM_PROPERTIES
from revrules.testing.hubspot.protocol import MAX_BATCH_INPUTS, JsonObject, _ApiError, _Reply, _Request, _require_object
from revrules.testing.hubspot.state import PortalState
from revrules.testing.hubspot.values import _id_sort_key, _validation_error, now_iso


class BatchApi(PortalState):
    """Up to 100 inputs a call; partial failures answer 207 with per-record errors."""

    def _batch_update(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
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
                trace = item.get("objectWriteTraceId")
                company = self._companies.get(record_id)
                if company is None:
                    missing.append(record_id)
                    continue
                invalid, changes = self._validate(record_id, item["properties"])
                if invalid:
                    errors.append(_validation_error(record_id, trace, invalid))
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

    def _batch_read(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
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

