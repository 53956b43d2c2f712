"""Apply a plan in ledgered batches, and recover the writes of interrupted runs."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Protocol

import polars as pl

from revrules.connectors.protocols import Connector, ListSync
from revrules.errors import CrmError, InvalidInputError, RevrulesError
from revrules.run.arrays import encoded, write_array
from revrules.run.changes import CHANGE_SCHEMA, Changes
from revrules.run.landing import landing
from revrules.run.plan import Plan
from revrules.run.settle import current_values, holds, send_batch, split
from revrules.runtime.prefetch import prefetched
from revrules.runtime.progress import Progress
from revrules.runtime.shutdown import StopRequested, deferred, requested
from revrules.state.ledger import (
    ERROR,
    FAILED,
    INTERRUPTED,
    NOT_WRITTEN,
    RUNNING,
    WRITTEN,
    Ledger,
    outcome_status,
)

log = logging.getLogger(__name__)
_FAILED_SCHEMA = pl.Schema({"id": pl.String, "field": pl.String, "error": pl.String})
FAILED_SCHEMA = _FAILED_SCHEMA
FollowUp = Callable[[int], tuple[int, pl.DataFrame]]
"""Writes that follow a run's field changes (`owner_change`): given the run id, the number written and failures."""


@dataclass(frozen=True)
class ApplyReport:
    """What one apply or rollback did."""

    run_id: int
    status: str
    written: int
    failed: pl.DataFrame
    skipped: pl.DataFrame
    lists_written: int = 0

    def write_json(self, sink: IO[bytes]) -> None:
        """Write the report as one JSON document in UTF-8, a failed or skipped field a line (never as Python rows)."""
        sink.write(f'{{\n "run": {self.run_id},\n "status": {json.dumps(self.status)},\n'
                   f' "written": {self.written},\n "failed": '.encode())
        write_array(sink, encoded(self.failed), self.failed.height)
        sink.write(b',\n "skipped": ')
        write_array(sink, encoded(self.skipped), self.skipped.height)
        sink.write(f',\n "list_changes_written": {self.lists_written}\n}}\n'.encode())


def recover(ledger: Ledger, connector: Connector) -> int:
    """Settle the writes no answer settled, by reading what the CRM holds now.

    They are the writes of killed runs (still pending) and those a run could not read
    back (unknown). Each settled run is counted again, and killed runs are closed.

    Returns:
        How many writes were settled.

    Raises:
        CrmError: The CRM could not be read; nothing was settled.
    """
    abandoned = ledger.abandoned_runs()
    mine = {run.id for run in ledger.runs(1000) if run.status == RUNNING} - {run.id for run in abandoned}
    pending = ledger.pending().filter(~pl.col("run_id").is_in(list(mine)))
    if not pending.is_empty():
        checked = current_values(connector, pending)
        landed = holds(checked, "after")
        ledger.record_results(checked.select(
            "row", pl.when(landed).then(pl.lit(WRITTEN)).otherwise(pl.lit(NOT_WRITTEN)).alias("result"),
            pl.when(landed).then(None).otherwise(pl.lit("it had not landed when the CRM was read back"))
            .alias("error"),
        ))
    for run in abandoned:
        ledger.finish_run(run.id, INTERRUPTED, "the process ended before the run finished")
        log.warning("run %d was interrupted; its ledger entries were checked against the CRM", run.id)
    for run_id in set(pending["run_id"].to_list()) - {run.id for run in abandoned}:
        ledger.recount(run_id)
        log.info("run %d had writes of unknown outcome; they were settled by reading the CRM back", run_id)
    return pending.height


def drift(connector: Connector, changes: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split saved-plan changes into (still valid, changed in the CRM since the plan)."""
    checked = current_values(connector, changes)
    valid, changed = split(checked, holds(checked, "before"))
    return valid.drop("current"), changed.drop("current")


class Batched(Protocol):
    """Changes that come in batches of whole records, in order."""

    @property
    def changed_records(self) -> int:
        """How many records the changes touch."""

    def slices(self, records: int) -> Iterator[pl.DataFrame]:
        """The changes of `records` records at a time."""


@dataclass(frozen=True)
class RowChanges:
    """Changes given a row each (id, field, before, after, rule, maybe more): related records', a rollback's."""

    frame: pl.DataFrame

    @property
    def changed_records(self) -> int:
        """How many records the changes touch."""
        return self.frame["id"].n_unique()

    def slices(self, records: int) -> Iterator[pl.DataFrame]:
        """The changes cut into batches of at most `records` whole records, in record order."""
        return iter(_batches(self.frame, records))


def apply_changes(
    ledger: Ledger,
    connector: Connector,
    run_id: int,
    changes: Batched,
) -> tuple[int, pl.DataFrame]:
    """Write `changes` in batches; each batch is ledgered as pending before it is sent.

    Every write is settled before the next batch: an answer that was lost is settled
    by reading the records back (see `settle.send_batch`), never by sending blindly.

    Returns:
        The number of fields written and the failures (id, field, error).

    Raises:
        CrmError: The CRM stopped the run; what was settled is in the ledger, the rest
            is recorded as skipped.
    """
    written = 0
    failures: list[pl.DataFrame] = [pl.DataFrame(schema=_FAILED_SCHEMA)]
    size = max(connector.batch_size, 1)
    records = changes.changed_records
    count = -(-records // size)
    # Batches are made one at a time, the next while this one is sent: a large plan is never held as a row per change.
    batches = prefetched(changes.slices(size))
    # A stop signal lets the batch in flight land; it is checked before each next batch.
    with Progress("writing", records) as bar, deferred(), landing(ledger, connector) as land:
        for number, batch in enumerate(batches):
            if requested():
                raise StopRequested(f"stopped by a signal after {number} of {count} batches", written=written)
            rows = ledger.record_pending(run_id, batch)
            outcome, stop = send_batch(connector, batch.with_columns(rows))
            land(rows, outcome)
            written += batch.height - outcome.height
            failures.append(outcome.filter(pl.col("result") == FAILED).select(list(_FAILED_SCHEMA)))
            if stop is not None:
                rest = list(batches)
                if rest:
                    ledger.record_skipped(run_id, pl.concat(rest), f"not attempted: {stop}")
                raise stop
            bar.advance(batch["id"].n_unique())
    return written, pl.concat(failures)


def record_too_long(ledger: Ledger, run_id: int, too_long: pl.DataFrame) -> pl.DataFrame:
    """Ledger the values the plan held back as longer than their field: failed, never sent.

    A value that cannot be written is a per-record failure (SPEC §4, §5), so the run
    counts it, `history` shows it and apply exits 1. The plan keeps only the lengths,
    never the value (it may be customer data), so the ledger rows have no before/after.

    Returns:
        The failures (id, field, error), in the plan's order.
    """
    if too_long.is_empty():
        return pl.DataFrame(schema=_FAILED_SCHEMA)
    failed = too_long.select(
        "id", "field",
        pl.format("too long: {} characters, the field holds {}; held back at plan time, not sent",
                  "length", "limit").alias("error"),
    )
    rows = ledger.record_pending(run_id, failed.select(
        "id", "field", *(pl.lit(None, pl.String).alias(name) for name in ("before", "after", "rule"))))
    ledger.record_outcome(rows, failed.select(rows, pl.lit(FAILED).alias("result"), "error"))
    return failed


def _batches(changes: pl.DataFrame, size: int) -> list[pl.DataFrame]:
    """Changes cut into batches of at most `size` whole records, in record order."""
    if changes.is_empty():
        return []
    starts = changes.select(pl.col("id").ne_missing(pl.col("id").shift()).arg_true())["id"]
    if starts.len() == changes["id"].n_unique():
        # Each record's changes are together (a plan's are): batches are slices, never copies.
        bounds = [*starts.gather_every(size).to_list(), changes.height]
        return [changes.slice(start, end - start) for start, end in itertools.pairwise(bounds)]
    order = changes["id"].unique(maintain_order=True)
    number = pl.DataFrame({"id": order, "__batch": pl.int_range(order.len(), eager=True) // size})
    numbered = changes.join(number, on="id", how="left", maintain_order="left")
    parts = numbered.sort("__batch", maintain_order=True).partition_by("__batch", maintain_order=True)
    return [part.drop("__batch") for part in parts]


def apply_lists(
    ledger: Ledger,
    connector: Connector,
    run_id: int,
    list_changes: pl.DataFrame,
    *,
    names: Mapping[str, str],
) -> tuple[int, pl.DataFrame]:
    """Write each list's adds and removes and ledger every membership change.

    Returns the number of membership changes written and the failures (id, field, error),
    `field` being `list:<list id>`.
    """
    failures: list[dict[str, str | None]] = []
    if list_changes.is_empty():
        return 0, pl.DataFrame(failures, schema=_FAILED_SCHEMA)
    if not isinstance(connector, ListSync):
        raise InvalidInputError(f"the {connector.kind} connector cannot write marketing lists")
    count = 0
    for (key,), group in list_changes.group_by("list", maintain_order=True):
        list_id = str(key)
        adds = group.filter(pl.col("action") == "add")["id"].to_list()
        removes = group.filter(pl.col("action") == "remove")["id"].to_list()
        name = names.get(list_id)
        if name is None:
            raise InvalidInputError(f"list {list_id!r} is not in the rulebook and was never synced; its name is "
                                    "unknown")
        try:
            results = connector.write_list_changes(list_id, name, adds, removes)
        except CrmError as exc:
            rows = group.select("list", "id", "action").rows()
            ledger.record_list_writes(run_id, [(*row, FAILED, str(exc)) for row in rows])
            raise
        ledger.record_list_writes(run_id, [
            (r.list_id, r.record_id, r.action, WRITTEN if r.ok else FAILED, r.error) for r in results
        ])
        count += sum(r.ok for r in results)
        failures += [{"id": r.record_id, "field": f"list:{list_id}", "error": r.error} for r in results if not r.ok]
    return count, pl.DataFrame(failures, schema=_FAILED_SCHEMA)


def run_apply(
    ledger: Ledger,
    connector: Connector,
    run_id: int,
    plan: Plan,
    *,
    saved: bool,
    list_names: Mapping[str, str],
    follow: FollowUp | None = None,
) -> ApplyReport:
    """Apply a plan as run `run_id` and close the run in the ledger; `follow` writes after the field changes."""
    changes = plan.changes
    skipped = pl.DataFrame(schema={**CHANGE_SCHEMA, "reason": pl.String})
    # Every error closes the run, so that no run is left "running" by a process that lived on.
    try:
        if not plan.list_changes.is_empty() and not isinstance(connector, ListSync):
            # Refuse before the first field write rather than after the last.
            raise InvalidInputError(f"the {connector.kind} connector cannot write marketing lists")
        if saved:
            valid, drifted = drift(connector, changes.frame())
            changes = Changes.from_frame(valid)
            if not drifted.is_empty():
                reason = "changed in the CRM since the plan was made"
                ledger.record_skipped(run_id, drifted, reason)
                skipped = drifted.with_columns(pl.lit(reason).alias("reason"))
                log.warning("%d field(s) changed in the CRM since the plan; skipped", drifted.height)
        ledger.update_run(run_id, records_read=plan.meta.records_read, planned=plan.changes.height)
        too_long = record_too_long(ledger, run_id, plan.too_long)
        written, failed = apply_changes(ledger, connector, run_id, changes)
        failed = pl.concat([too_long, failed])
        if follow is not None:
            followed, follow_failed = follow(run_id)
            written, failed = written + followed, pl.concat([failed, follow_failed])
        lists_written, list_failed = apply_lists(ledger, connector, run_id, plan.list_changes, names=list_names)
        if not list_failed.is_empty():
            failed = pl.concat([failed, list_failed])
    except StopRequested as stop:
        ledger.finish_run(run_id, INTERRUPTED, str(stop))
        log.warning("run %d interrupted: %s; the next run completes the rest", run_id, stop)
        empty = pl.DataFrame(schema={"id": pl.String, "field": pl.String, "error": pl.String})
        return ApplyReport(run_id, INTERRUPTED, stop.written, empty, skipped)
    except KeyboardInterrupt:
        ledger.finish_run(run_id, INTERRUPTED, "interrupted by the user")
        raise
    except RevrulesError as exc:
        ledger.finish_run(run_id, ERROR, str(exc))
        raise
    status = outcome_status(written + lists_written, failed.height)
    ledger.finish_run(run_id, status)
    return ApplyReport(run_id, status, written, failed, skipped, lists_written)
