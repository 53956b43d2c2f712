"""The pipeline as the commands and the scheduler run it: read and plan, apply, roll back.

Each operation takes a loaded project and plain options, and returns plain data; the
CLI renders it and the scheduler records it. Nothing here reads arguments or prints.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from revrules.connectors.protocols import ApiBudget, Connector, TextLimits
from revrules.engine.explain import explain_record
from revrules.engine.hierarchy import without_context
from revrules.errors import InvalidInputError, RefusedError, RevrulesError
from revrules.project import Project
from revrules.run import cascade, incremental
from revrules.run.apply import ApplyReport, FollowUp, recover, run_apply
from revrules.run.balance import pool_balance
from revrules.run.changes import Changes
from revrules.run.guards import changed_records_refusal, list_guard
from revrules.run.lists import (
    current_lists,
    known_list_names,
    list_calls,
    list_sizes,
    remember_list_names,
    report_renamed_lists,
)
from revrules.run.plan import Plan, PlanMeta, build_plan
from revrules.run.read import Snapshot, read_all, read_modified
from revrules.run.rollback import rollback_changes, rollback_lists
from revrules.runtime import shutdown
from revrules.runtime.shutdown import StopRequested
from revrules.state.ledger import ERROR, INTERRUPTED, REFUSED, RUNNING, SUCCEEDED, Ledger, now, summary_line
from revrules.state.lock import run_lock

log = logging.getLogger(__name__)

Confirm = Callable[[str], None]
"""Asks the user to go ahead with the question given; raises a `RevrulesError` to refuse."""


@dataclass(frozen=True)
class WriteOptions:
    """How an apply or rollback may proceed."""

    confirm: Confirm | None = None
    """None: go ahead without asking (`--yes`, the scheduler)."""
    force: bool = False
    """Apply even when a safety guard would refuse."""
    show_plan: Callable[[Plan], None] | None = None
    """Called with the plan before anything is written (the CLI prints it)."""


def open_ledger(project: Project) -> Ledger:
    """The project's ledger."""
    return Ledger(project.config.state_dir / "ledger.db")


def make_plan(project: Project, connector: Connector, *, rebalance: float | None = None) -> Plan:
    """Read every record, evaluate the rulebook and diff: the changes a run would write."""
    return plan_snapshot(project, connector, read_snapshot(project, connector), rebalance=rebalance)


def evaluate_records(project: Project, connector: Connector) -> pl.DataFrame:
    """Read every record and evaluate the rulebook over them as a plan does (owners the CRM lacks are unavailable)."""
    return project.evaluate(read_all(project, connector).typed,
                            unavailable_owners=project.unavailable_owners(connector))


def read_snapshot(project: Project, connector: Connector, choice: incremental.ReadChoice | None = None) -> Snapshot:
    """Read every record, or only those modified since the choice's watermark."""
    since = choice.since if choice is not None else None
    snapshot = read_all(project, connector) if since is None else read_modified(project, connector, since)
    log.info("read %d records", snapshot.raw.height)
    return snapshot


def plan_snapshot(project: Project, connector: Connector, snapshot: Snapshot, *,
                  rebalance: float | None = None) -> Plan:
    """Evaluate the rulebook over what was read and diff it against the CRM."""
    evaluated = project.evaluate(snapshot.typed, rebalance=rebalance,
                                 unavailable_owners=project.unavailable_owners(connector))
    report_renamed_lists(project)
    lengths = connector.text_lengths(project.write_fields()) if isinstance(connector, TextLimits) else {}
    plan = build_plan(project, snapshot, evaluated, current_lists(project, connector), text_lengths=lengths)
    if project.config.model.owner_change is not None:
        plan = replace(plan, related=cascade.related_changes(project, connector, plan.changes))
    if rebalance is not None:
        plan = replace(plan, balance=pool_balance(project, evaluated, rebalance))
    return plan


def explain(project: Project, record_id: str) -> dict[str, Any]:
    """Read every record, evaluate, and trace how one record's values are decided.

    Owners unknown or inactive in the CRM are left out as the plan leaves them out, so
    explain tells the same story as the plan.
    """
    return explain_among(project, record_id).trace


@dataclass(frozen=True)
class Explained:
    """One record's trace, and the evaluated records it was traced among (owner loads count across them)."""

    trace: dict[str, Any]
    evaluated: pl.DataFrame
    unavailable_owners: frozenset[str]


def explain_among(project: Project, record_id: str) -> Explained:
    """`explain`, keeping the evaluated records and the owners the CRM does not know."""
    connector = project.connector()
    snapshot = read_all(project, connector)
    unavailable = project.unavailable_owners(connector)
    # keep_context: the path to the ultimate parent may pass through parents read only for context.
    evaluated = project.evaluate(snapshot.typed, unavailable_owners=unavailable, keep_context=True)
    try:
        trace = explain_record(project.book, evaluated, record_id)
    except KeyError:
        raise InvalidInputError(f"record {record_id} not found in {project.source}") from None
    evaluated = without_context(evaluated)
    # The plan is what knows the CRM's values, so it is what knows what a policy holds back.
    held = build_plan(project, snapshot, evaluated).held.filter(pl.col("id") == record_id)
    trace["held"] = held.drop("id").to_dicts()
    return Explained(trace, evaluated, unavailable)


def load_saved_plan(path: Path, project: Project) -> Plan:
    """A plan saved by `plan -o`, checked to be for this project's CRM."""
    try:
        plan = Plan.load(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path}: not a readable revrules plan ({exc})") from None
    except pl.exceptions.PolarsError:
        # Polars' message may quote the line, which holds CRM values.
        raise InvalidInputError(f"{path}: not a readable revrules plan (a change is not a JSON object "
                                "of id, field, before, after and rule)") from None
    if plan.meta.crm != project.config.model.crm.kind:
        kind = project.config.model.crm.kind
        raise InvalidInputError(f"{path}: the plan is for a {plan.meta.crm} CRM, the config is for {kind}")
    return plan


def stale_plan_refusal(path: Path, plan: Plan, project: Project) -> str | None:
    """Why a saved plan no longer matches the rulebook or config it would be applied with, or None."""
    changed = [what for what, saved, current in (("rulebook", plan.meta.rulebook_hash, project.book.hash),
                                                 ("config", plan.meta.config_hash, project.config.hash))
               if saved != current]
    if not changed:
        return None
    return (f"{path}: the {' and the '.join(changed)} changed since this plan was made "
            f"({plan.meta.created_at}); make a new plan, or pass --force to apply this one as it is")


def apply(project: Project, options: WriteOptions, *, saved_plan: Path | None = None,
          read_incrementally: bool = False) -> ApplyReport | None:
    """Plan and apply now (or apply a saved plan) as one ledgered run under the run lock.

    Returns None when there was nothing to write.
    """
    if read_incrementally and saved_plan is not None:
        raise InvalidInputError("--incremental reads and applies in one step; it cannot apply a saved PLAN")
    connector = project.connector()
    with _locked_ledger(project) as ledger:
        first = _last_run_id(ledger)
        cascade.recover_related(ledger, connector)
        recover(ledger, connector)
        choice, reached = None, None
        if saved_plan is not None:
            plan = load_saved_plan(saved_plan, project)
            stale = stale_plan_refusal(saved_plan, plan, project)
            if stale is not None and not options.force:
                raise RefusedError(stale)
            if stale is not None:
                log.warning("%s; applying it anyway (--force)", stale)
        else:
            choice = incremental.choose(ledger, project, connector, incremental=read_incrementally)
            if read_incrementally:
                log.info("%s run: %s", choice.mode, choice.reason)
            snapshot = read_snapshot(project, connector, choice)
            reached = snapshot.watermark
            plan = plan_snapshot(project, connector, snapshot)
            # What was read is not needed to write, and holds about as much memory as the plan.
            del snapshot
        plan, follow = cascade.prepare_apply(project, connector, ledger, plan, saved=saved_plan is not None)
        shutdown.check("before the first write")
        if options.show_plan is not None:
            options.show_plan(plan)
        report = _apply_plan(project, connector, ledger, plan, options, command="apply",
                             saved=saved_plan is not None, follow=follow)
        latest = ledger.runs(1)
        if choice is not None and latest and latest[0].id > first and latest[0].status == SUCCEEDED:
            incremental.record(ledger, latest[0].id, project, choice, reached)
    return report


def rollback(project: Project, run_id: int, options: WriteOptions, *, dry_run: bool = False) -> ApplyReport | None:
    """Restore the values run `run_id` overwrote, except fields changed since, as a new ledgered run.

    The restore plan is shown (`options.show_plan`) before anything is asked or written.

    Returns:
        None when there is nothing left to restore or `dry_run` (no run is recorded then).
    """
    connector = project.connector()
    with _locked_ledger(project) as ledger:
        cascade.recover_related(ledger, connector)
        recover(ledger, connector)
        target = ledger.run(run_id)
        if target is None or target.command not in ("apply", "rollback"):
            raise InvalidInputError(f"run {run_id} is not an apply or rollback run in the ledger")
        undo, changed = rollback_changes(ledger, connector, run_id)
        related, related_changed = cascade.rollback_related(ledger, connector, run_id)
        lists = rollback_lists(ledger, run_id)
        if not changed.is_empty() or not related_changed.is_empty():
            log.warning("%d field(s) changed since run %d and are left alone", changed.height + related_changed.height,
                        run_id)
        # The records the target read: a percentage max_changed_records is measured against them.
        meta = PlanMeta(now(), connector.kind, project.config.hash, project.book.hash, target.records_read)
        plan = Plan(meta=meta, changes=Changes.from_frame(undo), list_changes=lists, related=related)
        if options.show_plan is not None:
            options.show_plan(plan)
        if plan.is_empty:
            log.info("run %d left nothing to restore; no rollback run was recorded", run_id)
            return None
        if dry_run:
            log.info("dry run: nothing was written")
            return None
        reason = f"changed since run {run_id}"
        if not related_changed.is_empty():
            # Ledgered with their object (null for the accounts' own fields).
            changed = pl.concat([changed, related_changed.drop("account")], how="diagonal")
        follow = None if related.is_empty() else cascade.restoring(ledger, connector, related)
        report = _apply_plan(project, connector, ledger, plan, options, command="rollback",
                             left_alone=(changed, reason), follow=follow)
        if report is not None and not changed.is_empty():
            left = changed.with_columns(pl.lit(reason).alias("reason"))
            report = ApplyReport(report.run_id, report.status, report.written, report.failed, left,
                                 report.lists_written)
    return report


def latest_run_id(project: Project) -> int | None:
    """The id of the newest run in the ledger, or None."""
    ledger = open_ledger(project)
    try:
        return _last_run_id(ledger) or None
    finally:
        ledger.close()


@contextmanager
def _locked_ledger(project: Project) -> Iterator[Ledger]:
    """The ledger under the run lock; runs a signal stopped are closed, and every run logs its summary."""
    with run_lock(project.config.state_dir):
        ledger = open_ledger(project)
        first = _last_run_id(ledger)
        try:
            yield ledger
        except StopRequested:
            _close_stopped_runs(ledger)
            raise
        finally:
            _log_summaries(ledger, first)
            ledger.close()


def _last_run_id(ledger: Ledger) -> int:
    latest = ledger.runs(1)
    return latest[0].id if latest else 0


def _close_stopped_runs(ledger: Ledger) -> None:
    """Runs of this process a signal stopped before they could close themselves."""
    for run in ledger.runs(20):
        if run.status == RUNNING and run.pid == os.getpid():
            ledger.finish_run(run.id, INTERRUPTED, "stopped by a signal before writing")


def _log_summaries(ledger: Ledger, after: int) -> None:
    """One summary line per run this process started since run `after`."""
    for run in reversed(ledger.runs(20)):
        if run.id > after and run.pid == os.getpid():
            log.info("%s", summary_line(run))


def _related_question(related: pl.DataFrame) -> str:
    """`, and the owner of 3 related record(s) (2 Contact, 1 Opportunity)` for the confirmation, or nothing."""
    if related.is_empty():
        return ""
    counts = related.group_by("object").len().sort("object")
    each = ", ".join(f"{n:,} {name}" for name, n in counts.iter_rows())
    return f", and the owner of {related.height:,} related record(s) ({each})"


def _refuse(ledger: Ledger, run_id: int, plan: Plan, message: str) -> RefusedError:
    ledger.update_run(run_id, planned=plan.changes.height, records_read=plan.meta.records_read)
    ledger.finish_run(run_id, REFUSED, message)
    return RefusedError(message)


def _apply_plan(project: Project, connector: Connector, ledger: Ledger, plan: Plan, options: WriteOptions,
                *, command: str, saved: bool = False,
                left_alone: tuple[pl.DataFrame, str] | None = None,
                follow: FollowUp | None = None) -> ApplyReport | None:
    """Run the guards and apply `plan` as a new run.

    `left_alone` is (changes, reason): changes decided against before the run, recorded
    as skipped in it so that the run's counts include them.
    """
    run_id = ledger.start_run(command, crm=plan.meta.crm, rulebook_hash=project.book.hash,
                              config_hash=project.config.hash)
    # Counted before any guard can refuse, so that a refused run still says what it read.
    ledger.update_run(run_id, records_read=plan.meta.records_read, planned=plan.changes.height)
    if left_alone is not None and not left_alone[0].is_empty():
        ledger.record_skipped(run_id, *left_alone)
    guarded = not options.force
    too_many = changed_records_refusal(project, plan) if guarded else None
    if too_many is not None:
        raise _refuse(ledger, run_id, plan, too_many)
    # A plan made in this run has just read the lists; a saved plan's are read again.
    sizes = plan.list_sizes
    if sizes is None:
        sizes = list_sizes(project, connector) if not plan.list_changes.is_empty() else {}
    list_refusal = list_guard(project, plan, sizes) if guarded else None
    if list_refusal is not None:
        raise _refuse(ledger, run_id, plan, list_refusal)
    # Values held back as too long are failures of this run, even when nothing else changes.
    if plan.is_empty and plan.too_long.is_empty():
        ledger.update_run(run_id, records_read=plan.meta.records_read)
        ledger.finish_run(run_id, SUCCEEDED, "nothing to change")
        return None
    names = known_list_names(project)
    if isinstance(connector, ApiBudget) and not plan.is_empty:
        try:
            connector.check_budget(plan.changed_records,
                                   cascade.related_calls(connector, plan.related, saved=saved)
                                   + list_calls(connector, plan.list_changes, names, sizes))
        except RevrulesError as exc:
            ledger.finish_run(run_id, REFUSED if isinstance(exc, RefusedError) else ERROR, str(exc))
            raise
    if options.confirm is not None:
        try:
            options.confirm(f"{command.capitalize()} {plan.changes.height:,} field change(s) to "
                            f"{plan.changed_records:,} record(s){_related_question(plan.related)}?")
        except RevrulesError as exc:
            ledger.finish_run(run_id, REFUSED, str(exc))
            raise
    report = run_apply(ledger, connector, run_id, plan, saved=saved, list_names=names, follow=follow)
    if command == "apply":
        remember_list_names(project)
    return report
