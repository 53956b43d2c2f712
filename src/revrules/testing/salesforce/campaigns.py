"""Marketing lists: sObject Collections on `Contact`, `Campaign` and `CampaignMember`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from revrules.testing.salesforce.describe import _LIST_ID_PREFIXES, _LIST_OBJECTS, _OWNED_OBJECTS, _describe_object
from revrules.testing.salesforce.records import RecordStore
from revrules.testing.salesforce.responses import _error, _json, _Response
from revrules.testing.salesforce.state import MAX_COLLECTION_RECORDS
from revrules.testing.salesforce.values import _FieldError


class CampaignsApi(RecordStore):
    """Creates campaigns and members, updates campaigns and deletes members, as Collections calls.

    Values are checked as an org checks them: `Campaign.Type`, `Campaign.Status` and
    `CampaignMember.Status` are restricted picklists (see `describe.CAMPAIGN_TYPES`) and text
    fields hold their describe length.
    """

    def list_describe(self, kind: str, version: str | None = None) -> dict[str, Any] | None:
        """`GET sobjects/{kind}/describe` for a marketing-list object; None when lists are not served."""
        if not self._serves_lists or kind not in _LIST_OBJECTS:
            return None
        base = self.url if self._server is not None else "http://127.0.0.1"
        result = _describe_object(kind, version or self.api_version, base)
        result["keyPrefix"] = _LIST_ID_PREFIXES[kind]
        result["fields"] = [dict(f) for f in _LIST_OBJECTS[kind].values()]
        return result

    def _list_collection(self, method: str, body: bytes) -> _Response | None:
        """Collections POST/PATCH on the marketing-list tables; None when the call is for the main object."""
        try:
            payload = json.loads(body or b"{}")
            items = payload["records"]
            kinds = {str(item["attributes"]["type"]) for item in items}
        except (ValueError, KeyError, TypeError):
            return None
        if not self._serves_lists or not kinds or not kinds <= set(_LIST_OBJECTS) or self.object_name in kinds:
            return None
        if len(kinds) > 1:
            return _error(400, "INVALID_TYPE", "one object type per call in this emulator")
        if len(items) > MAX_COLLECTION_RECORDS:
            return _error(400, "EXCEEDED_ID_LIMIT",
                          "record limit reached. cannot submit more than 200 records into this call")
        kind = kinds.pop()
        fields = _LIST_OBJECTS[kind]
        writable = ("Campaign", *_OWNED_OBJECTS) if method == "PATCH" else ("Campaign", "CampaignMember")
        if kind not in writable:
            return _error(405, "METHOD_NOT_ALLOWED", f"the emulator does not write {kind} this way")
        results: list[dict[str, Any]] = []
        with self._lock:
            for item in items:
                values = {k: v for k, v in item.items() if k != "attributes"}
                record_id = values.pop("id", None) or values.pop("Id", None)
                unknown = [k for k in values if k not in fields]
                if unknown:
                    return _error(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {kind}")
                try:
                    results.append({"id": self._list_write(kind, method, record_id, values),
                                    "success": True, "errors": []})
                except _FieldError as problem:
                    results.append({"success": False, "errors": [problem.as_json()]})
        return _json(200, results)

    def _list_write(self, kind: str, method: str, record_id: str | None, values: dict[str, Any]) -> str:
        """Create (POST) or update (PATCH) one marketing-list record; raise its error."""
        table = self._tables[kind]
        fields = _LIST_OBJECTS[kind]
        readonly = [name for name in values if kind in _OWNED_OBJECTS and not fields[name]["updateable"]]
        if readonly:
            raise _FieldError("INVALID_FIELD_FOR_INSERT_UPDATE",
                              f"Unable to create/update fields: {', '.join(readonly)}.", readonly)
        for name, value in values.items():
            self._check_value(fields[name], value)
        if method == "PATCH":
            if record_id is None or str(record_id) not in table:
                raise _FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if "OwnerId" in values:
                self._check_related_owner(str(values["OwnerId"] or ""))
            self._check_faults(str(record_id))
            table[str(record_id)].update(values)
            return str(record_id)
        if record_id is not None:
            raise _FieldError("INVALID_FIELD", "cannot specify Id in an insert call")
        if kind == "Campaign" and not values.get("Name"):
            raise _FieldError("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"])
        if kind == "CampaignMember":
            campaign, contact = str(values.get("CampaignId") or ""), str(values.get("ContactId") or "")
            if campaign not in self._tables["Campaign"]:
                raise _FieldError("REQUIRED_FIELD_MISSING", "Required fields are missing: [CampaignId]",
                                  ["CampaignId"])
            if contact not in self._tables["Contact"]:
                raise _FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if any(m["CampaignId"] == campaign and m["ContactId"] == contact
                   for m in self._tables["CampaignMember"].values()):
                raise _FieldError("DUPLICATE_VALUE", "Already a campaign member.")
            message = self.faults.member_errors.get(contact)
            if message is not None:
                raise _FieldError("FIELD_CUSTOM_VALIDATION_EXCEPTION", message)
        new_id = self._new_id(_LIST_ID_PREFIXES[kind])
        table[new_id] = dict.fromkeys(_LIST_OBJECTS[kind]) | values | {"Id": new_id}
        return new_id

    def _check_related_owner(self, owner: str) -> None:
        """A Contact or Opportunity owner must be an active User (when the org has Users seeded).

        An unknown id is refused as on the main object. Unlike Accounts, Contacts and
        Opportunities cannot be given to an inactive User: the org answers
        `INACTIVE_OWNER_OR_USER`, "operation performed with inactive user" (Salesforce Help
        000205862; simplysfdc.com, "Salesforce: Inactive User", 2025).
        """
        if not self.users:
            return
        user = self.users.get(owner) or next((u for uid, u in self.users.items() if uid[:15] == owner[:15]), None)
        if user is None:
            raise _FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["OwnerId"])
        if not user.get("IsActive", True):
            raise _FieldError("INACTIVE_OWNER_OR_USER", "operation performed with inactive user", ["OwnerId"])

    def _list_delete(self, query: Mapping[str, list[str]]) -> _Response:
        """`DELETE composite/sobjects?ids=...`: CampaignMember records only."""
        ids = [i for i in ",".join(query.get("ids", [])).split(",") if i]
        if not ids:
            return _error(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_COLLECTION_RECORDS:
            return _error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records")
        results: list[dict[str, Any]] = []
        with self._lock:
            members = self._tables["CampaignMember"]
            for record_id in ids:
                if members.pop(record_id, None) is not None:
                    self._deleted.add(record_id)
                    results.append({"id": record_id, "success": True, "errors": []})
                else:
                    code = "ENTITY_IS_DELETED" if record_id in self._deleted else "INVALID_CROSS_REFERENCE_KEY"
                    message = "entity is deleted" if code == "ENTITY_IS_DELETED" else "invalid cross reference id"
                    results.append({"id": record_id, "success": False,
                                    "errors": [{"statusCode": code, "message": message, "fields": []}]})
        return _json(200, results)

