"""`revrules handoff` and `apply --handoff DIR`: write per-owner digests of accounts gained and lost."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from revrules.errors import ExitCode, InvalidInputError
from revrules.project import Project, load_project
from revrules.run.handoff import Digests, digests, run_changes, run_related, write_digests
from revrules.run.notify import send_digests
from revrules.run.operations import load_saved_plan, open_ledger

log = logging.getLogger(__name__)


def cmd_handoff(args: argparse.Namespace) -> int:
    """Write the digests of a saved plan or an applied run, and list them."""
    project = load_project(args.config)
    if (args.run is None) == (args.plan is None):
        raise InvalidInputError("handoff needs either a saved PLAN or --run N")
    if args.run is not None:
        found = run_digests(project, args.run)
        title = f"run {args.run}"
    else:
        plan = load_saved_plan(Path(args.plan), project)
        found = digests(project, plan.changes.frame(), plan.related)
        title = f"plan of {plan.meta.created_at}"
    files = write_digests(found, Path(args.out), title)
    for owner, gained, lost in found.summary().iter_rows():
        print(f"{owner}: +{gained} -{lost}")
    print(f"wrote {len(files)} file(s) to {args.out} for {len(found.owners)} owner(s)")
    return ExitCode.OK


def run_digests(project: Project, run_id: int) -> Digests:
    """The digests of what run `run_id` wrote."""
    ledger = open_ledger(project)
    try:
        if ledger.run(run_id) is None:
            raise InvalidInputError(f"there is no run {run_id} in the ledger")
        return digests(project, run_changes(ledger, run_id), run_related(ledger, run_id))
    finally:
        ledger.close()


def handoff_after_apply(project: Project, run_id: int, folder: Path | None) -> None:
    """Write the digests of the run just applied to `folder`, and send them when `notify` is configured.

    The run is already written and ledgered: a failure here is logged and never fails the apply.
    """
    found = run_digests(project, run_id)
    if folder is not None:
        try:
            files = write_digests(found, folder, f"run {run_id}")
            log.info("wrote %d hand-off file(s) to %s for %d owner(s)", len(files), folder, len(found.owners))
        except OSError as error:
            log.warning("hand-off digests for run %d were not written: %s", run_id, error.strerror or error)
    if project.config.model.notify is not None:
        send_digests(found, project.config.model.notify, f"run {run_id}")
