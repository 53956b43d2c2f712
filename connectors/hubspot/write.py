"""Writing HubSpot records: batch updates of 100, with per-record 207 failures traced back to their records."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    SimplePublicObjectBatchInput,
)

from revrules.connectors.base import CrmValue, RecordUpdate, WriteResult
from revrules.connectors.hubspot.errors import record_failure
from revrules.connectors.hubspot.session import HubspotSession
from revrules.connectors.hubspot.values import text
from revrules.errors import WriteOutcomeUnknownError

BATCH_SIZE = 100
"""Inputs per batch update (HubSpot's maximum)."""


def write(session: HubspotSession, updates: Sequence[RecordUpdate], trace_ids: Iterator[str]) -> list[WriteResult]:
    """Batch-update records, 100 a call; one result per (record, field).

    Per-record failures from a 207 answer (`INVALID_OPTION`, other validation
    errors, records not found) fail that record's fields with
    `"CODE: message"`; the rest of the batch lands.

    Args:
        session: The portal.
        updates: The new values; several updates of one record are merged.
        trace_ids: Unique `objectWriteTraceId`s, one per record written.

    Raises:
        CrmError: A batch did not land (retries exhausted, token refused,
            daily limit spent); earlier batches of this call did.
    """
    merged: dict[str, dict[str, CrmValue]] = {}
    for update in updates:
        merged.setdefault(str(update.record_id), {}).update(update.values)
    results: list[WriteResult] = []
    records = list(merged.items())
    for start in range(0, len(records), BATCH_SIZE):
        results += _write_batch(session, records[start : start + BATCH_SIZE], trace_ids)
    return results


def _write_batch(
    session: HubspotSession, records: list[tuple[str, dict[str, CrmValue]]], trace_ids: Iterator[str]
) -> list[WriteResult]:
    traces = {next(trace_ids): record for record, _ in records}
    inputs = [
        SimplePublicObjectBatchInput(
            id=record,
            properties={field: text(value) for field, value in values.items()},
            object_write_trace_id=trace,
        )
        for trace, (record, values) in zip(traces, records, strict=True)
    ]
    request = BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    answer = session.write_model("write records", session.api("batch").update_with_http_info, session.object_type,
                                 request)
    response = answer.body
    if not isinstance(response, BatchResponseSimplePublicObject | BatchResponseSimplePublicObjectWithErrors):
        raise WriteOutcomeUnknownError("write records: HubSpot's answer was not a batch result")
    landed = {str(item.id) for item in response.results or []}
    failures: dict[str, tuple[dict[str, str], str]] = {}
    if isinstance(response, BatchResponseSimplePublicObjectWithErrors):
        for error in response.errors or []:
            context = error.context or {}
            ids = [str(i) for i in context.get("ids") or []]
            ids += [traces[t] for t in context.get("objectWriteTraceId") or [] if t in traces]
            failures.update(dict.fromkeys(ids, record_failure(error)))
    if any(record not in failures and record not in landed for record, _ in records):
        # A 200 that does not account for every record (an unreadable body reads as empty) says nothing.
        raise WriteOutcomeUnknownError("write records: HubSpot's answer did not report every record")
    results: list[WriteResult] = []
    for record, values in records:
        for field in values:
            if record in failures:
                by_field, overall = failures[record]
                results.append(WriteResult(record, field, ok=False, error=by_field.get(field, overall),
                                           named=field in by_field))
            else:
                results.append(WriteResult(record, field, True))
    return results
