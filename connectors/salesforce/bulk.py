"""Bulk API 2.0 jobs driven one step at a time, so that a re-login mid-job resumes the job instead of redoing it.

Reads use simple-salesforce's public `sf.bulk2.<Object>.query`: a query is safe to run again.

Writes drive `simple_salesforce.bulk2._Bulk2Client` (create, upload, close, poll, results)
rather than the public `sf.bulk2.<Object>.update(records=...)`. Re-checked against
simple-salesforce 1.12.10 (the newest release; its repository's head has the same `bulk2.py`),
the public call is not safe for writes, because it runs every step of every job in one call:

* One call for all jobs: `update()` splits the CSV, then creates, uploads, closes and polls
  each job in turn and returns the job ids only at the end. Any failure after the first job
  closed (an expired session while polling, a 503 on the second job's create) loses the ids of
  the jobs that completed, so their per-record failures (the CRM's `CODE: message`) cannot be
  fetched; the whole batch would have to be settled by reading it back, and a record the org
  refused would be sent again with no reason to show.
* No retry inside a job: the headers (with the session id) are fixed when `sf.bulk2` is built,
  and on any exception `_upload_data` reads the job and aborts it with those same headers. A
  transient 429/503 or an expired session while polling therefore aborts a job that was going
  fine, and our retry boundary could only rerun `update()` from the start: every earlier job
  again, i.e. resent blindly. Driving the steps ourselves retries each step where it failed
  (`Retry-After` honoured, re-login resumes the same job), and only a lost answer to `close`
  is `WriteOutcomeUnknownError`, settled by reading back.
* The size split is an estimate: `_split_csv` counts each row's fields joined by the delimiter,
  without the quotes, doubled quotes and line ending the CSV adds, against a fixed 99 MiB
  (`MAX_INGEST_JOB_FILE_SIZE`, 100 MiB, less 1 MiB: already above 100,000,000 bytes), so an
  upload can exceed the documented 100 MB, and the limit cannot be lowered (`bulk_upload_bytes`,
  the emulator's scaled-down limit in tests). `upload_chunks` counts the exact bytes it sends.

`_Bulk2Client` and the methods used here (`create_job`, `upload_job_data`, `close_job`,
`get_job`, `abort_job`, `get_ingest_results`) are identical in 1.12.6 through 1.12.10, and
pyproject pins `simple-salesforce>=1.12.6,<1.13` so that a release that changes the private
class is not picked up unseen.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import Operation

from revrules.connectors.base import ID, CrmValue
from revrules.connectors.salesforce.describe import describe
from revrules.connectors.salesforce.errors import BulkJobFailedError, Failure, bulk_error, bulk_fields
from revrules.connectors.salesforce.session import SalesforceSession
from revrules.connectors.salesforce.values import bulk_cell, bulk_column, empty_frame
from revrules.errors import CrmError, RetriableCrmError, WriteOutcomeUnknownError

log = logging.getLogger(__name__)

BULK_RESULTS_PAGE = 50_000
"""Rows per Bulk API 2.0 query-results call."""
BULK_QUERY_FIRST_WAIT_SECONDS = 0
"""simple-salesforce's first wait before polling a query job; it then backs off on its own."""
BULK_WRITE_CALLS = 6
"""Calls one Bulk API 2.0 update job costs at least: create, upload, close, poll, results."""
BULK_BYTES_PER_RECORD = 1_000
"""A generous estimate of one record's CSV line, to count the jobs a plan needs before it is built."""
BULK_POLL_FIRST_SECONDS = 0.2
BULK_POLL_MAX_SECONDS = 10.0
BULK_JOB_TIMEOUT_SECONDS = 4 * 3600.0


def bulk_read(session: SalesforceSession, soql: str, names: list[str]) -> pl.DataFrame:
    """The rows of `soql` through simple-salesforce's public Bulk API 2.0 query, shaped like a REST read.

    A query is safe to run again, so a re-login or a retry simply starts the job anew.
    """
    def run(sf: Salesforce) -> list[str]:
        pages = getattr(sf.bulk2, session.object_name).query(soql, max_records=BULK_RESULTS_PAGE,
                                                                wait=BULK_QUERY_FIRST_WAIT_SECONDS)
        return [str(page) for page in pages]

    parts = [csv_frame(session, text, names) for text in session.call("read through a Bulk query job", run)]
    return pl.concat(parts) if parts else empty_frame(names)


def csv_frame(session: SalesforceSession, text: str, names: list[str]) -> pl.DataFrame:
    """Bulk query CSV as a frame of the texts a REST read gives."""
    if not text.strip():
        return empty_frame(names)
    raw = pl.read_csv(io.StringIO(text), infer_schema=False)
    info = describe(session)
    return raw.select(pl.col("Id").alias(ID), *(bulk_column(name, info[name].type) for name in names))


def bulk_write(session: SalesforceSession, payload: list[tuple[str, dict[str, CrmValue]]]) -> dict[str, Failure | None]:
    """Write as Bulk API 2.0 update jobs, each upload under the size limit; record id -> its failure, None when written.

    Salesforce refuses an upload above 100 MB ("upload data that does not exceed 100 MB",
    Bulk API 2.0 Developer Guide, Upload Job Data), so the CSV is cut into as many jobs
    as `bulk_upload_bytes` needs and their results are joined per record.

    Raises:
        BulkJobFailedError: The first job failed with nothing written.
        WriteOutcomeUnknownError: A job was closed (or may have been) but its end was not
            seen: what landed is found by reading the records back.
        CrmError: The first job was never closed, so nothing landed.
    """
    columns = list(dict.fromkeys(name for _, values in payload for name in values))
    header = _csv_line(["Id", *columns])
    outcome: dict[str, Failure | None] = {}
    chunks = upload_chunks(header, [
        (record_id, _csv_line([record_id, *(bulk_cell(values[c]) if c in values else "" for c in columns)]))
        for record_id, values in payload
    ], session.tuning.bulk_upload_bytes)
    for number, (ids, data) in enumerate(chunks):
        try:
            outcome.update(_one_job(session, ids, data))
        except WriteOutcomeUnknownError:
            raise  # settled by reading the whole batch back, the jobs that did land included
        except CrmError as error:
            if number == 0:
                raise  # nothing of this batch landed
            rest = [rid for later, _ in chunks[number:] for rid in later]
            outcome.update(dict.fromkeys(rest, Failure(f"not attempted: {error}")))
            break
    return outcome


def upload_chunks(header: str, lines: list[tuple[str, str]], limit: int) -> list[tuple[list[str], str]]:
    """CSV lines grouped into uploads of at most `limit` UTF-8 bytes, header included.

    Raises:
        CrmError: One record alone is larger than the limit.
    """
    chunks: list[tuple[list[str], str]] = []
    ids: list[str] = []
    parts: list[str] = []
    size = len(header.encode())
    for record_id, line in lines:
        length = len(line.encode())
        if len(header.encode()) + length > limit:
            raise CrmError(f"record {record_id} alone is larger than a Bulk upload ({limit:,} bytes)")
        if ids and size + length > limit:
            chunks.append((ids, header + "".join(parts)))
            ids, parts, size = [], [], len(header.encode())
        ids.append(record_id)
        parts.append(line)
        size += length
    if ids:
        chunks.append((ids, header + "".join(parts)))
    return chunks


def _one_job(session: SalesforceSession, record_ids: list[str], data: str) -> dict[str, Failure | None]:
    job = session.call("create a Bulk update job", lambda sf: session.bulk(sf).create_job(Operation.update))
    job_id = str(job["id"])
    try:
        session.call("upload Bulk data", lambda sf: session.bulk(sf).upload_job_data(job_id, data))
    except CrmError:
        _abort(session, job_id)
        raise  # the job was never closed: nothing landed
    try:
        session.write_call("close the Bulk job", lambda sf: session.bulk(sf).close_job(job_id))
    except WriteOutcomeUnknownError:
        raise
    except CrmError:
        _abort(session, job_id)
        raise
    try:
        state = wait_for_job(session, job_id, is_query=False)
        return _ingest_outcome(session, job_id, state, record_ids)
    except BulkJobFailedError:
        raise
    except CrmError as error:
        # The job was closed and may be running or done: its outcome is unknown, not absent.
        raise WriteOutcomeUnknownError(f"Bulk job {job_id} was closed but its end was not seen: {error}") from error


def _csv_line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def _ingest_outcome(
    session: SalesforceSession, job_id: str, state: Mapping[str, Any], record_ids: list[str]
) -> dict[str, Failure | None]:
    total = len(record_ids)
    processed = int(state.get("numberRecordsProcessed") or 0)
    failed_count = int(state.get("numberRecordsFailed") or 0)
    outcome: dict[str, Failure | None] = {}
    if failed_count:
        failed_text = session.call(
            "read Bulk failures",
            lambda sf: session.bulk(sf).get_ingest_results(job_id, "failedResults"),
        )
        for row in _csv_rows(failed_text):
            record_id = row.get("Id") or row.get("sf__Id") or ""
            cell = row.get("sf__Error") or ""
            outcome[record_id] = Failure(bulk_error(cell), bulk_fields(cell))
    if processed < total:
        unprocessed_text = session.call(
            "read Bulk unprocessed records",
            lambda sf: session.bulk(sf).get_ingest_results(job_id, "unprocessedrecords"),
        )
        reason = str(state.get("errorMessage") or "the Bulk job did not process it")
        for row in _csv_rows(unprocessed_text):
            outcome[row.get("Id") or ""] = Failure(f"NOT_PROCESSED: {reason}")
    succeeded: set[str] | None = None
    if len(outcome) != total - processed + failed_count:
        # The counts do not account for every record: ask which ones succeeded.
        success_text = session.call(
            "read Bulk successes",
            lambda sf: session.bulk(sf).get_ingest_results(job_id, "successfulResults"),
        )
        succeeded = {
            row.get("Id") or row.get("sf__Id") or "" for row in _csv_rows(success_text)
        }
    if str(state.get("state")) == "Failed" and processed - failed_count <= 0:
        reason = state.get("errorMessage") or "no reason given"
        raise BulkJobFailedError(f"Bulk job {job_id} failed: {reason}")
    result: dict[str, Failure | None] = {}
    for record_id in record_ids:
        if record_id in outcome:
            result[record_id] = outcome[record_id]
        elif succeeded is None or record_id in succeeded:
            result[record_id] = None
        else:
            result[record_id] = Failure("NO_RESULT: the Bulk job reported no result for this record")
    return result


def wait_for_job(session: SalesforceSession, job_id: str, *, is_query: bool) -> Mapping[str, Any]:
    """Poll a job until it is done; its final state.

    Raises:
        CrmError: A query job failed, or any job was aborted.
        RetriableCrmError: The job did not finish within `BULK_JOB_TIMEOUT_SECONDS`.
    """
    delay = BULK_POLL_FIRST_SECONDS
    deadline = time.monotonic() + BULK_JOB_TIMEOUT_SECONDS
    while True:
        state = session.call("check the Bulk job",
                             lambda sf: session.bulk(sf).get_job(job_id, is_query))
        status = str(state.get("state"))
        if status == "JobComplete" or (status == "Failed" and not is_query):
            return dict(state)
        if status in ("Failed", "Aborted"):
            reason = state.get("errorMessage") or "no reason given"
            raise CrmError(f"Bulk job {job_id} ended {status}: {reason}")
        if time.monotonic() > deadline:
            raise RetriableCrmError(f"Bulk job {job_id} did not finish in time ({status})")
        session.sleep(delay)
        delay = min(delay * 2, BULK_POLL_MAX_SECONDS)


def _abort(session: SalesforceSession, job_id: str) -> None:
    try:
        session.call("abort the Bulk job", lambda sf: session.bulk(sf).abort_job(job_id, False))
    except CrmError as error:
        log.warning("could not abort Bulk job %s: %s", job_id, error)


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))

