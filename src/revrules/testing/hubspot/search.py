"""Company search: filter groups, operators, one sort, paging up to the search cap and search lag."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from revrules.testing.hubspot.defaults import SEARCHABLE_TEXT_PROPERTIES
from revrules.testing.hubspot.protocol import (
    MAX_FILTER_GROUPS,
    MAX_FILTERS_PER_GROUP,
    MAX_FILTERS_TOTAL,
    MAX_SEARCH_PAGE,
    JsonObject,
    _ApiError,
    _int_param,
    _Reply,
    _Request,
    _require_object,
)
from revrules.testing.hubspot.state import PortalState, _Company
from revrules.testing.hubspot.values import _between, _compare_key, _id_sort_key, _sort_key, _stored_key

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)


class SearchApi(PortalState):
    """`POST /crm/v3/objects/companies/search` over the search view (writes land there after the lag)."""

    def _search_companies(self, request: _Request, _match: re.Match[str]) -> _Reply:
        body = _require_object(request.body if request.body is not None else {})
        limit = _int_param(body.get("limit"), "limit", default=10)
        if not 1 <= limit <= MAX_SEARCH_PAGE:
            raise _ApiError(
                400,
                f"limit must be between 1 and {MAX_SEARCH_PAGE}, got {limit}",
                "VALIDATION_ERROR",
            )
        offset = _int_param(body.get("after"), "after", default=0)
        if offset < 0:
            raise _ApiError(400, "after must not be negative", "VALIDATION_ERROR")
        if offset >= self.search_cap:
            raise _ApiError(
                400,
                f"The search API returns at most {self.search_cap} results for a query; "
                f"after={offset} is past that limit. Narrow the query to page further.",
                "VALIDATION_ERROR",
            )
        with self._lock:
            groups = self._parse_filter_groups(body.get("filterGroups") or [])
            sort = self._parse_sorts(body.get("sorts") or [])
            names = self._requested_properties([str(n) for n in body.get("properties") or []])
            query = str(body.get("query") or "").strip().lower()
            self._flush_pending()
            matched = [
                c
                for c in self._search_view.values()
                if (not groups or any(all(f(c) for f in group) for group in groups))
                and (not query or _matches_query(c, query))
            ]
            matched.sort(key=lambda c: _id_sort_key(c.id))
            if sort is not None:
                prop, descending = sort
                definition = self._properties[prop]
                present = [c for c in matched if c.properties.get(prop) not in (None, "")]
                absent = [c for c in matched if c.properties.get(prop) in (None, "")]
                present.sort(
                    key=lambda c: _sort_key(definition, c.properties.get(prop)), reverse=descending
                )
                matched = present + absent
            end = min(offset + limit, self.search_cap)
            page = matched[offset:end]
            payload: JsonObject = {
                "total": len(matched),
                "results": [self._serve(c, names or None) for c in page],
            }
            if end < len(matched):
                payload["paging"] = {"next": {"after": str(end), "link": f"?after={end}"}}
        return _Reply(200, payload)

    def _parse_filter_groups(self, raw: Any) -> list[list[Callable[[_Company], bool]]]:
        if not isinstance(raw, list):
            raise _ApiError(400, "filterGroups must be a list", "VALIDATION_ERROR")
        if len(raw) > MAX_FILTER_GROUPS:
            raise _ApiError(
                400,
                f"Too many filter groups: {len(raw)}. The maximum is {MAX_FILTER_GROUPS}.",
                "VALIDATION_ERROR",
            )
        total = 0
        groups: list[list[Callable[[_Company], bool]]] = []
        for group in raw:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list):
                raise _ApiError(400, "each filter group needs filters", "VALIDATION_ERROR")
            if len(filters) > MAX_FILTERS_PER_GROUP:
                raise _ApiError(
                    400,
                    f"Too many filters in a group: {len(filters)}. "
                    f"The maximum is {MAX_FILTERS_PER_GROUP}.",
                    "VALIDATION_ERROR",
                )
            total += len(filters)
            groups.append([self._compile_filter(f) for f in filters])
        if total > MAX_FILTERS_TOTAL:
            raise _ApiError(
                400,
                f"Too many filters: {total}. The maximum is {MAX_FILTERS_TOTAL}.",
                "VALIDATION_ERROR",
            )
        return groups

    def _compile_filter(self, raw: Any) -> Callable[[_Company], bool]:
        if not isinstance(raw, dict):
            raise _ApiError(400, "a filter must be an object", "VALIDATION_ERROR")
        name = str(raw.get("propertyName") or "")
        operator = str(raw.get("operator") or "")
        if operator not in OPERATORS:
            raise _ApiError(
                400, f"Invalid operator {operator!r} for property {name}", "VALIDATION_ERROR"
            )
        definition = self._properties.get(name)
        if definition is None:
            raise _ApiError(
                400, f"Invalid property name {name!r}: it does not exist", "VALIDATION_ERROR"
            )
        if operator == "HAS_PROPERTY":
            return lambda c: c.properties.get(name) not in (None, "")
        if operator == "NOT_HAS_PROPERTY":
            return lambda c: c.properties.get(name) in (None, "")
        if operator in {"IN", "NOT_IN"}:
            values = raw.get("values")
            if not isinstance(values, list):
                raise _ApiError(400, f"{operator} needs values", "VALIDATION_ERROR")
            keys = {_compare_key(definition, str(v)) for v in values}
            if operator == "IN":
                return lambda c: _stored_key(definition, c.properties.get(name)) in keys
            return lambda c: _stored_key(definition, c.properties.get(name)) not in keys
        if "value" not in raw or raw.get("value") is None:
            raise _ApiError(400, f"{operator} needs a value", "VALIDATION_ERROR")
        if operator in {"CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}:
            pattern = str(raw["value"]).lower()
            expected = operator == "CONTAINS_TOKEN"
            return lambda c: _contains_token(c.properties.get(name), pattern) is expected
        low = _compare_key(definition, str(raw["value"]))
        if operator == "BETWEEN":
            if raw.get("highValue") is None:
                raise _ApiError(400, "BETWEEN needs highValue", "VALIDATION_ERROR")
            high = _compare_key(definition, str(raw["highValue"]))
            return lambda c: _between(_stored_key(definition, c.properties.get(name)), low, high)
        return _comparison(operator, name, definition, low)

    def _parse_sorts(self, raw: Any) -> tuple[str, bool] | None:
        if not isinstance(raw, list):
            raise _ApiError(400, "sorts must be a list", "VALIDATION_ERROR")
        if not raw:
            return None
        if len(raw) > 1:
            raise _ApiError(400, "Only one sort is supported per search", "VALIDATION_ERROR")
        item = raw[0]
        if isinstance(item, str):
            text = item.strip()
            if text.startswith("{"):
                try:
                    item = json.loads(text)
                except ValueError as error:
                    raise _ApiError(400, f"Invalid sort {text!r}", "VALIDATION_ERROR") from error
            else:
                item = {
                    "propertyName": text.lstrip("-"),
                    "direction": "DESCENDING" if text.startswith("-") else "ASCENDING",
                }
        if not isinstance(item, dict):
            raise _ApiError(400, f"Invalid sort {item!r}", "VALIDATION_ERROR")
        name = str(item.get("propertyName") or "")
        direction = str(item.get("direction") or "ASCENDING").upper()
        if name not in self._properties:
            raise _ApiError(400, f"Invalid sort property {name!r}", "VALIDATION_ERROR")
        if direction not in {"ASCENDING", "DESCENDING"}:
            raise _ApiError(400, f"Invalid sort direction {direction!r}", "VALIDATION_ERROR")
        return name, direction == "DESCENDING"


def _comparison(
    operator: str, name: str, definition: Mapping[str, Any], target: Any
) -> Callable[[_Company], bool]:
    def test(company: _Company) -> bool:
        key = _stored_key(definition, company.properties.get(name))
        if operator == "EQ":
            return key is not None and key == target
        if operator == "NEQ":
            return key is None or key != target
        if key is None:
            return False
        if operator == "LT":
            return bool(key < target)
        if operator == "LTE":
            return bool(key <= target)
        if operator == "GT":
            return bool(key > target)
        return bool(key >= target)

    return test


def _contains_token(value: str | None, pattern: str) -> bool:
    if value in (None, ""):
        return False
    tokens = re.split(r"[^0-9a-z]+", str(value).lower())
    return any(fnmatch.fnmatchcase(token, pattern) for token in tokens if token)


def _matches_query(company: _Company, query: str) -> bool:
    return any(
        query in str(company.properties.get(name) or "").lower()
        for name in SEARCHABLE_TEXT_PROPERTIES
    )

