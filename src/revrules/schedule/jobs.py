"""One scheduled run: `apply --yes` (never `--force`) or `plan`, through the same operations as the CLI."""

from __future__ import annotations

from pathlib import Path

from revrules.config import JobModel
from revrules.engine.interrupt import EvaluationInterrupted
from revrules.errors import (
    ApiBudgetExhaustedError,
    CrmError,
    InvalidInputError,
    LockHeldError,
    RefusedError,
    RetriableCrmError,
    RevrulesError,
)
from revrules.project import Project, load_project
from revrules.run import operations
from revrules.runtime.shutdown import StopRequested
from revrules.schedule.scheduler import FATAL, RETRIABLE, SKIPPED, JobOutcome
from revrules.state.ledger import ERROR, INTERRUPTED, REFUSED, SUCCEEDED


def run_job(config_path: Path, job: JobModel) -> JobOutcome:
    """Run `job` once and say how it ended, as plain data; every expected failure is an outcome.

    The config and rulebook are loaded afresh each time, so edits are picked up by the next slot.
    """
    project: Project | None = None
    try:
        project = load_project(config_path)
        if job.command == "plan":
            plan = operations.make_plan(project, project.connector())
            return JobOutcome(SUCCEEDED, f"planned {plan.changes.height:,} change(s) to "
                                         f"{plan.changed_records:,} record(s)")
        operations.apply(project, operations.WriteOptions(), read_incrementally=job.incremental)
    except (StopRequested, EvaluationInterrupted) as stop:
        # polars appends the expression it was evaluating to the message: the first line says it all.
        return JobOutcome(INTERRUPTED, str(stop).splitlines()[0], _latest(project))
    except LockHeldError as exc:
        return JobOutcome(SKIPPED, f"lock held ({exc}); waiting for the next slot")
    except RefusedError as exc:
        return JobOutcome(REFUSED, str(exc), _latest(project))
    except (RetriableCrmError, ApiBudgetExhaustedError) as exc:
        return JobOutcome(ERROR, str(exc), _latest(project), RETRIABLE)
    except (InvalidInputError, CrmError) as exc:
        # Bad config, rulebook or credentials: every slot fails the same way until someone fixes it.
        return JobOutcome(ERROR, str(exc), _latest(project), FATAL)
    except RevrulesError as exc:
        return JobOutcome(ERROR, str(exc), _latest(project), RETRIABLE)
    return _outcome(project)


def _outcome(project: Project) -> JobOutcome:
    """The outcome of the run the job just made, as the ledger recorded it."""
    run_id = operations.latest_run_id(project)
    ledger = operations.open_ledger(project)
    try:
        run = ledger.run(run_id) if run_id else None
    finally:
        ledger.close()
    return JobOutcome(run.status if run else SUCCEEDED, run.message if run else None, run_id)


def _latest(project: Project | None) -> int | None:
    return operations.latest_run_id(project) if project is not None else None
