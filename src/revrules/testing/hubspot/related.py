"""Contacts' and deals' owners: batch read and update of contacts and deals, and company-to-deal associations.

What an owner change that carries a company's records needs: `POST .../{contacts|deals}/batch/read`
and `.../batch/update` (at most 100 inputs; 207 with per-record errors, as for companies), and
`POST /crm/v4/associations/companies/deals/batch/read`. `hubspot_owner_id` must name an owner
the portal has (not archived), else the record fails with `INVALID_OPTION`, as the company's
owner property does; a deal's `hs_is_closed` is calculated from `dealstage` and read-only.
"""

from __future__ import annotations

import re
from typing import Any

from revrules.testing.hubspot.associations import association_pages
from revrules.testing.hubspot.protocol import (
    DEFAULT_CONTACT_PROPERTIES,
    MAX_ASSOCIATION_INPUTS,
    JsonObject,
    _ApiError,
    _Reply,
    _Request,
    _require_object,
)
from revrules.testing.hubspot.state import PortalState, _Company, closed_stage
from revrules.testing.hubspot.values import _Invalid, _validation_error, now_iso

COMPANY_TO_DEAL_TYPE = 342
"""HUBSPOT_DEFINED association type id of company to deal (Associations v4 guide, "Company to deal")."""
DEAL_PROPERTIES = ("dealname", "dealstage", "pipeline", "amount", "closedate", "hubspot_owner_id", "hs_is_closed",
                   "createdate", "hs_object_id")
_READ_ONLY = {"hs_is_closed", "hs_object_id", "createdate"}
_NAMES = {"contacts": "CONTACT", "deals": "DEAL"}


class RelatedApi(PortalState):
    """Contacts and deals read and written in batches, and the deals associated with companies."""

    def _related_batch_read(self, request: _Request, match: re.Match[str]) -> _Reply:
        kind = _kind(match)
        body = _require_object(request.body)
        inputs = _inputs(body, 100)
        names = [str(n) for n in body.get("properties") or []]
        started = now_iso()
        with self._lock:
            table = self._related_table(kind)
            known = self._related_properties(kind)
            default = DEFAULT_CONTACT_PROPERTIES if kind == "contacts" else DEAL_PROPERTIES
            wanted = [n for n in dict.fromkeys(names) if n in known] or list(default)
            results, missing = [], []
            for item in inputs:
                record = table.get(str(item.get("id")) if isinstance(item, dict) else "")
                if record is None:
                    missing.append(str(item.get("id")) if isinstance(item, dict) else "")
                else:
                    results.append(_served(record, wanted))
        return _answer(results, [_not_found(kind, missing)] if missing else [], started)

    def _related_batch_update(self, request: _Request, match: re.Match[str]) -> _Reply:
        kind = _kind(match)
        inputs = _inputs(_require_object(request.body), 100)
        started = now_iso()
        results: list[JsonObject] = []
        errors: list[JsonObject] = []
        missing: list[str] = []
        with self._lock:
            table = self._related_table(kind)
            for item in inputs:
                if not isinstance(item, dict) or not isinstance(item.get("properties"), dict):
                    raise _ApiError(400, "Invalid input JSON: each input needs id and properties", "VALIDATION_ERROR")
                record = table.get(str(item.get("id")))
                if record is None:
                    missing.append(str(item.get("id")))
                    continue
                invalid, changes = self._check_related(kind, record.id, item["properties"])
                if invalid:
                    errors.append(_validation_error(record.id, item.get("objectWriteTraceId"), invalid))
                    continue
                record.properties.update(changes)
                if kind == "deals":
                    record.properties["hs_is_closed"] = closed_stage(record.properties.get("dealstage"))
                record.updated_at = now_iso()
                served = _served(record, list(item["properties"]))
                if item.get("objectWriteTraceId") is not None:
                    served["objectWriteTraceId"] = str(item["objectWriteTraceId"])
                results.append(served)
        if missing:
            errors.insert(0, _not_found(kind, missing))
        return _answer(results, errors, started)

    def _read_company_deals(self, request: _Request, _match: re.Match[str]) -> _Reply:
        inputs = _inputs(_require_object(request.body), MAX_ASSOCIATION_INPUTS)
        types = [{"category": "HUBSPOT_DEFINED", "typeId": COMPANY_TO_DEAL_TYPE, "label": None}]
        with self._lock:
            return association_pages(
                inputs, "deals", self._companies, max(self.association_page, 1),
                entry=lambda _company, deal: {"toObjectId": int(deal) if deal.isdigit() else deal,
                                              "associationTypes": types},
                linked=lambda company: [d for d in self._company_deals.get(company, []) if d in self._deals])

    def _related_table(self, kind: str) -> dict[str, _Company]:
        return self._contacts if kind == "contacts" else self._deals

    def _related_properties(self, kind: str) -> set[str]:
        """The properties a contact or deal has: the standard ones plus any a seeded record holds."""
        standard = {*DEFAULT_CONTACT_PROPERTIES, "hubspot_owner_id"} if kind == "contacts" else set(DEAL_PROPERTIES)
        return standard | {name for record in self._related_table(kind).values() for name in record.properties}

    def _check_related(self, kind: str, record_id: str,
                       values: dict[str, Any]) -> tuple[list[_Invalid], dict[str, Any]]:
        """Validate one input's properties; an owner must be one of the portal's owners, not archived."""
        known = self._related_properties(kind)
        invalid: list[_Invalid] = []
        changes: dict[str, str | None] = {}
        owners = [str(o["id"]) for o in self._owners if not o.get("archived")]
        for name, value in values.items():
            text = None if value in (None, "") else str(value)
            if name not in known:
                invalid.append(_Invalid(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            elif name in _READ_ONLY:
                invalid.append(_Invalid(name, "READ_ONLY_VALUE", f'Property "{name}" is a read only property'))
            elif name == "hubspot_owner_id" and text is not None and text not in owners:
                invalid.append(_Invalid(name, "INVALID_OPTION",
                                        f"{text} was not one of the allowed options: [{', '.join(owners)}]"))
            else:
                changes[name] = text
        refusal = self.faults.record_error(record_id)
        if refusal is not None and not invalid:
            name = next(iter(values), "hubspot_owner_id")
            invalid.append(_Invalid(name, "INVALID_OPTION", refusal or f"{values.get(name)} was refused"))
        return invalid, changes


def _kind(match: re.Match[str]) -> str:
    return "contacts" if match["kind"] in ("contacts", "contact", "0-1") else "deals"


def _inputs(body: JsonObject, most: int) -> list[Any]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise _ApiError(400, "Invalid input JSON: inputs is required", "VALIDATION_ERROR")
    if len(inputs) > most:
        raise _ApiError(400, f"The maximum number of inputs supported in a batch request is {most}. "
                        "Please reduce the number of items and try again", "VALIDATION_ERROR")
    return inputs


def _served(record: _Company, names: list[str]) -> JsonObject:
    return {"id": record.id, "properties": {name: record.properties.get(name) for name in names},
            "createdAt": record.created_at, "updatedAt": record.updated_at, "archived": False}


def _not_found(kind: str, ids: list[str]) -> JsonObject:
    return {"status": "error", "category": "OBJECT_NOT_FOUND",
            "message": f"Could not get some {_NAMES[kind]} objects, they may be deleted or not exist. "
                       "Check that ids are valid.",
            "context": {"ids": ids}, "errors": [], "links": {}}


def _answer(results: list[JsonObject], errors: list[JsonObject], started: str) -> _Reply:
    """200 when every input succeeded, else 207 with `numErrors` and `errors` (the recorded batch shape)."""
    reply: JsonObject = {"status": "COMPLETE", "results": results}
    if errors:
        reply["numErrors"] = sum(len(e["context"].get("ids") or e["context"].get("fromObjectId") or [1])
                                 for e in errors)
        reply["errors"] = errors
    reply.update({"startedAt": started, "completedAt": now_iso()})
    return _Reply(207 if errors else 200, reply)
