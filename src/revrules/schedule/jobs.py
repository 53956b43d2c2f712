"""One scheduled run: `apply --yes` (never `--force`) or `plan`, through the same operations as the CLI."""

from __future__ import annotations

import logging
from pathlib import Path

from revrules.config import JobModel
from revrules.errors import InvalidInputError, LockHeldError, RefusedError, RetriableCrmError, RevrulesError
from revrules.project import Project, load_project
from revrules.run import operations
from revrules.runtime.shutdown import StopRequested
from revrules.schedule.scheduler import SKIPPED, JobOutcome
from revrules.state.ledger import ERROR, INTERRUPTED, REFUSED, SUCCEEDED

log = logging.getLogger(__name__)


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
    except StopRequested as stop:
        return JobOutcome(INTERRUPTED, str(stop), _latest(project))
    except LockHeldError as exc:
        log.warning("job %s skipped: lock held (%s); waiting for its next slot", job.id, exc)
        return JobOutcome(SKIPPED, f"lock held: {exc}")
    except RefusedError as exc:
        log.warning("job %s refused: %s", job.id, exc)
        return JobOutcome(REFUSED, str(exc), _latest(project))
    except InvalidInputError as exc:
        # Fatal: the same config fails the same way at every slot until someone fixes it.
        log.error("job %s cannot run until this is fixed: %s", job.id, exc)
        return JobOutcome(ERROR, str(exc), _latest(project))
    except RetriableCrmError as exc:
        log.warning("job %s failed on a transient CRM error: %s; retrying at its next slot", job.id, exc)
        return JobOutcome(ERROR, str(exc), _latest(project))
    except RevrulesError as exc:
        log.error("job %s failed: %s; retrying at its next slot", job.id, exc)
        return JobOutcome(ERROR, str(exc), _latest(project))
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
