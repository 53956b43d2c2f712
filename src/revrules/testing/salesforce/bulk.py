"""Bulk API 2.0: query and ingest jobs, their CSV uploads and results."""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from revrules.testing.salesforce.query import QueryApi
from revrules.testing.salesforce.records import RecordStore
from revrules.testing.salesforce.responses import _error, _json, _not_found, _Response
from revrules.testing.salesforce.soql import _SoqlError
from revrules.testing.salesforce.state import _USER_ID
from revrules.testing.salesforce.values import _FieldError, _format_datetime, _make_id, _parse_datetime

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
        return _bulk_datetime(str(value))
    return str(value)


@functools.lru_cache(maxsize=65_536)
def _bulk_datetime(value: str) -> str:
    """A stored datetime as Bulk API 2.0 writes it (`...Z`); cached: a read formats the same stamps again."""
    return _format_datetime(_parse_datetime(value)).replace("+0000", "Z")


def _bulk_rows(fields: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Result cells of `rows`, one column per definition in `fields`."""
    names = [(str(definition["name"]), definition) for definition in fields]
    plain = all(definition["type"] != "datetime" for _, definition in names)
    if plain:
        # No datetime column: a cell is its text, "true"/"false" or empty.
        return [[_plain_cell(row.get(name)) for name, _ in names] for row in rows]
    return [[_bulk_cell(definition, row.get(name)) for name, definition in names] for row in rows]


def _plain_cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)



class BulkApi(QueryApi, RecordStore):
    """`vXX.X/jobs/query` and `vXX.X/jobs/ingest`: ingest rows go through the same checks as REST writes."""

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
        cells = _bulk_rows([self._fields[n] for n in job.fields], chunk)
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
            limit = self.faults.bulk_upload_max_bytes
            if len(body) > limit:
                # The guide states the limit, not the refusal's shape: this one is modelled.
                return _error(413, "EXCEEDED_MAX_SIZE", f"upload of {len(body)} bytes exceeds {limit} bytes")
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

