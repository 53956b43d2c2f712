"""Associations v4: `POST /crm/v4/associations/companies/contacts/batch/read`."""

from __future__ import annotations

import re
from collections.abc import Callable, Container
from typing import Any

from revrules.testing.hubspot.protocol import (
    COMPANY_TO_CONTACT_PRIMARY_TYPE,
    COMPANY_TO_CONTACT_TYPE,
    MAX_ASSOCIATION_INPUTS,
    JsonObject,
    _ApiError,
    _int_param,
    _Reply,
    _Request,
    _require_object,
)
from revrules.testing.hubspot.state import PortalState
from revrules.testing.hubspot.values import now_iso


class AssociationsApi(PortalState):
    """The contacts associated with each company, paged per company, primary company first."""

    def _read_company_contacts(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) and i.get("id") for i in inputs):
            raise _ApiError(400, "Invalid input JSON: inputs must be a list of {id, after}", "VALIDATION_ERROR")
        if len(inputs) > MAX_ASSOCIATION_INPUTS:
            raise _ApiError(
                400, f"at most {MAX_ASSOCIATION_INPUTS} inputs may be read in one request", "VALIDATION_ERROR"
            )
        with self._lock:
            return association_pages(
                inputs, "contacts", self._companies, max(self.association_page, 1), entry=self._association,
                linked=lambda company: [c for c in self._company_contacts.get(company, []) if c in self._contacts])

    def _association(self, company_id: str, contact_id: str) -> JsonObject:
        types = [{"category": "HUBSPOT_DEFINED", "typeId": COMPANY_TO_CONTACT_TYPE, "label": None}]
        if self._contacts[contact_id].properties.get("associatedcompanyid") == company_id:
            types.insert(0, {"category": "HUBSPOT_DEFINED", "typeId": COMPANY_TO_CONTACT_PRIMARY_TYPE,
                             "label": "Primary"})
        to_id: int | str = int(contact_id) if contact_id.isdigit() else contact_id
        return {"toObjectId": to_id, "associationTypes": types}



def association_pages(inputs: list[Any], kind: str, companies: Container[str], size: int, *,
                      entry: Callable[[str, str], JsonObject], linked: Callable[[str], list[str]]) -> _Reply:
    """An Associations v4 batch read: per input company (`{id, after}`), one page of its `kind` records.

    `linked(company)` lists the company's records, `entry(company, record)` is one `to` item.
    A company that is unknown or has nothing on that page answers HubSpot's
    NO_ASSOCIATIONS_FOUND error: 207, the other companies' pages beside the errors.
    """
    started = now_iso()
    results: list[JsonObject] = []
    errors: list[JsonObject] = []
    for item in inputs:
        company_id = str(item.get("id")) if isinstance(item, dict) else ""
        records = linked(company_id)
        offset = _int_param(item.get("after") if isinstance(item, dict) else None, "after", default=0)
        page = records[offset : offset + size]
        if company_id not in companies or not page:
            errors.append({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                "message": f"No {kind} are associated with company {company_id}.",
                "context": {"fromObjectId": [company_id], "toObjectType": [kind]},
                "errors": [],
                "links": {},
            })
            continue
        result: JsonObject = {"from": {"id": company_id}, "to": [entry(company_id, record) for record in page]}
        if offset + size < len(records):
            result["paging"] = {"next": {"after": str(offset + size), "link": None}}
        results.append(result)
    answer: JsonObject = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": now_iso()}
    if errors:
        answer.update({"numErrors": len(errors), "errors": errors})
        return _Reply(207, answer)
    return _Reply(200, answer)
