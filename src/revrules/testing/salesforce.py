"""A loopback Salesforce emulator (REST, SOQL, Bulk API 2.0, OAuth) for tests and offline rehearsal.

The emulator serves the subset of the Salesforce APIs that revrules' connector uses,
with the response shapes of real recorded traffic, fault-injection switches and a
request log. Run it in-process::

    with SalesforceEmulator(records) as emulator:
        sf = Salesforce(instance_url=emulator.url, session_id=emulator.session_id,
                        session=loopback_session(emulator.url))

or from a shell: ``python -m revrules.testing.salesforce --port 8123 --accounts a.csv``.

Endpoints (``vXX.X`` is any API version):

* ``POST /services/oauth2/token`` (JWT bearer, client credentials, password) and the
  SOAP login ``POST /services/Soap/u/{version}``.
* ``GET /services/data/`` (versions), ``GET vXX.X/limits``, ``GET vXX.X/limits/recordCount``.
* ``GET vXX.X/sobjects``, ``GET vXX.X/sobjects/{obj}``, ``GET vXX.X/sobjects/{obj}/describe``,
  ``POST vXX.X/sobjects/{obj}``, ``GET|PATCH|DELETE vXX.X/sobjects/{obj}/{id}``.
* ``GET vXX.X/query?q=`` and ``vXX.X/queryAll?q=``, paging through ``vXX.X/query/{locator}-{n}``.
* ``PATCH|POST vXX.X/composite/sobjects`` (sObject Collections, at most 200 records), and
  ``DELETE vXX.X/composite/sobjects?ids=...`` for the marketing-list tables.
* Marketing-list tables beside the main object: ``Contact`` (loaded with ``contacts=``),
  ``Campaign`` and ``CampaignMember``: queried with SOQL, created with Collections POST,
  ``Campaign`` updated with Collections PATCH, ``CampaignMember`` deleted with Collections
  DELETE.
* Bulk API 2.0: ``vXX.X/jobs/query[/{id}[/results]]`` and
  ``vXX.X/jobs/ingest[/{id}[/batches|/successfulResults|/failedResults|/unprocessedrecords]]``.
* Control (not logged, not counted): ``POST /__emulator/faults``, ``GET /__emulator/faults``,
  ``GET /__emulator/log``, ``POST /__emulator/reset-log``, ``GET /__emulator/records``.

Only requests under ``/services/data/vXX.X/`` are *API calls*: they are numbered from 1
(for the ``*_on_call`` switches), counted against ``DailyApiRequests`` and need a
``Authorization: Bearer <token>`` header holding a token the emulator issued.
"""

from __future__ import annotations

import argparse
import base64
import copy
import csv
import io
import itertools
import json
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape

import requests

from revrules.connectors.salesforce import http_session
from revrules.testing.server import LoopbackServer

__all__ = [
    "ACCOUNT_FIELDS",
    "Faults",
    "LoggedRequest",
    "SalesforceEmulator",
    "describe_field",
    "load_records_csv",
    "loopback_session",
    "main",
]

MAX_COLLECTION_RECORDS = 200
"""sObject Collections accept at most this many records per request."""

# ---------------------------------------------------------------------------
# Describe: field metadata with the exact keys of a recorded Account describe
# (CumulusCI cassette GET_sobjects_Account_describe.yaml, API v48.0).
# ---------------------------------------------------------------------------

_BASE_FIELD: dict[str, Any] = {
    "aggregatable": True,
    "aiPredictionField": False,
    "autoNumber": False,
    "byteLength": 0,
    "calculated": False,
    "calculatedFormula": None,
    "cascadeDelete": False,
    "caseSensitive": False,
    "compoundFieldName": None,
    "controllerName": None,
    "createable": True,
    "custom": False,
    "defaultValue": None,
    "defaultValueFormula": None,
    "defaultedOnCreate": False,
    "dependentPicklist": False,
    "deprecatedAndHidden": False,
    "digits": 0,
    "displayLocationInDecimal": False,
    "encrypted": False,
    "externalId": False,
    "extraTypeInfo": None,
    "filterable": True,
    "filteredLookupInfo": None,
    "formulaTreatNullNumberAsZero": False,
    "groupable": True,
    "highScaleNumber": False,
    "htmlFormatted": False,
    "idLookup": False,
    "inlineHelpText": None,
    "label": "",
    "length": 0,
    "mask": None,
    "maskType": None,
    "name": "",
    "nameField": False,
    "namePointing": False,
    "nillable": True,
    "permissionable": True,
    "picklistValues": [],
    "polymorphicForeignKey": False,
    "precision": 0,
    "queryByDistance": False,
    "referenceTargetField": None,
    "referenceTo": [],
    "relationshipName": None,
    "relationshipOrder": None,
    "restrictedDelete": False,
    "restrictedPicklist": False,
    "scale": 0,
    "searchPrefilterable": False,
    "soapType": "xsd:string",
    "sortable": True,
    "type": "string",
    "unique": False,
    "updateable": True,
    "writeRequiresMasterRead": False,
}

_SYSTEM_FIELD: dict[str, Any] = {
    "createable": False,
    "updateable": False,
    "nillable": False,
    "permissionable": False,
    "defaultedOnCreate": True,
}

_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "id": {"length": 18, "soapType": "tns:ID", "idLookup": True, **_SYSTEM_FIELD},
    "string": {"length": 255},
    "picklist": {"length": 255},
    "multipicklist": {"length": 4099},
    "url": {"length": 255},
    "email": {"length": 80},
    "phone": {"length": 40},
    "textarea": {
        "length": 32768,
        "aggregatable": False,
        "filterable": False,
        "groupable": False,
        "sortable": False,
        "extraTypeInfo": "plaintextarea",
    },
    "reference": {"length": 18, "soapType": "tns:ID"},
    "int": {"digits": 9, "soapType": "xsd:int"},
    "double": {"precision": 18, "scale": 2, "groupable": False, "soapType": "xsd:double"},
    "currency": {"precision": 18, "scale": 2, "groupable": False, "soapType": "xsd:double"},
    "percent": {"precision": 18, "scale": 2, "groupable": False, "soapType": "xsd:double"},
    "boolean": {
        "aggregatable": False,
        "defaultValue": False,
        "defaultedOnCreate": True,
        "nillable": False,
        "soapType": "xsd:boolean",
    },
    "date": {"soapType": "xsd:date"},
    "datetime": {"groupable": False, "soapType": "xsd:dateTime"},
}

_TEXT_TYPES = frozenset(
    {"id", "string", "picklist", "multipicklist", "url", "email", "phone", "textarea", "reference"}
)
_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})

_INDUSTRY_VALUES = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
_ACCOUNT_TYPE_VALUES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)

ACCOUNT_FIELDS: tuple[dict[str, Any], ...] = (
    {"name": "Id", "type": "id", "label": "Account ID"},
    {
        "name": "Name",
        "type": "string",
        "label": "Account Name",
        "length": 255,
        "compoundFieldName": "Name",
        "extraTypeInfo": "switchablepersonname",
        "nameField": True,
        "nillable": False,
        "permissionable": False,
    },
    {
        "name": "Type",
        "type": "picklist",
        "label": "Account Type",
        "length": 40,
        "values": _ACCOUNT_TYPE_VALUES,
    },
    {
        "name": "BillingState",
        "type": "string",
        "label": "Billing State/Province",
        "length": 80,
        "compoundFieldName": "BillingAddress",
    },
    {
        "name": "BillingCountry",
        "type": "string",
        "label": "Billing Country",
        "length": 80,
        "compoundFieldName": "BillingAddress",
    },
    {"name": "Website", "type": "url", "label": "Website", "length": 255},
    {
        "name": "Industry",
        "type": "picklist",
        "label": "Industry",
        "length": 40,
        "values": _INDUSTRY_VALUES,
    },
    {
        "name": "AnnualRevenue",
        "type": "currency",
        "label": "Annual Revenue",
        "precision": 18,
        "scale": 0,
    },
    {"name": "NumberOfEmployees", "type": "int", "label": "Employees", "digits": 8},
    {
        "name": "OwnerId",
        "type": "reference",
        "label": "Owner ID",
        "referenceTo": ["User"],
        "relationshipName": "Owner",
        "defaultedOnCreate": True,
        "nillable": False,
        "permissionable": False,
    },
    {"name": "CreatedDate", "type": "datetime", "label": "Created Date", **_SYSTEM_FIELD},
    {
        "name": "LastModifiedDate",
        "type": "datetime",
        "label": "Last Modified Date",
        **_SYSTEM_FIELD,
    },
    {"name": "SystemModstamp", "type": "datetime", "label": "System Modstamp", **_SYSTEM_FIELD},
)
"""The default Account fields, as `describe_field` specs, with a recorded org's metadata."""


def picklist_entry(value: str) -> dict[str, Any]:
    """One `picklistValues` entry, shaped like a recorded describe's.

    Args:
        value: The API value (also used as the label).

    Returns:
        The `{active, defaultValue, label, validFor, value}` entry.
    """
    return {"active": True, "defaultValue": False, "label": value, "validFor": None, "value": value}


def describe_field(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Expand a short field spec into a full describe field with every recorded key.

    Args:
        spec: At least `name` and `type`; any describe key overrides the default for the
            type. Extra keys: `values` (picklist API values) and `restricted` (bool, for
            `restrictedPicklist`).

    Returns:
        A field dict with the same keys and value types as a real describe's field.

    Raises:
        ValueError: The type is not one the emulator knows.
    """
    kind = str(spec["type"])
    if kind not in _TYPE_DEFAULTS:
        raise ValueError(f"unknown field type {kind!r} for field {spec['name']!r}")
    name = str(spec["name"])
    result = copy.deepcopy(_BASE_FIELD)
    result.update(copy.deepcopy(_TYPE_DEFAULTS[kind]))
    result["name"] = name
    result["type"] = kind
    result["custom"] = name.endswith("__c")
    result["label"] = name.removesuffix("__c").replace("_", " ")
    for key, value in spec.items():
        if key in result:
            result[key] = copy.deepcopy(value)
    if "values" in spec:
        result["picklistValues"] = [picklist_entry(str(v)) for v in spec["values"]]
    if "restricted" in spec:
        result["restrictedPicklist"] = bool(spec["restricted"])
    if "byteLength" not in spec:
        multiplier = 1 if kind in {"id", "reference"} else 3  # UTF-8 bytes per character
        result["byteLength"] = multiplier * int(result["length"]) if kind in _TEXT_TYPES else 0
    if kind not in _TEXT_TYPES:
        result["length"] = 0
    return result


def _describe_object(object_name: str, version: str, base_url: str) -> dict[str, Any]:
    """The object-level keys of a describe, as in the recorded Account describe."""
    prefix = "001" if object_name == "Account" else "a00"
    data = f"/services/data/v{version}/sobjects/{object_name}"
    return {
        "actionOverrides": [],
        "activateable": False,
        "childRelationships": [],
        "compactLayoutable": True,
        "createable": True,
        "custom": object_name.endswith("__c"),
        "customSetting": False,
        "deepCloneable": False,
        "defaultImplementation": None,
        "deletable": True,
        "deprecatedAndHidden": False,
        "extendedBy": None,
        "extendsInterfaces": None,
        "feedEnabled": True,
        "fields": [],
        "hasSubtypes": False,
        "implementedBy": None,
        "implementsInterfaces": None,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": prefix,
        "label": object_name.removesuffix("__c"),
        "labelPlural": object_name.removesuffix("__c") + "s",
        "layoutable": True,
        "listviewable": None,
        "lookupLayoutable": None,
        "mergeable": True,
        "mruEnabled": True,
        "name": object_name,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "queryable": True,
        "recordTypeInfos": [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
                "urls": {"layout": f"{data}/describe/layouts/012000000000000AAA"},
            }
        ],
        "replicateable": True,
        "retrieveable": True,
        "searchLayoutable": True,
        "searchable": True,
        "supportedScopes": [
            {"label": "All accounts", "name": "everything"},
            {"label": "My accounts", "name": "mine"},
            {"label": "My team's accounts", "name": "team"},
        ],
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
        "urls": {
            "compactLayouts": f"{data}/describe/compactLayouts",
            "rowTemplate": f"{data}/{{ID}}",
            "approvalLayouts": f"{data}/describe/approvalLayouts",
            "uiDetailTemplate": f"{base_url}/{{ID}}",
            "uiEditTemplate": f"{base_url}/{{ID}}/e",
            "defaultValues": f"{data}/defaultValues?recordTypeId&fields",
            "listviews": f"{data}/listviews",
            "describe": f"{data}/describe",
            "uiNewRecord": f"{base_url}/{prefix}/e",
            "quickActions": f"{data}/quickActions",
            "layouts": f"{data}/describe/layouts",
            "sobject": data,
        },
    }


# ---------------------------------------------------------------------------
# Values: Salesforce ids, datetimes and type conversion.
# ---------------------------------------------------------------------------

_ID_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def _id18(id15: str) -> str:
    """The 18-character form of a 15-character Salesforce id (case-safe checksum)."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(id15[start : start + 5]) if char.isupper())
        suffix += _ID_SUFFIX_ALPHABET[bits]
    return id15 + suffix


def _make_id(prefix: str, number: int) -> str:
    """A deterministic, well-formed 18-character id with a 3-character key prefix."""
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    return _id18(prefix + "EM" + digits.rjust(10, "0"))


def _format_datetime(moment: datetime) -> str:
    """A datetime as the REST API writes it: `2024-01-01T00:00:00.000+0000`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _parse_datetime(text: str) -> datetime:
    """Parse the datetime forms Salesforce reads and writes (Z, +0000, +00:00, no zone).

    Raises:
        ValueError: The text is not a datetime.
    """
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    value = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value)
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _now() -> datetime:
    """Now, to the whole second, as Salesforce stamps SystemModstamp."""
    return datetime.now(UTC).replace(microsecond=0)


class _FieldError(Exception):
    """A per-record error: Salesforce's statusCode, message and fields."""

    def __init__(self, code: str, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = list(fields)

    def as_json(self) -> dict[str, Any]:
        """The error as sObject Collections report it."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_bulk(self) -> str:
        """The error as a Bulk API 2.0 `sf__Error` cell."""
        fields = f"{','.join(self.fields)} " if self.fields else ""
        return f"{self.code}:{self.message}:{fields}--"


def _coerce(definition: Mapping[str, Any], raw: Any) -> Any:
    """Convert a JSON or CSV value to the stored type of a field.

    Raises:
        _FieldError: The value does not fit the field's type.
    """
    if raw is None:
        return None
    kind = definition["type"]
    name = definition["name"]
    try:
        if kind == "int":
            number = float(str(raw).replace(",", "")) if isinstance(raw, str) else float(raw)
            if not number.is_integer():
                raise ValueError(raw)
            return int(number)
        if kind in _NUMBER_TYPES:
            return float(str(raw).replace(",", "")) if isinstance(raw, str) else float(raw)
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered not in {"true", "false", "1", "0"}:
                raise ValueError(raw)
            return lowered in {"true", "1"}
        if kind == "datetime":
            return _format_datetime(_parse_datetime(str(raw)))
        if kind == "date":
            return datetime.strptime(str(raw).strip()[:10], "%Y-%m-%d").date().isoformat()
    except (TypeError, ValueError):
        raise _FieldError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{definition['label']}: value not of required type: {raw}",
            [name],
        ) from None
    if isinstance(raw, (dict, list)):
        raise _FieldError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: bad value", [name])
    return str(raw)


# ---------------------------------------------------------------------------
# SOQL: a small parser and evaluator.
# ---------------------------------------------------------------------------


class _SoqlError(Exception):
    """A query the emulator refuses, with Salesforce's errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
    |(?P<number>[+-]?\d+(?:\.\d+)?)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<lparen>\()
    |(?P<rparen>\))
    |(?P<comma>,)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


class _Token(NamedTuple):
    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class _Literal:
    kind: str  # string | number | datetime | date | boolean | null
    value: Any
    pos: int


@dataclass(frozen=True)
class _Comparison:
    field: str
    op: str  # = != < <= > >= IN NOT IN LIKE
    values: tuple[Any, ...]


@dataclass(frozen=True)
class _BoolOp:
    op: str  # AND | OR
    parts: tuple[_Node, ...]


@dataclass(frozen=True)
class _Not:
    part: _Node


_Node = _Comparison | _BoolOp | _Not


@dataclass(frozen=True)
class _Query:
    object_name: str
    fields: tuple[str, ...]
    count: bool
    count_field: str | None
    where: _Node | None
    order: tuple[tuple[str, bool, bool], ...]  # field, descending, nulls first
    limit: int | None
    offset: int


def _tokenize(soql: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN_RE.match(soql, pos)
        if match is None:
            snippet = soql[pos : pos + 10]
            raise _SoqlError("MALFORMED_QUERY", f"unexpected token: '{snippet}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("eof", "", len(soql)))
    return tokens


def _unescape(text: str) -> str:
    body = text[1:-1]
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, "")
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
        elif nxt in "_%":
            out.append("\\" + nxt)  # kept escaped: only LIKE gives it meaning
        else:
            raise _SoqlError("MALFORMED_QUERY", f"Invalid string literal '{text}'")
    return "".join(out)


class _Parser:
    """Recursive-descent parser for the SOQL subset the emulator serves."""

    def __init__(self, soql: str, fields: Mapping[str, Mapping[str, Any]], obj: str) -> None:
        self.soql = soql
        self.tokens = _tokenize(soql)
        self.index = 0
        self.fields_by_lower = {name.lower(): name for name in fields}
        self.definitions = fields
        self.object_name = obj

    # -- token helpers
    def peek(self) -> _Token:
        return self.tokens[self.index]

    def keyword(self, *words: str) -> bool:
        """Consume the keywords if they come next (case-insensitive)."""
        ahead = self.tokens[self.index : self.index + len(words)]
        if len(ahead) == len(words) and all(
            t.kind == "ident" and t.text.upper() == w for t, w in zip(ahead, words, strict=True)
        ):
            self.index += len(words)
            return True
        return False

    def expect(self, kind: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            raise self.unexpected(token)
        self.index += 1
        return token

    def unexpected(self, token: _Token) -> _SoqlError:
        text = token.text or "<EOF>"
        return _SoqlError("MALFORMED_QUERY", self.caret(token.pos, f"unexpected token: {text}"))

    def caret(self, pos: int, message: str) -> str:
        return f"\n{self.soql}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n{message}"

    def field(self, token: _Token) -> str:
        name = self.fields_by_lower.get(token.text.lower())
        if name is None:
            raise _SoqlError(
                "INVALID_FIELD",
                self.caret(
                    token.pos,
                    f"No such column '{token.text}' on entity '{self.object_name}'. If you are "
                    "attempting to use a custom field, be sure to append the '__c' after the "
                    "custom field name. Please reference your WSDL or the describe call for the "
                    "appropriate names.",
                ),
            )
        return name

    # -- grammar
    def parse(self) -> tuple[str, list[_Token], bool, _Token | None]:
        """Parse up to FROM; return the object name, select tokens, count flag, count field."""
        if not self.keyword("SELECT"):
            raise self.unexpected(self.peek())
        select: list[_Token] = []
        count = False
        count_field: _Token | None = None
        if self.peek().text.upper() == "COUNT" and self.tokens[self.index + 1].kind == "lparen":
            self.index += 2
            count = True
            if self.peek().kind == "ident":
                count_field = self.expect("ident")
            self.expect("rparen")
        else:
            select.append(self.expect("ident"))
            while self.peek().kind == "comma":
                self.index += 1
                select.append(self.expect("ident"))
        if not self.keyword("FROM"):
            raise self.unexpected(self.peek())
        return self.expect("ident").text, select, count, count_field

    def rest(self, obj: str, select: list[_Token], count: bool, count_tok: _Token | None) -> _Query:
        names = [self.field(t) for t in select]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise _SoqlError("INVALID_FIELD", f"duplicate field selected: {sorted(duplicates)[0]}")
        where = self.condition() if self.keyword("WHERE") else None
        order: list[tuple[str, bool, bool]] = []
        if self.keyword("ORDER", "BY"):
            while True:
                name = self.field(self.expect("ident"))
                descending = self.keyword("DESC")
                if not descending:
                    self.keyword("ASC")
                nulls_first = not descending
                if self.keyword("NULLS", "FIRST"):
                    nulls_first = True
                elif self.keyword("NULLS", "LAST"):
                    nulls_first = False
                order.append((name, descending, nulls_first))
                if self.peek().kind != "comma":
                    break
                self.index += 1
        limit = int(self.expect("number").text) if self.keyword("LIMIT") else None
        offset = int(self.expect("number").text) if self.keyword("OFFSET") else 0
        if self.peek().kind != "eof":
            raise self.unexpected(self.peek())
        return _Query(
            object_name=obj,
            fields=tuple(names),
            count=count,
            count_field=self.field(count_tok) if count_tok else None,
            where=where,
            order=tuple(order),
            limit=limit,
            offset=offset,
        )

    def condition(self) -> _Node:
        parts = [self.negation()]
        joiner: str | None = None
        while self.peek().kind == "ident" and self.peek().text.upper() in {"AND", "OR"}:
            word = self.peek().text.upper()
            if joiner is not None and word != joiner:
                # SOQL needs parentheses to mix AND and OR.
                raise self.unexpected(self.peek())
            joiner = word
            self.index += 1
            parts.append(self.negation())
        return parts[0] if joiner is None else _BoolOp(joiner, tuple(parts))

    def negation(self) -> _Node:
        if self.keyword("NOT"):
            return _Not(self.negation())
        if self.peek().kind == "lparen":
            self.index += 1
            node = self.condition()
            self.expect("rparen")
            return node
        return self.comparison()

    def comparison(self) -> _Node:
        token = self.expect("ident")
        name = self.field(token)
        definition = self.definitions[name]
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect("lparen")
            values = [self.literal()]
            while self.peek().kind == "comma":
                self.index += 1
                values.append(self.literal())
            self.expect("rparen")
            typed = tuple(_typed_literal(definition, v, self) for v in values)
            return _Comparison(name, "NOT IN" if negate else "IN", typed)
        if self.keyword("LIKE") and not negate:
            pattern = self.literal()
            if pattern.kind != "string":
                raise self.unexpected(self.tokens[self.index - 1])
            return _Comparison(name, "LIKE", (_like_regex(pattern.value),))
        if negate:
            raise self.unexpected(self.peek())
        op_token = self.expect("op")
        literal = self.literal()
        op = "!=" if op_token.text == "<>" else op_token.text
        if literal.kind == "null" and op not in {"=", "!="}:
            raise self.unexpected(self.tokens[self.index - 1])
        return _Comparison(name, op, (_typed_literal(definition, literal, self),))

    def literal(self) -> _Literal:
        token = self.peek()
        self.index += 1
        if token.kind == "string":
            return _Literal("string", _unescape(token.text), token.pos)
        if token.kind in {"number", "datetime", "date"}:
            return _Literal(token.kind, token.text, token.pos)
        if token.kind == "ident" and token.text.upper() in {"TRUE", "FALSE"}:
            return _Literal("boolean", token.text.upper() == "TRUE", token.pos)
        if token.kind == "ident" and token.text.upper() == "NULL":
            return _Literal("null", None, token.pos)
        raise self.unexpected(token)


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars, "")))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _typed_literal(definition: Mapping[str, Any], literal: _Literal, parser: _Parser) -> Any:
    """A literal converted to the comparable form of its field, or a Salesforce-style error."""
    if literal.kind == "null":
        return None
    kind = definition["type"]
    expected = {
        **dict.fromkeys(_TEXT_TYPES, "string"),
        **dict.fromkeys(_NUMBER_TYPES, "number"),
        "boolean": "boolean",
        "datetime": "datetime",
        "date": "date",
    }[kind]
    if literal.kind != expected:
        quoted = (
            "should be enclosed in quotes"
            if expected == "string"
            else ("should not be enclosed in quotes")
        )
        type_name = {
            "string": "string",
            "number": "double",
            "boolean": "boolean",
            "datetime": "dateTime",
            "date": "date",
        }[expected]
        raise _SoqlError(
            "INVALID_FIELD",
            parser.caret(
                literal.pos,
                f"value of filter criterion for field '{definition['name']}' must be of type "
                f"{type_name} and {quoted}",
            ),
        )
    return _sort_value(definition, literal.value)


def _sort_value(definition: Mapping[str, Any], value: Any) -> Any:
    """A stored (or literal) value in a form that compares the way SOQL compares it."""
    if value is None:
        return None
    kind = definition["type"]
    if kind in _NUMBER_TYPES:
        return float(value)
    if kind == "datetime":
        return _parse_datetime(str(value))
    if kind in {"id", "reference"}:
        return str(value)
    if kind in {"boolean", "date"}:
        return value
    return str(value).casefold()


def _matches(node: _Node, record: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    if isinstance(node, _BoolOp):
        results = (_matches(part, record, fields) for part in node.parts)
        return all(results) if node.op == "AND" else any(results)
    if isinstance(node, _Not):
        return not _matches(node.part, record, fields)
    definition = fields[node.field]
    value = record.get(node.field)
    if node.op == "LIKE":
        pattern: re.Pattern[str] = node.values[0]
        return value is not None and pattern.fullmatch(str(value)) is not None
    current = _sort_value(definition, value)
    if node.op in {"IN", "NOT IN"}:
        found = current in node.values
        return found if node.op == "IN" else not found
    target = node.values[0]
    if node.op == "=":
        return bool(current == target)
    if node.op == "!=":
        return bool(current != target)
    if current is None or target is None:
        return False
    return bool(
        {
            "<": current < target,
            "<=": current <= target,
            ">": current > target,
            ">=": current >= target,
        }[node.op]
    )


_USER_FIELDS = {
    str(spec["name"]): describe_field(spec)
    for spec in (
        {"name": "Id", "type": "id"},
        {"name": "Name", "type": "string"},
        {"name": "Email", "type": "email"},
        {"name": "IsActive", "type": "boolean"},
    )
}


_CONTACT_FIELDS = {
    str(spec["name"]): describe_field(spec)
    for spec in (
        {"name": "Id", "type": "id"},
        {"name": "AccountId", "type": "reference", "referenceTo": ["Account"]},
        {"name": "FirstName", "type": "string"},
        {"name": "LastName", "type": "string"},
        {"name": "Email", "type": "email"},
    )
}
_CAMPAIGN_FIELDS = {
    str(spec["name"]): describe_field(spec)
    for spec in (
        {"name": "Id", "type": "id"},
        {"name": "Name", "type": "string", "length": 80},
        {"name": "Type", "type": "picklist"},
        {"name": "Status", "type": "picklist"},
        {"name": "IsActive", "type": "boolean"},
        {"name": "Description", "type": "textarea", "length": 32000},
    )
}
_CAMPAIGN_MEMBER_FIELDS = {
    str(spec["name"]): describe_field(spec)
    for spec in (
        {"name": "Id", "type": "id"},
        {"name": "CampaignId", "type": "reference", "referenceTo": ["Campaign"]},
        {"name": "ContactId", "type": "reference", "referenceTo": ["Contact"]},
        {"name": "Status", "type": "picklist"},
        {"name": "Description", "type": "string", "length": 255, "updateable": False, "createable": False},
        {"name": "Revrules_List__c", "type": "string", "length": 255, "custom": True},
    )
}
_LIST_OBJECTS = {"Contact": _CONTACT_FIELDS, "Campaign": _CAMPAIGN_FIELDS, "CampaignMember": _CAMPAIGN_MEMBER_FIELDS}
"""The marketing-list tables: object name → fields."""
_LIST_ID_PREFIXES = {"Contact": "003", "Campaign": "701", "CampaignMember": "00v"}


def _parse_soql(soql: str, objects: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> _Query:
    """Parse SOQL against the known objects' fields.

    Raises:
        _SoqlError: Malformed SOQL, an unknown object or field, or a badly typed literal.
    """
    head = _Parser(soql, {}, "")
    obj_text, select, count, count_tok = head.parse()
    canonical = {name.lower(): name for name in objects}.get(obj_text.lower())
    if canonical is None:
        token = head.tokens[head.index - 1]
        raise _SoqlError(
            "INVALID_TYPE",
            head.caret(
                token.pos,
                f"sObject type '{obj_text}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            ),
        )
    parser = _Parser(soql, objects[canonical], canonical)
    parser.tokens = head.tokens
    parser.index = head.index
    return parser.rest(canonical, select, count, count_tok)


def _sort_key(definition: Mapping[str, Any], name: str) -> Callable[[Mapping[str, Any]], Any]:
    def key(record: Mapping[str, Any]) -> Any:
        return _sort_value(definition, record[name])

    return key


def _run_query(
    query: _Query, records: Sequence[Mapping[str, Any]], fields: Mapping[str, Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    rows = [r for r in records if query.where is None or _matches(query.where, r, fields)]
    for name, descending, nulls_first in reversed(query.order):
        definition = fields[name]
        present = [r for r in rows if r.get(name) is not None]
        missing = [r for r in rows if r.get(name) is None]
        present.sort(key=_sort_key(definition, name), reverse=descending)
        rows = missing + present if nulls_first else present + missing
    rows = rows[query.offset :]
    return rows if query.limit is None else rows[: query.limit]


# ---------------------------------------------------------------------------
# Faults and the request log.
# ---------------------------------------------------------------------------


@dataclass
class Faults:
    """Fault-injection switches; set them in-process or with `POST /__emulator/faults`.

    Attributes:
        fail_status_on_call: API call number (from 1) → HTTP status (429 or 503) to answer.
        expire_session_on_call: On that API call every issued token becomes invalid and the
            call answers 401 `INVALID_SESSION_ID`; a new token from the token endpoint works.
        lock_rows: Record ids whose writes fail with `UNABLE_TO_LOCK_ROW`: a set (always), or
            a dict id → number of attempts that fail before writes succeed.
        validation_errors: Record id → message of a `FIELD_CUSTOM_VALIDATION_EXCEPTION`.
        request_limit_after: After this many API calls every call answers 403
            `REQUEST_LIMIT_EXCEEDED`.
        delay_seconds: Sleep before answering each request (control endpoints excepted).
        daily_api_max: `DailyApiRequests.Max` reported by `/limits`.
        daily_api_remaining: When set, the remaining allowance is reset to this value (then
            decremented per call, and the switch goes back to None).
        auth_failure: The token and SOAP login endpoints refuse every login.
        bulk_polls_before_complete: Bulk 2.0 job-info reads that report `InProgress` before a
            processed job reports `JobComplete`.
        retry_after: When set, injected 429/503 answers carry this `Retry-After` header.
        member_errors: Contact id → message of a `FIELD_CUSTOM_VALIDATION_EXCEPTION` that
            fails the creation of a CampaignMember for that contact.
    """

    fail_status_on_call: dict[int, int] = field(default_factory=dict)
    expire_session_on_call: int | None = None
    lock_rows: set[str] | dict[str, int] = field(default_factory=set)
    validation_errors: dict[str, str] = field(default_factory=dict)
    request_limit_after: int | None = None
    delay_seconds: float = 0.0
    daily_api_max: int = 15000
    daily_api_remaining: int | None = None
    auth_failure: bool = False
    bulk_polls_before_complete: int = 0
    retry_after: int | None = None
    member_errors: dict[str, str] = field(default_factory=dict)

    def update(self, settings: Mapping[str, Any]) -> None:
        """Apply switches from JSON; `{"reset": true}` first restores every default.

        Raises:
            ValueError: An unknown switch name.
        """
        known = set(Faults.__dataclass_fields__)
        unknown = set(settings) - known - {"reset"}
        if unknown:
            raise ValueError(f"unknown fault switch(es): {', '.join(sorted(unknown))}")
        if settings.get("reset"):
            for name, value in vars(Faults()).items():
                setattr(self, name, value)
        for name, value in settings.items():
            if name == "fail_status_on_call":
                self.fail_status_on_call = {int(k): int(v) for k, v in dict(value).items()}
            elif name == "lock_rows":
                self.lock_rows = (
                    {str(k): int(v) for k, v in value.items()}
                    if isinstance(value, Mapping)
                    else {str(v) for v in value}
                )
            elif name == "validation_errors":
                self.validation_errors = {str(k): str(v) for k, v in dict(value).items()}
            elif name == "member_errors":
                self.member_errors = {str(k): str(v) for k, v in dict(value).items()}
            elif name != "reset":
                setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        """The switches as JSON-ready data."""
        lock_rows: Any = (
            dict(self.lock_rows) if isinstance(self.lock_rows, dict) else sorted(self.lock_rows)
        )
        return {
            **{name: getattr(self, name) for name in Faults.__dataclass_fields__},
            "fail_status_on_call": {str(k): v for k, v in self.fail_status_on_call.items()},
            "lock_rows": lock_rows,
        }


class LoggedRequest(NamedTuple):
    """One request the emulator answered (control endpoints are not logged)."""

    method: str
    path: str
    query: str
    status: int
    body_size: int
    call: int | None
    """The API call number, or None for requests outside `/services/data/vXX.X/`."""


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any, **headers: str) -> _Response:
    return _Response(status, json.dumps(payload).encode(), headers=dict(headers))


def _error(status: int, code: str, message: str, fields: Sequence[str] | None = None) -> _Response:
    """Salesforce's whole-request error: a list of `{message, errorCode}`."""
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = list(fields)
    return _json(status, [item])


def _not_found() -> _Response:
    return _error(404, "NOT_FOUND", "The requested resource does not exist")


def _session_expired() -> _Response:
    response = _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    response.headers["WWW-Authenticate"] = "Token"
    return response


# ---------------------------------------------------------------------------
# Bulk API 2.0 jobs.
# ---------------------------------------------------------------------------

_DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


@dataclass
class _Job:
    """A Bulk API 2.0 job's state."""

    info: dict[str, Any]
    kind: str  # query | ingest
    data: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    fields: tuple[str, ...] = ()
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    polls_left: int = 0
    processed: bool = False

    @property
    def delimiter(self) -> str:
        return _DELIMITERS.get(str(self.info.get("columnDelimiter", "COMMA")), ",")

    @property
    def line_ending(self) -> str:
        return _LINE_ENDINGS.get(str(self.info.get("lineEnding", "LF")), "\n")

    def csv_text(
        self, header: Sequence[str], rows: Sequence[Sequence[str]], quote_header: bool = True
    ) -> str:
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=self.delimiter,
            lineterminator=self.line_ending,
            quoting=csv.QUOTE_ALL,
        )
        if quote_header:
            writer.writerow(header)
        else:
            plain = csv.writer(buffer, delimiter=self.delimiter, lineterminator=self.line_ending)
            plain.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue()


def _bulk_cell(definition: Mapping[str, Any], value: Any) -> str:
    """A stored value as a Bulk API 2.0 query result cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if definition["type"] == "datetime":
        return _format_datetime(_parse_datetime(str(value))).replace("+0000", "Z")
    return str(value)


# ---------------------------------------------------------------------------
# The emulator.
# ---------------------------------------------------------------------------

_VERSIONS = (
    ("Spring '23", "57.0"),
    ("Summer '23", "58.0"),
    ("Winter '24", "59.0"),
    ("Spring '24", "60.0"),
    ("Summer '24", "61.0"),
    ("Winter '25", "62.0"),
)
_DATA_RE = re.compile(r"^/services/data/v(\d+\.\d+)(?:/(.*))?$")
_ORG_ID = "00D" + "EM" + "0000000001"
_USER_ID = _id18("005" + "EM" + "0000000001")


class SalesforceEmulator(LoopbackServer):
    """An in-process Salesforce org holding one object's records, served over loopback HTTP.

    Args:
        records: Initial records; each may carry `Id` (else one is generated). Values are
            converted to the describe's types (strings such as "1200" are accepted).
        object_name: The sObject served (`Account` by default).
        fields: Field specs for `describe_field` (default: `ACCOUNT_FIELDS`). Columns found in
            `records` but not here are added: `*__c` as custom fields, numeric columns as
            `double`, others as `string`.
        picklists: Field → allowed values; each becomes a restricted picklist (added if absent).
        api_version: The version used in URLs the emulator builds (`59.0`).
        page_size: Records per REST query page before `nextRecordsUrl` (2000, like Salesforce).
        port: The TCP port to bind on 127.0.0.1 (0 picks a free one).
        session_id: The first valid access token (default: a random one).
        users: `User` rows answering owner lookups.
        contacts: `Contact` rows (`Id` optional, `AccountId`, names); `Campaign` and
            `CampaignMember` start empty (`campaigns`, `campaign_members` hold them).
        marketing_lists: Serve `Contact`, `Campaign` and `CampaignMember` even without
            `contacts` (they are served whenever `contacts` is given).
    """

    def __init__(
        self,
        records: Sequence[Mapping[str, object]] | None = None,
        *,
        object_name: str = "Account",
        fields: Sequence[Mapping[str, Any]] | None = None,
        picklists: Mapping[str, Sequence[str]] | None = None,
        api_version: str = "59.0",
        page_size: int = 2000,
        port: int = 0,
        session_id: str | None = None,
        users: Sequence[Mapping[str, object]] = (),
        contacts: Sequence[Mapping[str, object]] = (),
        marketing_lists: bool = False,
    ) -> None:
        self.object_name = object_name
        # Users answer owner lookups (`SELECT Id FROM User WHERE IsActive = true ...`).
        self.users: dict[str, dict[str, Any]] = {str(u["Id"]): {"IsActive": True, **u} for u in users}
        self.api_version = api_version
        self.page_size = page_size
        self.faults = Faults()
        self._port = port
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}
        self._deleted: set[str] = set()
        self._log: list[LoggedRequest] = []
        self._calls = 0
        self._api_used = 0
        self._ids = itertools.count(1)
        # The marketing-list tables, keyed by object name, then by record id.
        self._tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in _LIST_OBJECTS}
        # Served only when asked for, so that an Account-only org refuses `FROM Contact` as before.
        self._serves_lists = marketing_lists or bool(contacts)
        for contact in contacts:
            row = dict.fromkeys(_CONTACT_FIELDS) | dict(contact)
            contact_id = str(row["Id"] or self._new_id(_LIST_ID_PREFIXES["Contact"]))
            row["Id"] = contact_id
            self._tables["Contact"][contact_id] = row
        self._cursors: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self._jobs: dict[str, _Job] = {}
        self.session_id = session_id or self._new_token()
        self._tokens: set[str] = {self.session_id}
        self._fields: dict[str, dict[str, Any]] = {}
        for spec in fields if fields is not None else ACCOUNT_FIELDS:
            self._fields[str(spec["name"])] = describe_field(spec)
        for name, values in (picklists or {}).items():
            self._fields[name] = describe_field(
                {
                    **self._fields.get(name, {"name": name}),
                    "type": "picklist",
                    "values": values,
                    "restricted": True,
                    "picklistValues": [picklist_entry(v) for v in values],
                }
            )
        self._add_columns(records or [])
        loaded_at = _format_datetime(_now())
        for record in records or []:
            self._load(record, loaded_at)

    # -- lifecycle ---------------------------------------------------------------------
    def _make_server(self) -> ThreadingHTTPServer:
        return _Server(("127.0.0.1", self._port), _Handler, self)

    # -- state for tests -----------------------------------------------------------------
    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """A snapshot of the stored records: id → field values."""
        with self._lock:
            return {rid: dict(values) for rid, values in self._records.items()}

    @property
    def contacts(self) -> dict[str, dict[str, Any]]:
        """A snapshot of the `Contact` table: id → field values."""
        return self._snapshot("Contact")

    @property
    def campaigns(self) -> dict[str, dict[str, Any]]:
        """A snapshot of the `Campaign` table: id → field values."""
        return self._snapshot("Campaign")

    @property
    def campaign_members(self) -> dict[str, dict[str, Any]]:
        """A snapshot of the `CampaignMember` table: id → field values."""
        return self._snapshot("CampaignMember")

    def _snapshot(self, object_name: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {rid: dict(values) for rid, values in self._tables[object_name].items()}

    @property
    def request_log(self) -> list[LoggedRequest]:
        """A snapshot of the requests answered so far, oldest first."""
        with self._lock:
            return list(self._log)

    def calls(self, path_prefix: str = "", method: str | None = None) -> int:
        """Count logged requests whose path starts with `path_prefix`.

        Args:
            path_prefix: An absolute path prefix (`/services/oauth2/token`), or one relative to
                the data API (`composite/sobjects` means `/services/data/vXX.X/composite/...`).
            method: Only count this HTTP method.

        Returns:
            The number of matching requests.
        """
        count = 0
        for entry in self.request_log:
            if method is not None and entry.method != method.upper():
                continue
            path = entry.path
            if not path_prefix.startswith("/"):
                match = _DATA_RE.match(path)
                path = (match.group(2) or "") if match else ""
            if path.startswith(path_prefix):
                count += 1
        return count

    def reset_log(self) -> None:
        """Forget logged requests and restart API call numbering at 1."""
        with self._lock:
            self._log.clear()
            self._calls = 0

    def issue_token(self) -> str:
        """Issue a new valid access token (what the token endpoint does)."""
        token = self._new_token()
        with self._lock:
            self._tokens.add(token)
        return token

    def expire_sessions(self) -> None:
        """Invalidate every issued token; clients must log in again."""
        with self._lock:
            self._tokens.clear()

    def describe(self, version: str | None = None) -> dict[str, Any]:
        """The object's describe, as `GET sobjects/{obj}/describe` returns it."""
        base = self.url if self._server is not None else "http://127.0.0.1"
        result = _describe_object(self.object_name, version or self.api_version, base)
        with self._lock:
            result["fields"] = [copy.deepcopy(f) for f in self._fields.values()]
        return result

    @property
    def daily_api_remaining(self) -> int:
        """The remaining `DailyApiRequests` allowance."""
        with self._lock:
            return max(0, self.faults.daily_api_max - self._api_used)

    # -- loading -------------------------------------------------------------------------
    @staticmethod
    def _new_token() -> str:
        return f"{_ORG_ID}!AQ{secrets.token_urlsafe(40)}"

    def _new_id(self, prefix: str | None = None) -> str:
        key = prefix or ("001" if self.object_name == "Account" else "a00")
        return _make_id(key, next(self._ids))

    def _add_columns(self, records: Sequence[Mapping[str, object]]) -> None:
        columns: dict[str, list[object]] = {}
        for record in records:
            for key, value in record.items():
                columns.setdefault(key, []).append(value)
        for name, values in columns.items():
            if name in self._fields or name == "attributes":
                continue
            present = [v for v in values if v not in (None, "")]
            kind = "string"
            scale = 0
            try:
                numbers = [float(str(v).replace(",", "")) for v in present]
                if numbers:
                    kind = "double"
                    scale = 0 if all(n.is_integer() for n in numbers) else 2
            except ValueError:
                kind = "string"
            longest = max((len(str(v)) for v in present), default=0)
            spec: dict[str, Any] = {"name": name, "type": kind}
            if kind == "double":
                spec["scale"] = scale
            elif longest > 255:
                spec["type"] = "textarea"
            self._fields[name] = describe_field(spec)

    def _load(self, record: Mapping[str, object], loaded_at: str) -> None:
        values: dict[str, Any] = dict.fromkeys(self._fields)
        for key, raw in record.items():
            if key == "attributes":
                continue
            definition = self._fields[key]
            try:
                values[key] = None if raw in ("", None) else _coerce(definition, raw)
            except _FieldError as problem:
                where = record.get("Id") or "a record without Id"
                raise ValueError(f"{where}: {key}: {problem.message}") from None
        record_id = str(values.get("Id") or self._new_id())
        values["Id"] = record_id
        for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if stamp in self._fields and values.get(stamp) is None:
                values[stamp] = loaded_at
        if "OwnerId" in self._fields and values.get("OwnerId") is None:
            values["OwnerId"] = _USER_ID
        self._records[record_id] = values

    # -- request entry point ---------------------------------------------------------------
    def _serve(
        self,
        method: str,
        raw_path: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Response:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        if path.startswith("/__emulator/"):
            return self._control(method, path, body)
        delay = float(self.faults.delay_seconds or 0)
        if delay > 0:
            time.sleep(delay)
        call: int | None = None
        match = _DATA_RE.match(path)
        if match and match.group(2) is not None:
            with self._lock:
                self._calls += 1
                self._api_used += 1
                call = self._calls
        try:
            response = self._route(
                method, path, parse_qs(parts.query), headers=headers, body=body, call=call
            )
        except Exception as problem:  # a bug in the emulator: answer like Salesforce would
            response = _error(500, "UNKNOWN_EXCEPTION", f"emulator error: {problem!r}")
        if call is not None:
            response.headers.setdefault(
                "Sforce-Limit-Info", f"api-usage={self._api_used}/{self.faults.daily_api_max}"
            )
        with self._lock:
            self._log.append(
                LoggedRequest(method, path, parts.query, response.status, len(body), call)
            )
        return response

    def _control(self, method: str, path: str, body: bytes) -> _Response:
        if path == "/__emulator/faults" and method == "POST":
            try:
                settings = json.loads(body or b"{}")
                with self._lock:
                    self.faults.update(settings)
            except (ValueError, TypeError, AttributeError) as problem:
                return _error(400, "INVALID_FAULTS", str(problem))
            return _json(200, self.faults.to_json())
        if path == "/__emulator/faults" and method == "GET":
            return _json(200, self.faults.to_json())
        if path == "/__emulator/log" and method == "GET":
            return _json(200, [entry._asdict() for entry in self.request_log])
        if path == "/__emulator/reset-log" and method == "POST":
            self.reset_log()
            return _Response(204)
        if path == "/__emulator/records" and method == "GET":
            return _json(200, list(self.records.values()))
        return _not_found()

    def _route(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        *,
        headers: Mapping[str, str],
        body: bytes,
        call: int | None,
    ) -> _Response:
        if path == "/services/oauth2/token" and method == "POST":
            return self._token(headers, body)
        if re.fullmatch(r"/services/Soap/u/\d+\.\d+(/.*)?", path) and method == "POST":
            return self._soap_login(body)
        if path.rstrip("/") == "/services/data" and method == "GET":
            return _json(
                200,
                [
                    {"label": label, "url": f"/services/data/v{v}", "version": v}
                    for label, v in _VERSIONS
                ],
            )
        match = _DATA_RE.match(path)
        if match is None or call is None:
            return _not_found()
        refused = self._refuse(call, headers)
        if refused is not None:
            return refused
        version = match.group(1)
        rest = (match.group(2) or "").strip("/")
        return self._data(method, version, rest, query, headers=headers, body=body)

    def _refuse(self, call: int, headers: Mapping[str, str]) -> _Response | None:
        """Injected faults and authentication, in that order."""
        with self._lock:
            faults = self.faults
            if faults.daily_api_remaining is not None:
                self._api_used = faults.daily_api_max - int(faults.daily_api_remaining) + 1
                faults.daily_api_remaining = None
            status = faults.fail_status_on_call.get(call)
            over_limit = (
                faults.request_limit_after is not None and call > faults.request_limit_after
            ) or self._api_used > faults.daily_api_max
            expire = faults.expire_session_on_call == call
            if expire:
                self._tokens.clear()
            token = _bearer(headers)
            valid = token is not None and token in self._tokens
        if status is not None:
            extra = (
                {"Retry-After": str(faults.retry_after)} if faults.retry_after is not None else {}
            )
            if status == 503:
                return _json(
                    503,
                    [{"message": "Service Unavailable", "errorCode": "SERVER_UNAVAILABLE"}],
                    **extra,
                )
            return _json(
                status,
                [{"message": "Too many requests, retry later", "errorCode": "TOO_MANY_REQUESTS"}],
                **extra,
            )
        if over_limit:
            return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if expire or not valid:
            return _session_expired()
        return None

    # -- authentication ------------------------------------------------------------------
    def _token_payload(self) -> dict[str, Any]:
        token = self.issue_token()
        issued = str(int(time.time() * 1000))
        signature = base64.b64encode(secrets.token_bytes(32)).decode()
        return {
            "access_token": token,
            "instance_url": self.url,
            "id": f"{self.url}/id/{_ORG_ID}AAA/{_USER_ID}",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": signature,
            "scope": "api",
        }

    def _token(self, headers: Mapping[str, str], body: bytes) -> _Response:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        if self.faults.auth_failure:
            return _json(
                400, {"error": "invalid_grant", "error_description": "authentication failure"}
            )
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            if not _jwt_well_formed(form.get("assertion", "")):
                return _json(
                    400, {"error": "invalid_grant", "error_description": "invalid assertion"}
                )
        elif grant == "client_credentials":
            basic = _header(headers, "Authorization") or ""
            has_basic = basic.lower().startswith("basic ") and ":" in _b64(basic[6:])
            if not has_basic and not (form.get("client_id") and form.get("client_secret")):
                return _json(
                    400,
                    {"error": "invalid_client", "error_description": "invalid client credentials"},
                )
        elif grant == "password":
            if not (form.get("username") and form.get("password") and form.get("client_id")):
                return _json(
                    400, {"error": "invalid_grant", "error_description": "authentication failure"}
                )
        else:
            return _json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        return _json(200, self._token_payload())

    def _soap_login(self, body: bytes) -> _Response:
        text = body.decode("utf-8", "replace")
        username = re.search(r"<(?:\w+:)?username>(.*?)</(?:\w+:)?username>", text, re.S)
        if self.faults.auth_failure or username is None or not username.group(1).strip():
            message = "Invalid username, password, security token; or user locked out."
            fault = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:sf="urn:fault.partner.soap.sforce.com" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
                f"<soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode>"
                f"<faultstring>INVALID_LOGIN: {message}</faultstring><detail>"
                '<sf:LoginFault xsi:type="sf:LoginFault">'
                "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>"
                f"<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault>"
                "</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
            )
            return _Response(500, fault.encode(), "text/xml;charset=UTF-8")
        token = self.issue_token()
        base = self.url
        version = self.api_version
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{_ORG_ID}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{_ORG_ID}</serverUrl>"
            f"<sessionId>{xml_escape(token)}</sessionId><userId>{_USER_ID}</userId>"
            f"<userInfo><organizationId>{_ORG_ID}AAA</organizationId>"
            f"<userName>{xml_escape(username.group(1).strip())}</userName></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return _Response(200, envelope.encode(), "text/xml;charset=UTF-8")

    # -- data API routing ------------------------------------------------------------------
    def _data(
        self,
        method: str,
        version: str,
        rest: str,
        query: Mapping[str, list[str]],
        *,
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Response:
        parts = rest.split("/") if rest else []
        head = parts[0] if parts else ""
        if not parts and method == "GET":
            base = f"/services/data/v{version}"
            return _json(
                200,
                {
                    name: f"{base}/{name}"
                    for name in ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
                },
            )
        if head == "limits" and method == "GET":
            return self._limits(parts[1:], query)
        if head in {"query", "queryAll"} and method == "GET":
            if len(parts) == 1:
                return self._query(version, query.get("q", [""])[0], headers)
            if len(parts) == 2:
                return self._query_more(parts[1])
        if head == "sobjects":
            return self._sobjects(method, version, parts[1:], query, body)
        if parts == ["composite", "sobjects"] and method in {"PATCH", "POST"}:
            list_response = self._list_collection(method, body)
            return list_response if list_response is not None else self._collection(method, version, body)
        if parts == ["composite", "sobjects"] and method == "DELETE" and self._serves_lists:
            return self._list_delete(query)
        if head == "jobs" and len(parts) >= 2 and parts[1] in {"query", "ingest"}:
            return self._jobs_route(method, version, parts[1], parts[2:], query=query, body=body)
        if head in {"query", "queryAll", "limits", "composite", "jobs"}:
            allowed = "GET" if head != "composite" else "PATCH, POST, DELETE"
            return _error(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{method}' not allowed. Allowed are {allowed}",
            )
        return _not_found()

    def _limits(self, parts: list[str], query: Mapping[str, list[str]]) -> _Response:
        if parts == ["recordCount"]:
            wanted = query.get("sObjects", [self.object_name])[0].split(",")
            with self._lock:
                count = len(self._records)
            return _json(
                200,
                {
                    "sObjects": [
                        {"count": count, "name": self.object_name}
                        for name in wanted
                        if name == self.object_name
                    ]
                },
            )
        if parts:
            return _not_found()
        maximum = self.faults.daily_api_max
        with self._lock:
            used = self._api_used
        return _json(
            200,
            {
                "DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - used)},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
                "FileStorageMB": {"Max": 20, "Remaining": 20},
            },
        )

    # -- queries -------------------------------------------------------------------------
    def _objects(self) -> dict[str, dict[str, dict[str, Any]]]:
        lists = _LIST_OBJECTS if self._serves_lists else {}
        return {**lists, self.object_name: self._fields, "User": _USER_FIELDS}

    def _record_json(
        self, version: str, record: Mapping[str, Any], fields: Sequence[str], object_name: str | None = None
    ) -> dict[str, Any]:
        kind = object_name or self.object_name
        url = f"/services/data/v{version}/sobjects/{kind}/{record['Id']}"
        result: dict[str, Any] = {"attributes": {"type": kind, "url": url}}
        for name in fields:
            result[name] = record.get(name)
        return result

    def _select(self, soql: str) -> tuple[_Query, list[dict[str, Any]]]:
        query = _parse_soql(soql, self._objects())
        table, fields = (self.users, _USER_FIELDS) if query.object_name == "User" else (self._records, self._fields)
        if query.object_name in _LIST_OBJECTS and query.object_name != self.object_name:
            table, fields = self._tables[query.object_name], _LIST_OBJECTS[query.object_name]
        with self._lock:
            rows = [dict(r) for r in _run_query(query, list(table.values()), fields)]
        return query, rows

    def _query(self, version: str, soql: str, headers: Mapping[str, str]) -> _Response:
        if not soql.strip():
            return _error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            query, rows = self._select(soql)
        except _SoqlError as problem:
            return _error(400, problem.code, problem.message)
        if query.count:
            if query.count_field is None:
                return _json(200, {"totalSize": len(rows), "done": True, "records": []})
            aggregate = {"attributes": {"type": "AggregateResult"}, "expr0": len(rows)}
            return _json(200, {"totalSize": 1, "done": True, "records": [aggregate]})
        records = [self._record_json(version, row, query.fields, query.object_name) for row in rows]
        page_size = self.page_size
        options = _header(headers, "Sforce-Query-Options") or ""
        batch = re.search(r"batchSize=(\d+)", options)
        if batch:
            page_size = max(1, min(int(batch.group(1)), self.page_size))
        locator = "01g" + "EM" + secrets.token_hex(5).upper()[:10] + "AAA"
        with self._lock:
            self._cursors[locator] = (version, records)
        return self._page(locator, 0, page_size)

    def _page(self, locator: str, offset: int, page_size: int | None = None) -> _Response:
        with self._lock:
            version, records = self._cursors[locator]
        size = page_size or self.page_size
        chunk = records[offset : offset + size]
        payload: dict[str, Any] = {"totalSize": len(records), "done": True, "records": chunk}
        if offset + size < len(records):
            payload["done"] = False
            payload["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{offset + size}"
        return _json(200, payload)

    def _query_more(self, cursor: str) -> _Response:
        locator, _, offset_text = cursor.rpartition("-")
        with self._lock:
            known = locator in self._cursors
        if not known or not offset_text.isdigit():
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, int(offset_text))

    # -- sobjects ------------------------------------------------------------------------
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

    def _find(self, record_id: str) -> str | None:
        with self._lock:
            if record_id in self._records:
                return record_id
            if len(record_id) == 15:
                return next((rid for rid in self._records if rid[:15] == record_id), None)
        return None

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

    # -- writes (shared by REST, collections and Bulk ingest) ---------------------------------
    def _collection(self, method: str, version: str, body: bytes) -> _Response:
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
        outcomes = self._write(writes, all_or_none=all_or_none, json_values=True)
        results: list[dict[str, Any]] = []
        for outcome in outcomes:
            if isinstance(outcome, _FieldError):
                results.append({"success": False, "errors": [outcome.as_json()]})
            else:
                results.append({"id": outcome, "success": True, "errors": []})
        return _json(200, results)

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
        if kind == "Contact" or (method == "PATCH" and kind != "Campaign"):
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
        if method == "PATCH":
            if record_id is None or str(record_id) not in table:
                raise _FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
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

    def _write(
        self,
        writes: Sequence[tuple[str | None, Mapping[str, Any]]],
        *,
        all_or_none: bool,
        json_values: bool,
    ) -> list[str | _FieldError]:
        """Validate and apply updates (id given) and inserts (id None), atomically per call.

        Args:
            writes: (record id or None for an insert, field values) pairs.
            all_or_none: Roll everything back when any record fails.
            json_values: Values come from JSON (None is null) rather than CSV (where "" means
                "leave unchanged" and "#N/A" means null).

        Returns:
            Per write, in order: the record id, or the error.
        """
        with self._lock:
            staged: list[tuple[str, dict[str, Any], bool] | _FieldError] = []
            for record_id, values in writes:
                try:
                    staged.append(self._stage(record_id, values, json_values=json_values))
                except _FieldError as problem:
                    staged.append(problem)
            failed = any(isinstance(s, _FieldError) for s in staged)
            if failed and all_or_none:
                rolled_back = _FieldError(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request "
                    "was using AllOrNone header",
                )
                return [s if isinstance(s, _FieldError) else rolled_back for s in staged]
            stamp = _format_datetime(_now())
            results: list[str | _FieldError] = []
            for item in staged:
                if isinstance(item, _FieldError):
                    results.append(item)
                    continue
                record_id, changes, created = item
                target = self._records.setdefault(record_id, dict.fromkeys(self._fields))
                target.update(changes)
                target["Id"] = record_id
                for name in ("LastModifiedDate", "SystemModstamp") + (
                    ("CreatedDate",) if created else ()
                ):
                    if name in self._fields:
                        target[name] = stamp
                if created and "OwnerId" in self._fields and target.get("OwnerId") is None:
                    target["OwnerId"] = _USER_ID
                results.append(record_id)
            return results

    def _stage(
        self, record_id: str | None, values: Mapping[str, Any], *, json_values: bool
    ) -> tuple[str, dict[str, Any], bool]:
        """Check one write; return (id, converted changes, created) or raise its error."""
        created = record_id is None
        if record_id == "":
            raise _FieldError("MISSING_ARGUMENT", "Id not specified in an update call")
        if record_id is not None:
            found = self._find(record_id)
            if found is None:
                if not _ID_RE.match(record_id):
                    raise _FieldError("MALFORMED_ID", f"malformed id {record_id}")
                if record_id in self._deleted:
                    raise _FieldError("ENTITY_IS_DELETED", "entity is deleted")
                raise _FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            record_id = found
        changes: dict[str, Any] = {}
        readonly: list[str] = []
        for name, raw in values.items():
            definition = self._fields.get(name) or self._fields["Id"]
            if not json_values and raw == "":
                continue
            value = None if (json_values and raw is None) or raw == "#N/A" else raw
            allowed = definition["createable"] if created else definition["updateable"]
            if not allowed:
                readonly.append(definition["name"])
                continue
            changes[definition["name"]] = _coerce(definition, value)
        if readonly:
            raise _FieldError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                readonly,
            )
        for name, value in changes.items():
            self._check_value(self._fields[name], value)
        if created:
            missing = [
                n
                for n, d in self._fields.items()
                if not d["nillable"]
                and d["createable"]
                and not d["defaultedOnCreate"]
                and changes.get(n) is None
            ]
            if missing:
                listed = ", ".join(missing)
                raise _FieldError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{listed}]", missing
                )
            record_id = self._new_id()
        assert record_id is not None
        self._check_faults(record_id)
        return record_id, changes, created

    def _check_value(self, definition: Mapping[str, Any], value: Any) -> None:
        name = definition["name"]
        label = definition["label"]
        if value is None:
            if not definition["nillable"]:
                raise _FieldError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
                )
            return
        if definition["type"] == "picklist" and definition["restrictedPicklist"]:
            allowed = {p["value"] for p in definition["picklistValues"] if p["active"]}
            if value not in allowed:
                raise _FieldError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {value}",
                    [name],
                )
        length = definition["length"]
        if definition["type"] in _TEXT_TYPES and length and len(str(value)) > length:
            raise _FieldError(
                "STRING_TOO_LONG",
                f"{label}: data value too large: {str(value)[:40]} (max length={length})",
                [name],
            )

    def _check_faults(self, record_id: str) -> None:
        locks = self.faults.lock_rows
        if record_id in locks:
            if isinstance(locks, dict):
                locks[record_id] -= 1
                if locks[record_id] <= 0:
                    del locks[record_id]
            raise _FieldError(
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records: {record_id}",
            )
        message = self.faults.validation_errors.get(record_id)
        if message is not None:
            raise _FieldError("FIELD_CUSTOM_VALIDATION_EXCEPTION", message)

    # -- Bulk API 2.0 --------------------------------------------------------------------
    def _jobs_route(
        self,
        method: str,
        version: str,
        kind: str,
        parts: list[str],
        *,
        query: Mapping[str, list[str]],
        body: bytes,
    ) -> _Response:
        if not parts:
            if method == "POST":
                return self._create_job(version, kind, body)
            if method == "GET":
                with self._lock:
                    infos = [dict(j.info) for j in self._jobs.values() if j.kind == kind]
                return _json(200, {"done": True, "records": infos, "nextRecordsUrl": None})
            return _not_found()
        with self._lock:
            job = self._jobs.get(parts[0])
        if job is None or job.kind != kind:
            return _not_found()
        tail = [p.lower() for p in parts[1:]]
        if not tail:
            return self._job_root(method, job, body)
        if kind == "query" and tail == ["results"] and method == "GET":
            return self._query_results(job, query)
        if kind == "ingest" and tail == ["batches"] and method == "PUT":
            return self._upload(job, body)
        if (
            kind == "ingest"
            and method == "GET"
            and tail in (["successfulresults"], ["failedresults"], ["unprocessedrecords"])
        ):
            return self._ingest_results(job, tail[0])
        return _not_found()

    def _job_info(
        self, version: str, payload: Mapping[str, Any], kind: str, obj: str, state: str
    ) -> dict[str, Any]:
        job_id = _make_id("750", next(self._ids))
        stamp = _format_datetime(datetime.now(UTC))
        info: dict[str, Any] = {
            "id": job_id,
            "operation": payload.get("operation"),
            "object": obj,
            "createdById": _USER_ID,
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "lineEnding": payload.get("lineEnding", "LF"),
            "columnDelimiter": payload.get("columnDelimiter", "COMMA"),
        }
        if kind == "ingest":
            if payload.get("externalIdFieldName"):
                info["externalIdFieldName"] = payload["externalIdFieldName"]
            info["contentUrl"] = f"services/data/v{version}/jobs/ingest/{job_id}/batches"
        return info

    def _create_job(self, version: str, kind: str, body: bytes) -> _Response:
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
        except ValueError as problem:
            return _error(400, "JSON_PARSER_ERROR", str(problem))
        if (
            payload.get("columnDelimiter", "COMMA") not in _DELIMITERS
            or payload.get("lineEnding", "LF") not in _LINE_ENDINGS
        ):
            return _error(400, "INVALIDJOB", "Invalid columnDelimiter or lineEnding")
        if kind == "query":
            if payload.get("operation") not in {"query", "queryAll"}:
                return _error(400, "INVALIDJOB", "Invalid operation for a query job")
            try:
                query, rows = self._select(str(payload.get("query", "")))
            except _SoqlError as problem:
                return _error(400, problem.code, problem.message)
            if query.count:
                return _error(400, "INVALIDJOB", "Aggregate queries are not supported")
            info = self._job_info(version, payload, kind, query.object_name, "UploadComplete")
            job = _Job(info, kind, results=rows, fields=query.fields)
            job.polls_left = int(self.faults.bulk_polls_before_complete or 0)
        else:
            operation = payload.get("operation")
            if operation not in {"insert", "update", "upsert", "delete", "hardDelete"}:
                return _error(400, "INVALIDJOB", f"Invalid operation: {operation}")
            if str(payload.get("object", "")).lower() != self.object_name.lower():
                return _error(
                    400,
                    "INVALIDJOB",
                    f"Entity '{payload.get('object')}' is not supported by the Bulk API.",
                )
            if operation == "upsert" and payload.get("externalIdFieldName", "Id") != "Id":
                return _error(400, "INVALIDJOB", "The emulator upserts by Id only")
            info = self._job_info(version, payload, kind, self.object_name, "Open")
            job = _Job(info, kind)
        with self._lock:
            self._jobs[info["id"]] = job
        return _json(200, info)

    def _job_root(self, method: str, job: _Job, body: bytes) -> _Response:
        if method == "GET":
            with self._lock:
                if job.kind == "query" or job.processed:
                    if job.polls_left > 0 and job.info["state"] in {"UploadComplete", "InProgress"}:
                        job.polls_left -= 1
                        job.info["state"] = "InProgress"
                    elif job.info["state"] in {"UploadComplete", "InProgress"}:
                        job.info["state"] = "JobComplete"
                return _json(200, self._job_details(job))
        if method == "DELETE":
            with self._lock:
                self._jobs.pop(job.info["id"], None)
            return _Response(204)
        if method == "PATCH":
            try:
                state = json.loads(body or b"{}").get("state")
            except (ValueError, AttributeError) as problem:
                return _error(400, "JSON_PARSER_ERROR", str(problem))
            with self._lock:
                if state == "Aborted" and job.info["state"] not in {"JobComplete", "Failed"}:
                    job.info["state"] = "Aborted"
                elif (
                    state == "UploadComplete"
                    and job.kind == "ingest"
                    and (job.info["state"] == "Open")
                ):
                    job.info["state"] = "UploadComplete"
                    self._process(job)
                    response = dict(job.info)
                    response["state"] = "UploadComplete"
                    return _json(200, response)
                else:
                    return _error(
                        400,
                        "INVALIDJOBSTATE",
                        f"Job state cannot change from {job.info['state']} to {state}",
                    )
                return _json(200, dict(job.info))
        return _not_found()

    def _job_details(self, job: _Job) -> dict[str, Any]:
        info = dict(job.info)
        info["jobType"] = "V2Query" if job.kind == "query" else "V2Ingest"
        info["retries"] = 0
        info["totalProcessingTime"] = 0
        if job.kind == "query":
            info["numberRecordsProcessed"] = len(job.results)
            info["isPkChunkingSupported"] = True
        else:
            info["numberRecordsProcessed"] = len(job.successful) + len(job.failed)
            info["numberRecordsFailed"] = len(job.failed)
            info["apiActiveProcessingTime"] = 0
            info["apexProcessingTime"] = 0
        return info

    def _query_results(self, job: _Job, query: Mapping[str, list[str]]) -> _Response:
        with self._lock:
            if job.info["state"] != "JobComplete":
                return _error(400, "INVALIDJOBSTATE", "Job is not complete")
            rows = job.results
        locator = query.get("locator", [""])[0]
        try:
            offset = int(base64.b64decode(locator + "==").decode()) if locator else 0
            max_records = int(query.get("maxRecords", ["0"])[0]) or len(rows) or 1
        except ValueError:
            return _error(400, "INVALIDLOCATOR", "Invalid locator or maxRecords")
        chunk = rows[offset : offset + max_records]
        cells = [[_bulk_cell(self._fields[n], row.get(n)) for n in job.fields] for row in chunk]
        text = job.csv_text(job.fields, cells)
        following = offset + max_records
        next_locator = (
            base64.b64encode(str(following).encode()).decode().rstrip("=")
            if following < len(rows)
            else "null"
        )
        return _Response(
            200,
            text.encode(),
            "text/csv",
            {
                "Sforce-Locator": next_locator,
                "Sforce-NumberOfRecords": str(len(chunk)),
            },
        )

    def _upload(self, job: _Job, body: bytes) -> _Response:
        with self._lock:
            if job.info["state"] != "Open":
                return _error(400, "INVALIDJOBSTATE", "Job is not open for uploads")
            job.data.append(body.decode("utf-8-sig"))
        return _Response(201, b"", "text/plain")

    def _process(self, job: _Job) -> None:
        """Run an ingest job's uploaded CSV through the same checks as REST writes."""
        operation = str(job.info["operation"])
        rows: list[list[str]] = []
        header: list[str] = []
        for chunk in job.data:
            reader = csv.reader(io.StringIO(chunk, newline=""), delimiter=job.delimiter)
            chunk_rows = [r for r in reader if r]
            if chunk_rows:
                header = chunk_rows[0]
                rows.extend(chunk_rows[1:])
        job.header = header
        job.polls_left = int(self.faults.bulk_polls_before_complete or 0)
        job.processed = True
        lowered = {h.lower(): h for h in header}
        unknown = [h for h in header if h not in self._fields]
        needs_id = operation in {"update", "delete", "hardDelete"}
        if unknown or (needs_id and "id" not in lowered):
            problem = f"Field name not found : {unknown[0]}" if unknown else "Id field missing"
            job.info["state"] = "Failed"
            job.info["errorMessage"] = f"InvalidBatch : {problem}"
            job.unprocessed = rows
            return
        for row in rows:
            values = dict(zip(header, row, strict=False))
            record_id = values.pop(lowered.get("id", "Id"), "") or None
            outcome = self._ingest_row(operation, record_id, values)
            if isinstance(outcome, _FieldError):
                job.failed.append([record_id or "", outcome.as_bulk(), *row])
            else:
                created = (
                    "true" if record_id is None and operation in {"insert", "upsert"} else ("false")
                )
                job.successful.append([outcome, created, *row])

    def _ingest_row(
        self, operation: str, record_id: str | None, values: Mapping[str, str]
    ) -> str | _FieldError:
        if operation in {"delete", "hardDelete"}:
            found = self._find(record_id or "")
            if found is None:
                return _FieldError("ENTITY_IS_DELETED", "entity is deleted")
            try:
                self._check_faults(found)
            except _FieldError as problem:
                return problem
            self._records.pop(found, None)
            self._deleted.add(found)
            return found
        if operation == "insert" and record_id is not None:
            return _FieldError(
                "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: Id.", ["Id"]
            )
        target = "" if operation == "update" and record_id is None else record_id
        return self._write([(target, values)], all_or_none=True, json_values=False)[0]

    def _ingest_results(self, job: _Job, which: str) -> _Response:
        with self._lock:
            if which == "successfulresults":
                text = job.csv_text(["sf__Id", "sf__Created", *job.header], job.successful)
                if job.header:
                    text = _plain_tail(text, job, 2)
            elif which == "failedresults":
                text = job.csv_text(["sf__Id", "sf__Error", *job.header], job.failed)
                if job.header:
                    text = _plain_tail(text, job, 2)
            else:
                text = job.csv_text(job.header, job.unprocessed, quote_header=False)
        return _Response(200, text.encode(), "text/csv")


def _plain_tail(text: str, job: _Job, quoted: int) -> str:
    """Write the header's original columns unquoted, as Salesforce echoes the upload's header."""
    first, _, rest = text.partition(job.line_ending)
    names = next(csv.reader([first], delimiter=job.delimiter))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=job.delimiter, lineterminator="", quoting=csv.QUOTE_ALL).writerow(
        names[:quoted]
    )
    buffer.write(job.delimiter)
    csv.writer(buffer, delimiter=job.delimiter, lineterminator="").writerow(names[quoted:])
    return buffer.getvalue() + job.line_ending + rest


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = _header(headers, "Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() in {"bearer", "oauth"} and token.strip() else None


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text.strip() + "==").decode("utf-8", "replace")
    except ValueError:
        return ""


def _jwt_well_formed(assertion: str) -> bool:
    """Whether an assertion is an RS256 JWT with iss, sub, aud and an unexpired exp."""
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return False
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return False
    if header.get("alg") != "RS256" or not all(claims.get(k) for k in ("iss", "sub", "aud")):
        return False
    try:
        return float(claims.get("exp", 0)) > time.time()
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------
# HTTP plumbing.
# ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        emulator: SalesforceEmulator,
    ) -> None:
        self.emulator = emulator
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self) -> None:
        body = self._body()
        headers = dict(self.headers.items())
        response = self.server.emulator._serve(self.command, self.path, headers, body)
        self.send_response(response.status)
        if response.body or response.status not in {204, 304}:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the emulator keeps its own request log."""


# ---------------------------------------------------------------------------
# Pointing simple-salesforce (which always builds https:// URLs) at the emulator.
# ---------------------------------------------------------------------------


def loopback_session(url: str) -> requests.Session:
    """A `requests.Session` that reaches an emulator at `url`; for tests and offline rehearsal.

    simple-salesforce always builds `https://` URLs from the instance host and logs in at
    `https://{domain}.salesforce.com`. This session rewrites `https://127.0.0.1:PORT/...` to
    plain `http://`, sends `https://*.salesforce.com/...` (login, token) to the emulator, and
    refuses every other https host, so a rehearsal cannot reach a real org.

    Args:
        url: The emulator's instance URL, e.g. `http://127.0.0.1:8123`.

    Returns:
        A session to pass as `Salesforce(..., session=...)`.
    """
    return http_session(url, timeout=60.0)


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def load_records_csv(path: Path | str) -> list[dict[str, str]]:
    """Read records from a UTF-8 CSV export (BOM allowed); empty cells become "".

    Args:
        path: The CSV file; an `Id` column, when present, gives the record ids.

    Returns:
        One dict per row, keyed by the header.
    """
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _parse_picklist(text: str) -> tuple[str, list[str]]:
    name, _, values = text.partition("=")
    if not name or not values:
        raise argparse.ArgumentTypeError("expected FIELD=value1,value2,...")
    return name, [v.strip() for v in values.split(",") if v.strip()]


def _parse_field(text: str) -> dict[str, Any]:
    name, _, kind = text.partition(":")
    kind = kind or "string"
    if kind not in _TYPE_DEFAULTS:
        raise argparse.ArgumentTypeError(f"unknown type {kind!r}")
    return {"name": name, "type": kind}


def main(argv: Sequence[str] | None = None) -> int:
    """Serve an emulator until SIGINT or SIGTERM.

    Args:
        argv: Command-line arguments (default: `sys.argv[1:]`).

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m revrules.testing.salesforce",
        description="A loopback Salesforce emulator for rehearsing a revrules config offline.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--accounts", type=Path, help="CSV of records to serve (Id column)")
    parser.add_argument("--object", default="Account", help="sObject name (default Account)")
    parser.add_argument("--api-version", default="59.0")
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--session-id", help="a fixed valid access token (default: random)")
    parser.add_argument(
        "--picklist",
        action="append",
        type=_parse_picklist,
        default=[],
        metavar="FIELD=V1,V2",
        help="a restricted picklist (repeatable)",
    )
    parser.add_argument(
        "--field",
        action="append",
        type=_parse_field,
        default=[],
        metavar="NAME[:TYPE]",
        help="an extra field, e.g. Territory__c:string",
    )
    args = parser.parse_args(argv)
    try:
        records = load_records_csv(args.accounts) if args.accounts else []
        fields = list(ACCOUNT_FIELDS) if args.object == "Account" else [ACCOUNT_FIELDS[0]]
        fields += args.field
        emulator = SalesforceEmulator(
            records,
            object_name=args.object,
            fields=fields,
            picklists=dict(args.picklist),
            api_version=args.api_version,
            page_size=args.page_size,
            port=args.port,
            session_id=args.session_id,
        )
        emulator.start()
    except (OSError, ValueError, KeyError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"Salesforce emulator serving {len(emulator.records)} {args.object} record(s)")
    print(f"instance_url={emulator.url}")
    print(f"session_id={emulator.session_id}", flush=True)
    stopping.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
