"""HubSpot property definitions: field checks, `check --online`, and creating missing output properties."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from revrules.connectors.base import PropertySpec
from revrules.connectors.hubspot.session import HubspotSession
from revrules.errors import InvalidInputError, did_you_mean

GROUP_NAME = "revrules"
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LISTED_OPTIONS = 12
_CREATE_HINT = "; create output properties with `revrules check --online --create-properties`"
_FIELD_TYPES = {"enumeration": "select", "string": "text", "number": "number", "bool": "booleancheckbox"}


class Properties:
    """The object's property definitions, fetched once and refreshed on demand."""

    def __init__(self, session: HubspotSession, write_fields: Sequence[str]) -> None:
        """Use `session`; `write_fields` are the outputs (missing ones get a creation hint)."""
        self.session = session
        self.write_fields = tuple(write_fields)
        self._definitions: dict[str, dict[str, Any]] | None = None

    def definitions(self, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        """The object's property definitions by name, fetched once per connector."""
        if self._definitions is None or refresh:
            answer = self.session.request("read property definitions", "GET", self._path(),
                                          query=[("archived", "false")])
            self._definitions = {str(p["name"]): p for p in answer.body.get("results", [])}
        return self._definitions

    def known(self, fields: Sequence[str]) -> list[str]:
        """The fields, once each, after checking each is a property of the object.

        Raises:
            InvalidInputError: A field is not a property of the object.
        """
        names = list(dict.fromkeys(fields))
        definitions = self.definitions()
        unknown = [name for name in names if name not in definitions]
        if unknown:
            lines = []
            for name in unknown:
                hint = _CREATE_HINT if name in self.write_fields else ""
                lines.append(f"{self._no_property(name)}{hint}")
            raise InvalidInputError("\n".join(lines))
        return names

    def check_online(
        self,
        read_fields: Sequence[str],
        write_fields: Sequence[str],
        allowed_values: Mapping[str, Iterable[str]],
    ) -> list[str]:
        """Check the config against the portal's properties; one line per problem.

        Args:
            read_fields: Every property a run reads.
            write_fields: The properties revrules writes.
            allowed_values: Property -> the values revrules may write to it.

        Returns:
            Problems: a missing property (with "did you mean"), an output that is
            read-only or calculated, a value that is not an option of an
            enumeration. Empty when all is well.

        Raises:
            CrmError: HubSpot could not be reached or refused the token.
        """
        definitions = self.definitions(refresh=True)
        problems: list[str] = []
        outputs = set(write_fields)
        for name in dict.fromkeys([*read_fields, *write_fields]):
            definition = definitions.get(name)
            if definition is None:
                hint = _CREATE_HINT if name in outputs else ""
                problems.append(f"{self._no_property(name)}{hint}")
                continue
            if name not in outputs:
                continue
            metadata = definition.get("modificationMetadata") or {}
            if metadata.get("readOnlyValue") or definition.get("calculated"):
                why = "calculated" if definition.get("calculated") else "read-only"
                problems.append(f"output property {name!r} is {why} in HubSpot and cannot be written")
                continue
            problems += _option_problems(name, definition, allowed_values.get(name, ()))
        return problems

    def picklist_options(self, fields: Sequence[str]) -> dict[str, frozenset[str]]:
        """Property -> the option values of each of `fields` that is an enumeration.

        Hidden options count: HubSpot accepts them in a write and only leaves them out of its forms.

        Raises:
            CrmError: HubSpot could not be reached or refused the token.
        """
        definitions = self.definitions()
        return {name: frozenset(str(o.get("value")) for o in definitions[name].get("options") or [])
                for name in fields if (definitions.get(name) or {}).get("type") == "enumeration"}

    def create(self, specs: Sequence[PropertySpec]) -> list[str]:
        """Create missing output properties in a `revrules` property group; idempotent.

        An enumeration that revrules created earlier gets any option it lacks;
        properties created by someone else are left as they are.

        Returns:
            One line per change made; empty when nothing was missing.

        Raises:
            InvalidInputError: A name HubSpot cannot take (lowercase letters,
                digits and `_`, starting with a letter).
            CrmError: HubSpot failed.
        """
        bad = [spec.name for spec in specs if not _PROPERTY_NAME.match(spec.name)]
        definitions = self.definitions(refresh=True)
        bad = [name for name in bad if name not in definitions]
        if bad:
            raise InvalidInputError(
                "\n".join(
                    f"cannot create HubSpot property {name!r}: internal names are lowercase "
                    "letters, digits and '_', starting with a letter"
                    for name in bad
                )
            )
        done: list[str] = []
        missing = [spec for spec in specs if spec.name not in definitions]
        if missing:
            done += self._ensure_group()
        for spec in missing:
            body: dict[str, Any] = {
                "name": spec.name,
                "label": spec.label,
                "type": spec.type,
                "fieldType": "checkbox" if spec.multiple else _FIELD_TYPES[spec.type],
                "groupName": GROUP_NAME,
                "description": "Written by revrules.",
            }
            if spec.type == "enumeration":
                body["options"] = _option_inputs(spec.options)
            elif spec.type == "bool":
                # HubSpot's booleancheckbox takes exactly these two options.
                body["options"] = [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                                   {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}]
            self.session.request(f"create property {spec.name}", "POST", self._path(), body=body)
            kind = f"{spec.type}, {len(spec.options)} options" if spec.options else spec.type
            done.append(f"created property {spec.name} ({kind}) in group {GROUP_NAME}")
        for spec in specs:
            definition = definitions.get(spec.name)
            if definition is None or spec.type != "enumeration":
                continue
            if definition.get("groupName") != GROUP_NAME or definition.get("type") != "enumeration":
                continue
            present = [str(option["value"]) for option in definition.get("options") or []]
            extra = [value for value in spec.options if value not in present]
            if not extra:
                continue
            body = {"options": [*(definition.get("options") or []), *_option_inputs(extra, len(present))]}
            self.session.request(f"update property {spec.name}", "PATCH", f"{self._path()}/{spec.name}", body=body)
            done.append(f"added {len(extra)} option(s) to property {spec.name}")
        if done:
            self._definitions = None
        return done

    def _ensure_group(self) -> list[str]:
        answer = self.session.request("read property groups", "GET", self._path() + "/groups")
        if any(group.get("name") == GROUP_NAME for group in answer.body.get("results", [])):
            return []
        body = {"name": GROUP_NAME, "label": "revrules", "displayOrder": -1}
        # 409: another run created the group in between, which is what we want.
        self.session.request("create property group", "POST", self._path() + "/groups", body=body,
                             accept_statuses={409})
        return [f"created property group {GROUP_NAME}"]

    def _path(self) -> str:
        return self.session.paths.properties(self.session.object_type)

    def _no_property(self, name: str) -> str:
        candidates = list(self._definitions or {})
        return f"HubSpot {self.session.object_type} have no property {name!r}{did_you_mean(name, candidates)}"


def _option_problems(name: str, definition: Mapping[str, Any], values: Iterable[str]) -> list[str]:
    """Values that an enumeration or boolean property would reject."""
    kind = definition.get("type")
    if kind == "bool":
        options = ["true", "false"]
    elif kind == "enumeration":
        options = [str(option.get("value")) for option in definition.get("options") or []]
    else:
        return []
    bad = sorted({str(value) for value in values} - set(options))
    if not bad:
        return []
    shown = ", ".join(repr(value) for value in bad)
    listed = ", ".join(options[:_LISTED_OPTIONS])
    if len(options) > _LISTED_OPTIONS:
        listed += f", ... ({len(options) - _LISTED_OPTIONS} more)"
    return [f"output property {name!r} has no option(s) {shown}; its options are: {listed}"]


def _option_inputs(values: Sequence[str], start: int = 0) -> list[dict[str, Any]]:
    return [
        {"label": value, "value": value, "displayOrder": start + index, "hidden": False}
        for index, value in enumerate(values)
    ]
