"""Writing HubSpot records: batch updates of 100 as plain JSON, 207 failures per record, whole-batch 400s split.

A batch update answers 200, or 207 with per-record errors; but some refusals
(an invalid option, a portal validation rule on API version 2026-09, see the
changelog "CRM API Write Validation Enforcement Starting with the 2026-09 API
Version") come back as one 400 `VALIDATION_ERROR` for the whole batch, and none
of its records is written. Such a batch is split: records the 400 names fail
with its message and the others are sent again; a 400 that names no record is
bisected (`_isolate`) until each refused record is alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from revrules.connectors.base import RecordUpdate, WriteResult
from revrules.connectors.hubspot.errors import named_inputs, record_failure
from revrules.connectors.hubspot.session import Answer, HubspotSession
from revrules.connectors.hubspot.values import text
from revrules.errors import WriteOutcomeUnknownError

BATCH_SIZE = 100
"""Inputs per batch update (HubSpot's maximum)."""

Record = tuple[str, dict[str, str]]
Failure = tuple[dict[str, str], str]


def write(session: HubspotSession, updates: Sequence[RecordUpdate], trace_ids: Iterator[str]) -> list[WriteResult]:
    """Batch-update records, 100 a call; one result per (record, field).

    Per-record failures (`INVALID_OPTION`, validation rules, records not found)
    fail that record's fields with `"CODE: message"`; everything else lands.

    Args:
        session: The portal.
        updates: The new values; several updates of one record are merged.
        trace_ids: Unique `objectWriteTraceId`s, one per record sent.

    Raises:
        CrmError: A batch did not land (retries exhausted, token refused,
            daily limit spent); earlier batches of this call did.
    """
    merged: dict[str, dict[str, str]] = {}
    for update in updates:
        values = merged.setdefault(str(update.record_id), {})
        for field, value in update.values.items():
            values[field] = text(value)
    records = list(merged.items())
    writer = _BatchWriter(session, trace_ids)
    for start in range(0, len(records), BATCH_SIZE):
        writer.land(records[start : start + BATCH_SIZE])
    return writer.results(records)


def batch_payload(records: Sequence[Record], traces: Sequence[str]) -> dict[str, Any]:
    """The JSON body of one batch update: plain dicts, no SDK model objects."""
    return {
        "inputs": [
            {"id": record, "properties": values, "objectWriteTraceId": trace}
            for (record, values), trace in zip(records, traces, strict=True)
        ]
    }


class _BatchWriter:
    """Sends batches and remembers, per record, whether it landed or why not."""

    def __init__(self, session: HubspotSession, trace_ids: Iterator[str]) -> None:
        self.session = session
        self.trace_ids = trace_ids
        self.path = session.paths.objects(session.object_type) + "/batch/update"
        self.landed: set[str] = set()
        self.failed: dict[str, Failure] = {}
        self.calls = 0

    def land(self, batch: list[Record]) -> None:
        """Send `batch` until every record in it has landed or failed for its own reason."""
        queue = [batch]
        while queue:
            records = queue.pop()
            answer = self._send(records)
            if answer.status != 400:
                continue
            rest = self._split(records, answer.body)
            if rest is None:
                queue += self._isolate(records, answer.body)
            elif rest:
                queue.append(rest)

    def results(self, records: Sequence[Record]) -> list[WriteResult]:
        """One result per (record, field), in the order the records were given."""
        out: list[WriteResult] = []
        for record, values in records:
            failure = self.failed.get(record)
            for field in values:
                if failure is not None:
                    by_field, overall = failure
                    out.append(WriteResult(record, field, False, by_field.get(field, overall), named=field in by_field))
                else:
                    out.append(WriteResult(record, field, True))
        return out

    def _send(self, records: list[Record]) -> Answer:
        """One batch update; a 200 or 207 is recorded per record, a 400 is returned for splitting."""
        traces = [next(self.trace_ids) for _ in records]
        self.calls += 1
        answer = self.session.write("write records", self.path, batch_payload(records, traces), accept_statuses={400})
        if answer.status == 400:
            return answer
        by_trace = dict(zip(traces, (record for record, _ in records), strict=True))
        body = answer.body if isinstance(answer.body, Mapping) else {}
        self.landed.update(str(item.get("id")) for item in body.get("results") or [])
        for error in body.get("errors") or []:
            ids, named_traces = named_inputs(error)
            failure = record_failure(error)
            for record in [*ids, *(by_trace[t] for t in named_traces if t in by_trace)]:
                self.failed[record] = failure
                self.landed.discard(record)
        if any(record not in self.landed and record not in self.failed for record, _ in records):
            # A 200 that does not account for every record says nothing about the others.
            raise WriteOutcomeUnknownError("write records: HubSpot's answer did not report every record")
        return answer

    def _split(self, records: list[Record], body: Mapping[str, Any]) -> list[Record] | None:
        """Fail the records a whole-batch 400 names; the others to send again, or None when it names none."""
        wanted = {record for record, _ in records}
        failures: dict[str, Failure] = {}
        details = [d for d in body.get("errors") or [] if isinstance(d, Mapping) and named_inputs(d)[0]]
        for detail in details:
            for record in named_inputs(detail)[0]:
                if record in wanted:
                    failures.setdefault(record, record_failure({**body, **detail, "errors": [detail]}))
        overall = record_failure(body)
        for record in named_inputs(body)[0]:
            if record in wanted:
                failures.setdefault(record, overall)
        if not failures:
            return None
        self.failed.update(failures)
        return [(record, values) for record, values in records if record not in failures]

    def _isolate(self, refused: list[Record], body: Mapping[str, Any]) -> list[list[Record]]:
        """Bisect a batch refused as a whole without naming a record; returns batches still to send.

        `refused` is known to hold at least one record HubSpot refuses. Its first half
        is sent: if that lands, the refusal is in the second half (not sent again);
        otherwise the second half joins the records still to send and the search
        goes on in the first half. One call per halving, so at most
        ceil(log2(len(refused))) calls find one refused record.
        """
        unsent: list[Record] = []
        while len(refused) > 1:
            half, other = refused[: len(refused) // 2], refused[len(refused) // 2 :]
            answer = self._send(half)
            if answer.status != 400:
                refused = other
                continue
            rest = self._split(half, answer.body)
            if rest is not None:
                # This 400 named its records: the rest of both halves is unknown.
                unsent += [*rest, *other]
                return [unsent]
            body = answer.body
            unsent += other
            refused = half
        by_field, overall = record_failure(body)
        self.failed[refused[0][0]] = (by_field, f"{overall} (HubSpot refused the whole batch without naming "
                                                "records; this one was isolated by bisection)")
        return [unsent] if unsent else []
