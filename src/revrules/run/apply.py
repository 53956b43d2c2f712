"""Apply a plan in ledgered batches, and recover the writes of interrupted runs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from revrules.connectors.base import ID, RecordUpdate
from revrules.connectors.protocols import Connector, ListSync
from revrules.errors import CrmError, InvalidInputError, RevrulesError
from revrules.run.landing import landing
from revrules.run.plan import CHANGE_SCHEMA, Plan
from revrules.runtime.progress import Progress
from revrules.runtime.shutdown import StopRequested, deferred, requested
from revrules.state.ledger import (
    ERROR,
    FAILED,
    INTERRUPTED,
    NOT_WRITTEN,
    PARTIAL,
    SUCCEEDED,
    WRITTEN,
    Ledger,
)

log = logging.getLogger(__name__)
_FAILED_SCHEMA = {"id": pl.String, "field": pl.String, "error": pl.String}


@dataclass(frozen=True)
class ApplyReport:
    """What one apply or rollback did."""

    run_id: int
    status: str
    written: int
    failed: pl.DataFrame
    skipped: pl.DataFrame
    lists_written: int = 0

    def to_json(self) -> dict[str, object]:
        """The report as plain data."""
        return {
            "run": self.run_id,
            "status": self.status,
            "written": self.written,
            "failed": self.failed.to_dicts(),
            "skipped": self.skipped.to_dicts(),
            "list_changes_written": self.lists_written,
        }


def same_value(left: pl.Expr, right: pl.Expr) -> pl.Expr:
    """CRM text equality, with blank and null alike."""
    def clean(e: pl.Expr) -> pl.Expr:
        text = e.str.strip_chars()
        return pl.when(text == "").then(None).otherwise(text)

    return clean(left).eq_missing(clean(right))


def current_values(connector: Connector, changes: pl.DataFrame) -> pl.DataFrame:
    """`changes` with a `current` column: what the CRM holds now for each (id, field)."""
    if changes.is_empty():
        return changes.with_columns(pl.lit(None, dtype=pl.String).alias("current"))
    ids = changes["id"].unique().to_list()
    fields = changes["field"].unique().to_list()
    now = connector.read_records(ids, fields).unpivot(index=ID, variable_name="field", value_name="current")
    return changes.join(now.rename({ID: "id"}), on=["id", "field"], how="left", maintain_order="left")


def recover(ledger: Ledger, connector: Connector) -> int:
    """Settle writes left pending by a killed run by reading what the CRM holds now.

    Returns how many pending writes were settled.
    """
    abandoned = ledger.abandoned_runs()
    pending = ledger.pending()
    if not pending.is_empty():
        checked = current_values(connector, pending)
        landed = checked.select("row", same_value(pl.col("current"), pl.col("after")).alias("landed"))
        ledger.record_results([
            (row, WRITTEN if ok else NOT_WRITTEN, None if ok else "the run ended before this write landed")
            for row, ok in landed.iter_rows()
        ])
    for run in abandoned:
        ledger.finish_run(run.id, INTERRUPTED, "the process ended before the run finished")
        log.warning("run %d was interrupted; its ledger entries were checked against the CRM", run.id)
    return pending.height


def drift(connector: Connector, changes: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split saved-plan changes into (still valid, changed in the CRM since the plan)."""
    checked = current_values(connector, changes)
    valid = same_value(pl.col("current"), pl.col("before"))
    return checked.filter(valid).drop("current"), checked.filter(~valid).drop("current")


def apply_changes(
    ledger: Ledger,
    connector: Connector,
    run_id: int,
    changes: pl.DataFrame,
) -> tuple[int, pl.DataFrame]:
    """Write `changes` in batches; each batch is ledgered as pending before it is sent.

    Returns the number of fields written and the failures (id, field, error).
    """
    written = 0
    failures: list[dict[str, str | None]] = []
    batches = _batches(changes, max(connector.batch_size, 1))
    # A stop signal lets the batch in flight land; it is checked before each next batch.
    with Progress("writing", changes["id"].n_unique()) as bar, deferred(), landing(ledger, connector) as land:
        for number, batch in enumerate(batches):
            if requested():
                raise StopRequested(f"stopped by a signal after {number} of {len(batches)} batches",
                                    written=written)
            rows = ledger.record_pending(run_id, batch)
            row_of = dict(zip(zip(batch["id"], batch["field"], strict=True), rows, strict=True))
            grouped = batch.group_by("id", maintain_order=True).agg("field", "after")
            updates = [RecordUpdate(record, dict(zip(fields, afters, strict=True)))
                       for record, fields, afters in grouped.iter_rows()]
            try:
                results = connector.write(updates)
            except CrmError as exc:
                # A connector raises only when the batch did not land; the rest is not attempted.
                ledger.record_results([(row, FAILED, str(exc)) for row in rows])
                if number + 1 < len(batches):
                    ledger.record_skipped(run_id, pl.concat(batches[number + 1:]), f"not attempted: {exc}")
                raise
            outcome = [(row_of[(r.record_id, r.field)], WRITTEN if r.ok else FAILED, r.error) for r in results]
            land(outcome)
            written += sum(r.ok for r in results)
            failures += [{"id": r.record_id, "field": r.field, "error": r.error} for r in results if not r.ok]
            bar.advance(len(updates))
    failed = pl.DataFrame(failures, schema={"id": pl.String, "field": pl.String, "error": pl.String})
    return written, failed


def _batches(changes: pl.DataFrame, size: int) -> list[pl.DataFrame]:
    """Changes cut into batches of at most `size` whole records, in record order."""
    if changes.is_empty():
        return []
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
) -> ApplyReport:
    """Apply a plan as run `run_id` and close the run in the ledger."""
    changes = plan.changes
    skipped = pl.DataFrame(schema={**CHANGE_SCHEMA, "reason": pl.String})
    # Every error closes the run, so that no run is left "running" by a process that lived on.
    try:
        if not plan.list_changes.is_empty() and not isinstance(connector, ListSync):
            # Refuse before the first field write rather than after the last.
            raise InvalidInputError(f"the {connector.kind} connector cannot write marketing lists")
        if saved:
            changes, drifted = drift(connector, changes)
            if not drifted.is_empty():
                reason = "changed in the CRM since the plan was made"
                ledger.record_skipped(run_id, drifted, reason)
                skipped = drifted.with_columns(pl.lit(reason).alias("reason"))
                log.warning("%d field(s) changed in the CRM since the plan; skipped", drifted.height)
        ledger.update_run(run_id, records_read=plan.meta.records_read, planned=plan.changes.height)
        written, failed = apply_changes(ledger, connector, run_id, changes)
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
    status = PARTIAL if not failed.is_empty() else SUCCEEDED
    ledger.finish_run(run_id, status)
    return ApplyReport(run_id, status, written, failed, skipped, lists_written)
