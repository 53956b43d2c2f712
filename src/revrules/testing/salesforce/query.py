"""REST queries: `vXX.X/query` and `queryAll`, with paging through query locators."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from revrules.testing.salesforce.describe import _CURRENCY_TYPE_FIELDS, _LIST_OBJECTS, _USER_FIELDS
from revrules.testing.salesforce.responses import _error, _header, _json, _Response
from revrules.testing.salesforce.soql import _parse_soql, _Query, _run_query, _SoqlError
from revrules.testing.salesforce.state import OrgState


class QueryApi(OrgState):
    """SOQL over the main object, `User` and the marketing-list tables."""

    def _objects(self) -> dict[str, dict[str, dict[str, Any]]]:
        lists = _LIST_OBJECTS if self._serves_lists else {}
        currency = {"CurrencyType": _CURRENCY_TYPE_FIELDS} if self.currency_types else {}
        return {**lists, **currency, self.object_name: self._fields, "User": _USER_FIELDS}

    def _select(self, soql: str) -> tuple[_Query, list[dict[str, Any]]]:
        query = _parse_soql(soql, self._objects())
        table, fields = (self.users, _USER_FIELDS) if query.object_name == "User" else (self._records, self._fields)
        if query.object_name == "CurrencyType":
            table, fields = self.currency_types, _CURRENCY_TYPE_FIELDS
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
        page_size = self.page_size
        options = _header(headers, "Sforce-Query-Options") or ""
        batch = re.search(r"batchSize=(\d+)", options)
        if batch:
            page_size = max(1, min(int(batch.group(1)), self.page_size))
        locator = "01g" + "EM" + secrets.token_hex(5).upper()[:10] + "AAA"
        with self._lock:
            self._cursors[locator] = (version, rows, query.fields, query.object_name)
        return self._page(locator, 0, page_size)

    def _page(self, locator: str, offset: int, page_size: int | None = None) -> _Response:
        with self._lock:
            version, rows, fields, object_name = self._cursors[locator]
        size = page_size or self.page_size
        # Only the page's rows become JSON: a client often reads `totalSize` off the first page alone.
        chunk = [self._record_json(version, row, fields, object_name) for row in rows[offset : offset + size]]
        payload: dict[str, Any] = {"totalSize": len(rows), "done": True, "records": chunk}
        if offset + size < len(rows):
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
