"""Writing field changes: sObject Collections in calls of 200, or one Bulk API 2.0 job for a large plan."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from revrules.connectors.base import CrmValue, RecordUpdate, WriteResult
from revrules.connectors.salesforce.bulk import BULK_BYTES_PER_RECORD, BULK_WRITE_CALLS, bulk_write
from revrules.connectors.salesforce.describe import describe
from revrules.connectors.salesforce.errors import DUPLICATES, LOCKED, Failure, collection_error, collection_fields
from revrules.connectors.salesforce.session import SalesforceSession
from revrules.connectors.salesforce.soql import RECORD_ID_RE
from revrules.connectors.salesforce.values import FieldInfo, typed
from revrules.errors import CrmError, RefusedError, WriteOutcomeUnknownError

log = logging.getLogger(__name__)

COLLECTION_SIZE = 200
"""sObject Collections take at most 200 records per call."""

Payload = list[tuple[str, dict[str, CrmValue]]]


def write(session: SalesforceSession, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
    """Write one batch: sObject Collections, or one Bulk API 2.0 job above the threshold.

    Returns:
        One result per (record, field), in the order of `updates`; a failed record's
        fields carry the CRM's `"CODE: message"`.

    Raises:
        ApiBudgetExhaustedError: The org's daily request limit is exhausted and nothing
            of this batch was written.
        CrmError: The batch did not land.
    """
    if not updates:
        return []  # nothing to write needs no login and no describe
    info = describe(session)
    problems: dict[tuple[str, str], str] = {}
    payload: Payload = []
    for update in updates:
        values: dict[str, CrmValue] = {}
        for name, value in update.values.items():
            problem = _write_problem(update.record_id, info.get(name), name)
            if problem is None:
                try:
                    values[name] = typed(info[name], value)
                except ValueError:
                    problem = f"INVALID_VALUE: not a valid {info[name].type} value"
            if problem is not None:
                problems[(update.record_id, name)] = problem
        if values:
            payload.append((update.record_id, values))
    outcome: dict[str, Failure | None] = {}
    if payload:
        if len(payload) >= session.tuning.bulk_write_threshold:
            outcome = _bulk_then_locked(session, payload)
        else:
            outcome = collections_write(session, payload)
    results = []
    for update in updates:
        failure = outcome.get(update.record_id)
        for name in update.values:
            problem = problems.get((update.record_id, name))
            if problem is not None:
                results.append(WriteResult(update.record_id, name, ok=False, error=problem, named=True))
            elif failure is not None:
                results.append(WriteResult(update.record_id, name, ok=False, error=failure.error,
                                           named=name in failure.fields))
            else:
                results.append(WriteResult(update.record_id, name, ok=True))
    return results


def write_calls(session: SalesforceSession, records: int) -> int:
    """The API calls writing `records` records costs without faults."""
    if records <= 0:
        return 0
    if records >= session.tuning.bulk_write_threshold:
        jobs = math.ceil(records * BULK_BYTES_PER_RECORD / session.tuning.bulk_upload_bytes)
        return BULK_WRITE_CALLS * jobs
    return math.ceil(records / COLLECTION_SIZE)


def check_budget(session: SalesforceSession, records_to_write: int, other_calls: int = 0) -> None:
    """Refuse a write the org's remaining daily API requests cannot afford.

    `other_calls` (related records' writes and reads) count as the records' writes do.

    Raises:
        RefusedError: The calls the write needs plus `api_reserve` exceed what is left.
        CrmError: The limits could not be read.
    """
    limits = session.call("read the org's API limits", lambda sf: sf.limits())
    try:
        remaining = int(limits["DailyApiRequests"]["Remaining"])
    except (KeyError, TypeError, ValueError) as error:
        raise CrmError("the org's limits do not report DailyApiRequests") from error
    needed = write_calls(session, records_to_write) + max(other_calls, 0)
    reserve = session.tuning.api_reserve
    if needed + reserve > remaining:
        raise RefusedError(
            f"the write needs about {needed:,} API call(s) and api_reserve keeps {reserve:,}, "
            f"but the org has {remaining:,} daily API request(s) left; nothing was written "
            "(wait for the daily allowance to recover, or lower crm.api_reserve)"
        )
    log.info("API budget: %d call(s) needed, %d left today, %d reserved", needed, remaining, reserve)


def collections_write(session: SalesforceSession, payload: Payload) -> dict[str, Failure | None]:
    """Write in calls of 200; retry only the records that were locked."""
    outcome: dict[str, Failure | None] = {}
    pending = payload
    attempt = 0
    while pending:
        locked: Payload = []
        for start in range(0, len(pending), COLLECTION_SIZE):
            chunk = pending[start : start + COLLECTION_SIZE]
            try:
                answers = _collection_update(session, chunk)
            except WriteOutcomeUnknownError:
                raise  # the caller reads the batch back: nothing here says what landed
            except CrmError as error:
                if not outcome and not locked:
                    raise  # nothing of this batch landed
                rest = [rid for rid, _ in pending[start:]] + [rid for rid, _ in locked]
                outcome.update(dict.fromkeys(rest, Failure(f"not attempted: {error}")))
                return outcome
            for (record_id, values), answer in zip(chunk, answers, strict=True):
                if answer is not None and answer.error.startswith(LOCKED) and attempt < session.tuning.max_retries:
                    locked.append((record_id, values))
                else:
                    outcome[record_id] = answer
        if locked:
            log.info("%d record(s) were locked; retrying them", len(locked))
            session.sleep(session.retry.delay(attempt))
        pending = locked
        attempt += 1
    return outcome


def collection_insert(session: SalesforceSession, action: str, records: list[dict[str, Any]]) -> list[str | Failure]:
    """Create records in one sObject Collections call; per record its new id or its failure."""
    body = {"allOrNone": False, "records": records}
    answer = session.write_call(action, lambda sf: sf.restful("composite/sobjects", method="POST", json=body))
    if not isinstance(answer, list) or len(answer) != len(records):
        raise CrmError(f"{action}: Salesforce answered an sObject Collections insert unexpectedly")
    return [str(item["id"]) if item.get("success") else Failure(collection_error(item)) for item in answer]


def _bulk_then_locked(session: SalesforceSession, payload: Payload) -> dict[str, Failure | None]:
    """Write through Bulk API 2.0; retry locked records, and duplicate alerts, through Collections.

    Bulk API 2.0 takes no duplicate-rule header, so with `allow_save` a record an alerting
    duplicate rule stopped is sent again through sObject Collections, which takes it.
    """
    outcome = bulk_write(session, payload)
    retried = (LOCKED, DUPLICATES) if session.tuning.duplicate_rules == "allow_save" else (LOCKED,)
    locked = [item for item in payload if (failure := outcome.get(item[0])) and failure.error.startswith(retried)]
    if locked and session.tuning.max_retries > 0:
        log.info("%d record(s) were locked or duplicate alerts during the Bulk job; retrying them", len(locked))
        session.sleep(session.retry.delay(0))
        try:
            outcome.update(collections_write(session, locked))
        except WriteOutcomeUnknownError:
            raise
        except CrmError as error:
            outcome.update(dict.fromkeys((rid for rid, _ in locked), Failure(f"not retried: {error}")))
    return outcome


def _collection_update(session: SalesforceSession, chunk: Payload) -> list[Failure | None]:
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": session.object_name}, "id": record_id, **values}
            for record_id, values in chunk
        ],
    }
    headers = session.write_headers()
    answer = session.write_call("update records", lambda sf: sf.restful(
        "composite/sobjects", method="PATCH", json=body, headers=headers))
    if not isinstance(answer, list) or len(answer) != len(chunk):
        raise WriteOutcomeUnknownError("Salesforce answered an sObject Collections update unexpectedly")
    return [None if item.get("success") else Failure(collection_error(item), collection_fields(item))
            for item in answer]


def _write_problem(record_id: str, field: FieldInfo | None, name: str) -> str | None:
    if not RECORD_ID_RE.match(record_id):
        return "MALFORMED_ID: not a Salesforce record id"
    if field is None:
        return f"INVALID_FIELD: no such field {name}"
    if not field.updateable:
        return f"INVALID_FIELD_FOR_INSERT_UPDATE: {name} is not updateable"
    return None
