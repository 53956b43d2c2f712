"""Company property definitions and property groups: `/crm/v3/properties/companies[/groups]`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from revrules.testing.hubspot.defaults import _complete_property
from revrules.testing.hubspot.protocol import _ApiError, _Reply, _Request, _require_object
from revrules.testing.hubspot.state import PortalState
from revrules.testing.hubspot.values import _as_bool, now_iso


class PropertiesApi(PortalState):
    """Listing, reading, creating and updating properties and groups."""

    def _list_properties(self, request: _Request, _match: re.Match[str]) -> _Reply:
        with self._lock:
            archived = _as_bool(request.param("archived") or "false")
            names = set(request.multi("properties"))
            results = [
                p
                for p in self._properties.values()
                if bool(p.get("archived")) == archived and (not names or p["name"] in names)
            ]
            return _Reply(200, {"results": json.loads(json.dumps(results))})

    def _get_property(self, _request: _Request, match: re.Match[str]) -> _Reply:
        name = unquote(match["name"])
        with self._lock:
            definition = self._properties.get(name)
            if definition is None:
                raise _ApiError(
                    404, f"Unable to find property {name} for object type 0-2", "OBJECT_NOT_FOUND"
                )
            return _Reply(200, json.loads(json.dumps(definition)))

    def _create_property(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)
        ]
        if missing:
            raise _ApiError(
                400, f"Missing required fields: {', '.join(missing)}", "VALIDATION_ERROR"
            )
        _check_property_types(body)
        with self._lock:
            name = str(body["name"])
            if name in self._properties:
                raise _ApiError(
                    409,
                    f"A property named '{name}' already exists.",
                    "CONFLICT",
                    context={"name": [name]},
                )
            if body["groupName"] not in self._groups:
                raise _ApiError(
                    400, f"Property group {body['groupName']} does not exist", "VALIDATION_ERROR"
                )
            stamp = now_iso()
            definition = _complete_property(
                {**body, "hubspotDefined": False, "createdAt": stamp, "updatedAt": stamp}
            )
            self._properties[name] = definition
            return _Reply(201, json.loads(json.dumps(definition)))

    def _patch_property(self, request: _Request, match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        name = unquote(match["name"])
        _check_property_types(body)
        with self._lock:
            definition = self._properties.get(name)
            if definition is None:
                raise _ApiError(
                    404, f"Unable to find property {name} for object type 0-2", "OBJECT_NOT_FOUND"
                )
            if "groupName" in body and body["groupName"] not in self._groups:
                raise _ApiError(
                    400, f"Property group {body['groupName']} does not exist", "VALIDATION_ERROR"
                )
            editable = {
                "label", "description", "groupName", "options", "displayOrder", "hidden",
                "formField", "type", "fieldType", "calculationFormula",
            }  # fmt: skip
            merged = {**definition, **{k: v for k, v in body.items() if k in editable}}
            merged["updatedAt"] = now_iso()
            self._properties[name] = _complete_property(merged)
            return _Reply(200, json.loads(json.dumps(self._properties[name])))

    def _list_groups(self, _request: _Request, _match: re.Match[str]) -> _Reply:
        with self._lock:
            return _Reply(200, {"results": [dict(g) for g in self._groups.values()]})

    def _get_group(self, _request: _Request, match: re.Match[str]) -> _Reply:
        name = unquote(match["name"])
        with self._lock:
            group = self._groups.get(name)
            if group is None:
                raise _ApiError(404, f"Unable to find property group {name}", "OBJECT_NOT_FOUND")
            return _Reply(200, dict(group))

    def _create_group(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body)
        if not body.get("name") or not body.get("label"):
            raise _ApiError(400, "Missing required fields: name, label", "VALIDATION_ERROR")
        name = str(body["name"])
        with self._lock:
            if name in self._groups:
                raise _ApiError(409, f"A property group named '{name}' already exists.", "CONFLICT")
            group = {
                "name": name,
                "label": str(body["label"]),
                "displayOrder": int(body.get("displayOrder", -1)),
                "archived": False,
            }
            self._groups[name] = group
            return _Reply(201, dict(group))


def _check_property_types(body: Mapping[str, Any]) -> None:
    kinds = {"string", "number", "date", "datetime", "enumeration", "bool"}
    fields = {
        "textarea", "text", "date", "file", "number", "select", "radio", "checkbox",
        "booleancheckbox", "calculation_equation", "html", "phonenumber",
    }  # fmt: skip
    if "type" in body and body["type"] not in kinds:
        raise _ApiError(400, f"Invalid property type {body['type']!r}", "VALIDATION_ERROR")
    if "fieldType" in body and body["fieldType"] not in fields:
        raise _ApiError(400, f"Invalid fieldType {body['fieldType']!r}", "VALIDATION_ERROR")
    for option in body.get("options") or []:
        if not isinstance(option, dict) or "label" not in option or "value" not in option:
            raise _ApiError(400, "Each option needs a label and a value", "VALIDATION_ERROR")

