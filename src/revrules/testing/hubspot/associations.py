"""Associations v4: `POST /crm/v4/associations/companies/contacts/batch/read`."""

from __future__ import annotations

import re

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
        started = now_iso()
        results: list[JsonObject] = []
        errors: list[JsonObject] = []
        size = max(self.association_page, 1)
        with self._lock:
            for item in inputs:
                company_id = str(item["id"])
                linked = [c for c in self._company_contacts.get(company_id, []) if c in self._contacts]
                offset = _int_param(item.get("after"), "after", default=0)
                page = linked[offset : offset + size]
                if company_id not in self._companies or not page:
                    errors.append({
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No contacts are associated with company {company_id}.",
                        "context": {"fromObjectId": [company_id], "toObjectType": ["contacts"]},
                        "errors": [],
                        "links": {},
                    })
                    continue
                result: JsonObject = {
                    "from": {"id": company_id},
                    "to": [self._association(company_id, contact_id) for contact_id in page],
                }
                if offset + size < len(linked):
                    result["paging"] = {"next": {"after": str(offset + size), "link": None}}
                results.append(result)
        answer: JsonObject = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": now_iso(),
        }
        if errors:
            answer.update({"numErrors": len(errors), "errors": errors})
            return _Reply(207, answer)
        return _Reply(200, answer)

    def _association(self, company_id: str, contact_id: str) -> JsonObject:
        types = [{"category": "HUBSPOT_DEFINED", "typeId": COMPANY_TO_CONTACT_TYPE, "label": None}]
        if self._contacts[contact_id].properties.get("associatedcompanyid") == company_id:
            types.insert(0, {"category": "HUBSPOT_DEFINED", "typeId": COMPANY_TO_CONTACT_PRIMARY_TYPE,
                             "label": "Primary"})
        to_id: int | str = int(contact_id) if contact_id.isdigit() else contact_id
        return {"toObjectId": to_id, "associationTypes": types}

