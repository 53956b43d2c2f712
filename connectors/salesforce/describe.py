"""The object's describe: field checks before SOQL, and `check --online` against the org."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from simple_salesforce.api import Salesforce

from revrules.connectors.salesforce.session import SalesforceSession
from revrules.connectors.salesforce.soql import NAME_RE
from revrules.connectors.salesforce.values import TEXT_TYPES, UNSUPPORTED_TYPES, FieldInfo, picklist_parts
from revrules.errors import InvalidInputError, did_you_mean


def describe(session: SalesforceSession) -> dict[str, FieldInfo]:
    """The object's fields by name, read once per session.

    Raises:
        CrmError: The describe could not be read.
    """
    if session.fields is None:
        path = f"sobjects/{session.object_name}/describe"
        answer = session.call(f"describe {session.object_name}", lambda sf: sf.restful(path))
        session.fields = {
            str(f["name"]): FieldInfo(
                name=str(f["name"]),
                type=str(f.get("type", "string")),
                updateable=bool(f.get("updateable")),
                restricted_values=(
                    frozenset(str(p["value"]) for p in f.get("picklistValues") or []
                              if p.get("active", True))
                    if f.get("restrictedPicklist") else None
                ),
                length=int(f.get("length") or 0) if f.get("type", "string") in TEXT_TYPES else 0,
                options=(
                    frozenset(str(p["value"]) for p in f.get("picklistValues") or [] if p.get("active", True))
                    if f.get("type") in ("picklist", "multipicklist") else None
                ),
            )
            for f in (answer or {}).get("fields", [])
        }
        session.record_types = {
            str(t["recordTypeId"]): str(t.get("name") or t.get("developerName"))
            for t in (answer or {}).get("recordTypeInfos", [])
            if not t.get("master") and t.get("active", True) and t.get("available", True)
        }
    return session.fields


def checked_fields(session: SalesforceSession, fields: Sequence[str]) -> list[str]:
    """Field names safe to paste into SOQL: strict pattern, present in the describe.

    Raises:
        InvalidInputError: A name is not a plain field of the object, or a compound one.
    """
    info = describe(session)
    problems: list[str] = []
    names: list[str] = []
    for name in dict.fromkeys(fields):
        if not NAME_RE.match(name):
            problems.append(f"{name!r} is not a field name (relationship fields are not read)")
        elif name not in info:
            problems.append(f"{session.object_name} has no field {name!r}"
                            f"{did_you_mean(name, list(info))}")
        elif info[name].type in UNSUPPORTED_TYPES:
            problems.append(f"{session.object_name}.{name} is a compound {info[name].type} field; "
                            "map its parts (e.g. BillingCountry) instead")
        else:
            names.append(name)
    if problems:
        raise InvalidInputError("\n".join(problems))
    return names


def picklist_options(session: SalesforceSession, fields: Sequence[str]) -> dict[str, frozenset[str]]:
    """Field -> the active `picklistValues` of each of `fields` that is a (multi-)picklist, restricted or not.

    Raises:
        CrmError: The describe could not be read.
    """
    info = describe(session)
    return {name: options for name in fields if name in info and (options := info[name].options) is not None}


def check_online(
    session: SalesforceSession,
    read_fields: Sequence[str],
    write_fields: Sequence[str],
    allowed_values: Mapping[str, Iterable[str]],
) -> list[str]:
    """Problems with the config against the org: missing fields, read-only outputs, bad values.

    Args:
        session: The org and object.
        read_fields: Every field a run reads.
        write_fields: Every field a run may write.
        allowed_values: CRM field -> every value the rulebook may write to it.

    Returns:
        One readable line per problem; empty when everything fits.

    Raises:
        CrmError: The describe could not be read.
    """
    info = describe(session)
    object_name = session.object_name
    problems: list[str] = []
    for name in dict.fromkeys([*read_fields, *write_fields]):
        field = info.get(name)
        if field is None:
            problems.append(f"{object_name}.{name}: no such field{did_you_mean(name, list(info))}")
        elif field.type in UNSUPPORTED_TYPES:
            problems.append(f"{object_name}.{name}: {field.type} fields cannot be read")
    for name in dict.fromkeys(write_fields):
        field = info.get(name)
        if field is not None and not field.updateable:
            problems.append(f"{object_name}.{name}: the field is not updateable")
    for name, values in allowed_values.items():
        field = info.get(name)
        if field is not None and field.length:
            for value in sorted(v for v in values if len(v) > field.length):
                problems.append(f"{object_name}.{name}: the rulebook can write a value of {len(value)} "
                                f"characters ({value[:30]!r}...), but the field holds {field.length}")
        if field is None or field.restricted_values is None:
            continue
        written = {part for value in values for part in picklist_parts(field, value)}
        for value in sorted(written - field.restricted_values):
            problems.append(
                f"{object_name}.{name}: the rulebook can write {value!r}, which is not a "
                f"value of this restricted picklist"
                f"{did_you_mean(value, sorted(field.restricted_values))}"
            )
    return problems + record_type_problems(session, allowed_values)


def record_type_problems(session: SalesforceSession, allowed_values: Mapping[str, Iterable[str]]) -> list[str]:
    """Values the rulebook can write that a record type does not offer, one line each.

    Each record type offers its own subset of a picklist's values (User Interface API,
    "Get Values for All Picklist Fields of a Record Type"): one call per record type.

    Raises:
        CrmError: The picklist values could not be read.
    """
    info = describe(session)
    fields = {name: values for name, values in allowed_values.items()
              if name in info and info[name].type in ("picklist", "multipicklist")}
    problems: list[str] = []
    if not fields:
        return problems
    for type_id, type_name in session.record_types.items():
        path = f"ui-api/object-info/{session.object_name}/picklist-values/{type_id}"
        answer = session.call(f"read the picklist values of record type {type_name}", partial(_get, path))
        offered = (answer or {}).get("picklistFieldValues", {})
        for name, values in fields.items():
            allowed = {str(v.get("value")) for v in (offered.get(name) or {}).get("values", [])}
            written = {part for value in values for part in picklist_parts(info[name], value)}
            for value in sorted(written - allowed):
                problems.append(f"{session.object_name}.{name}: the rulebook can write {value!r}, which record "
                                f"type {type_name!r} does not offer{did_you_mean(value, sorted(allowed))}")
    return problems


def _get(path: str, sf: Salesforce) -> Any:
    return sf.restful(path)


def text_lengths(session: SalesforceSession, fields: Sequence[str]) -> dict[str, int]:
    """Field -> its describe `length`, for the text fields among `fields`.

    Raises:
        CrmError: The describe could not be read.
    """
    info = describe(session)
    return {name: info[name].length for name in fields if name in info and info[name].length}
