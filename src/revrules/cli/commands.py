"""The commands: each parses nothing and decides nothing; it calls the run operations and renders."""

from __future__ import annotations

import argparse
import errno
import io
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import polars as pl

from revrules.cli import render, render_markdown
from revrules.cli.handoff import handoff_after_apply
from revrules.cli.scaffold import write_starter
from revrules.config import load_config
from revrules.engine.explain import explain_record
from revrules.engine.testcases import evaluate_account, run_tests
from revrules.errors import ExitCode, InvalidInputError, RefusedError, RevrulesError
from revrules.project import Project, load_project
from revrules.run import operations
from revrules.run.apply import ApplyReport
from revrules.run.lookup_usage import unmatched_lookup_rows
from revrules.run.plan import Plan
from revrules.run.read import read_all
from revrules.runtime.writeback import DropBehind
from revrules.state.files import replaced
from revrules.state.ledger import Ledger, summary_line
from revrules.state.lock import holder

log = logging.getLogger("revrules")


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _confirm(question: str) -> None:
    """Ask on the terminal; only `yes` goes ahead."""
    if not sys.stdin.isatty():
        raise InvalidInputError("refusing to write without confirmation: stdin is not a terminal (pass --yes)")
    answer = input(f"{question} Only 'yes' will be accepted: ")
    if answer.strip() != "yes":
        raise RefusedError("cancelled; nothing was written")


def _write_options(args: argparse.Namespace, show_plan: Any = None) -> operations.WriteOptions:
    return operations.WriteOptions(confirm=None if args.yes else _confirm,
                                   force=bool(getattr(args, "force", False)), show_plan=show_plan)


def _finish(report: ApplyReport | None, args: argparse.Namespace) -> int:
    if report is None:
        if args.json:
            _print_json({"status": "succeeded", "written": 0, "failed": [], "skipped": []})
        return ExitCode.OK
    if args.json:
        _write_json(report.write_json, "the report")
    else:
        print(render.apply_text(report))
    return ExitCode.FAILED if not report.failed.is_empty() else ExitCode.OK


def cmd_init(args: argparse.Namespace) -> int:
    """`revrules init [DIR]`."""
    written = write_starter(Path(args.dir))
    for path in written:
        print(f"wrote {path}")
    print(f"Next: cd {args.dir} && revrules test && revrules plan")
    return ExitCode.OK


def cmd_check(args: argparse.Namespace) -> int:
    """`revrules check [--online] [--create-properties]`."""
    return check_project(load_project(args.config), args)[0]


def check_project(project: Project, args: argparse.Namespace) -> tuple[int, pl.DataFrame | None]:
    """Print what `check` says of `project`; with `--online`, also the records it read and evaluated (None: unread).

    The records are read once, after the online checks (which may create the properties the
    read asks for); `lint --online` can take them instead of reading the CRM again.
    """
    book = project.book
    rules = sum(len(d.rules) for d in book.decisions)
    print(f"{args.config}: OK")
    print(f"  {len(project.config.model.fields)} fields, {len(book.derives)} derived values, "
          f"{len(book.decisions)} decisions with {rules} rules, "
          f"{len(book.territories.leaves()) if book.territories else 0} territories, "
          f"{len(book.lists)} lists, {len(book.tests)} tests in {len(book.files)} files")
    for label, expr in book.expressions():
        if expr.fallback:
            print(f"  note: {label} uses the row-by-row fallback evaluator (slower)")
    if args.create_properties and not args.online:
        raise InvalidInputError("--create-properties needs --online")
    if args.online:
        from revrules.run.online import check_online  # the lint's solver loads only for an online check

        for line in check_online(project, project.connector(), create_properties=args.create_properties):
            print(f"  online: {line}" if line.startswith("every mapped") else f"  {line}")
    evaluated = None
    if args.online or project.config.model.crm.kind == "csv":
        # Reading a CSV costs nothing; a CRM is read only when asked to go online.
        try:
            if args.online:
                evaluated = operations.evaluate_records(project, project.connector())
            unmatched = unmatched_lookup_rows(project, evaluated)
        except RevrulesError as exc:  # the check itself passed; this note is a bonus
            unmatched = [f"lookup rows not checked: the records could not be read ({exc})"]
        for line in unmatched:
            print(f"  note: {line}")
    return ExitCode.OK, evaluated


def cmd_test(args: argparse.Namespace) -> int:
    """`revrules test`."""
    project = load_project(args.config)
    results = run_tests(project.book)
    failed = sum(not r.passed for r in results)
    if args.json:
        _print_json({
            "passed": len(results) - failed,
            "failed": failed,
            "tests": [{"name": r.name, "where": r.where, "passed": r.passed,
                       "mismatches": [vars(m) for m in r.mismatches], "trace": r.trace} for r in results],
        })
    else:
        print(render.tests_text(results))
    return ExitCode.FAILED if failed else ExitCode.OK


def cmd_plan(args: argparse.Namespace) -> int:
    """`revrules plan [-o PLAN] [--json] [--rebalance] [--detailed-exitcode] [--format markdown] [--show ID]`."""
    project = load_project(args.config)
    plan = operations.make_plan(project, project.connector(), rebalance=args.tolerance if args.rebalance else None)
    if args.out:
        _save_plan(plan, Path(args.out))
        log.info("saved the plan to %s", args.out)
    if args.json:
        _write_json(plan.write_json, "the plan")
    elif args.show:
        print(render.record_text(plan, args.show))
    elif args.format == "markdown":
        print(render_markdown.plan_markdown(plan, project.source))
    else:
        print(render.plan_text(plan, project.source))
    if args.detailed_exitcode and not plan.is_empty:
        return ExitCode.CHANGES
    return ExitCode.OK


def _save_plan(plan: Plan, out: Path) -> None:
    """Save the plan document to `out`, readable by its owner only, as it holds CRM values.

    It is written to a temporary sibling that then replaces `out`: a reader never sees
    half a plan, and a write that fails (a full disk) leaves no part of one behind. A pipe
    or a device (`-o /dev/stdout`) is written as it is.
    """
    if out.exists() and not out.is_file():
        _write_document(plan.write_json, io.FileIO(out, "w"), f"the plan to {out}")
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        replaced(out, lambda temporary: _write_document(plan.write_json, io.FileIO(temporary, "w"),
                                                        f"the plan to {out}"))
    except OSError as error:
        raise RevrulesError(f"cannot save the plan to {out}: {error.strerror or error}") from error


def _write_json(write_json: Callable[[IO[bytes]], None], what: str) -> None:
    """A JSON document (a plan's, a report's) on stdout: as bytes under a real stdout, as text under a captured one."""
    if not isinstance(sys.stdout, io.TextIOWrapper):
        text = io.BytesIO()
        write_json(text)
        sys.stdout.write(text.getvalue().decode())
        return
    sys.stdout.flush()  # after any text already printed
    try:
        descriptor = sys.stdout.fileno()
    except io.UnsupportedOperation:  # held in memory
        write_json(sys.stdout.buffer)
        return
    _write_document(write_json, io.FileIO(descriptor, "w", closefd=False), f"{what} to stdout")


def _write_document(write_json: Callable[[IO[bytes]], None], raw: io.FileIO, where: str) -> None:
    """Write a JSON document into `raw` and close it; a failed write is one line naming what went `where`.

    A reader that went away (EPIPE) is not a failure to report: `main` ends quietly on it.
    """
    try:
        with DropBehind(raw) as sink:
            write_json(sink)
    except OSError as error:
        if error.errno == errno.EPIPE:
            raise
        raise RevrulesError(f"cannot write {where}: {error.strerror or error}") from error


def cmd_apply(args: argparse.Namespace) -> int:
    """`revrules apply [PLAN] [--yes] [--force] [--incremental]`."""
    project = load_project(args.config)

    def show(plan: Plan) -> None:
        if not args.json:
            print(render.plan_text(plan, project.source))

    report = operations.apply(project, _write_options(args, show), saved_plan=Path(args.plan) if args.plan else None,
                              read_incrementally=args.incremental)
    if report is not None and (args.handoff or project.config.model.notify):
        handoff_after_apply(project, report.run_id, Path(args.handoff) if args.handoff else None)
    return _finish(report, args)


def cmd_rollback(args: argparse.Namespace) -> int:
    """`revrules rollback RUN [--yes] [--force] [--dry-run]`: the restore plan is shown before anything is asked."""
    project = load_project(args.config)

    def show(plan: Plan) -> None:
        if args.json and args.dry_run:
            _write_json(plan.write_json, "the plan")
        elif not args.json:
            print(render.plan_text(plan, project.source))

    report = operations.rollback(project, args.run, _write_options(args, show), dry_run=args.dry_run)
    return ExitCode.OK if args.dry_run else _finish(report, args)


def cmd_snapshot(args: argparse.Namespace) -> int:
    """`revrules snapshot -o DIR [--sample N] [--redact]`: copy what a rehearsal needs from the CRM."""
    from revrules.cli import render_rehearsal
    from revrules.rehearsal.snapshot import take_snapshot

    project = load_project(args.config)
    summary = take_snapshot(project, Path(args.out), sample=args.sample, redact=args.redact)
    print(render_rehearsal.snapshot_text(summary))
    return ExitCode.OK


def cmd_rehearse(args: argparse.Namespace) -> int:
    """`revrules rehearse [--snapshot DIR]`: replay a run against an emulator of the snapshot; 1 if anything fails."""
    from revrules.cli import render_rehearsal
    from revrules.rehearsal.rehearse import rehearse

    project = load_project(args.config)
    print(render_rehearsal.first_line(project.config.model.crm.kind), flush=True)
    folder = Path(args.snapshot) if args.snapshot else project.config.resolve("snapshots/latest")
    result = rehearse(project, folder)
    owner = project.owner_output
    print(render_rehearsal.rehearsal_text(result, project.outputs[owner] if owner else None))
    return ExitCode.FAILED if result.would_fail else ExitCode.OK


def cmd_explain(args: argparse.Namespace) -> int:
    """`revrules explain ID` / `--account JSON`."""
    project = load_project(args.config)
    if args.account is not None:
        try:
            account = json.loads(args.account)
        except ValueError as exc:
            raise InvalidInputError(f"--account: not valid JSON ({exc})") from None
        if not isinstance(account, dict):
            raise InvalidInputError("--account: expected a JSON object of field values")
        unknown = set(account) - set(project.book.fields) - {d.name for d in project.book.derives}
        if unknown:
            raise InvalidInputError(f"--account: unknown field(s): {', '.join(sorted(unknown))}")
        trace = explain_record(project.book, evaluate_account(project.book, account, "account"), "account")
    elif args.id:
        trace = operations.explain(project, args.id)
    else:
        raise InvalidInputError("explain: give a record id or --account JSON")
    if args.json:
        _print_json(trace)
    else:
        print(render.explain_text(trace))
    return ExitCode.OK


def cmd_history(args: argparse.Namespace) -> int:
    """`revrules history`."""
    project = load_project(args.config)
    ledger = operations.open_ledger(project)
    try:
        runs = ledger.runs(args.limit)
    finally:
        ledger.close()
    if args.json:
        keys = ("id", "command", "started_at", "finished_at", "status", "written", "failed", "skipped",
                "rulebook_hash", "records_read", "planned", "message")
        _print_json({"runs": [{k: getattr(r, k) for k in keys} for r in runs]})
    else:
        print(render.history_text(runs))
    return ExitCode.OK


def cmd_report(args: argparse.Namespace) -> int:
    """`revrules report [-o PATH] [--format html|json|csv] [--suggest-icp] [--compare REF]`."""
    # Like the rehearsal's, the scheduler's and the online check's, the report's modules load only when
    # their command runs: every other command starts faster.
    from revrules.report.compare import evaluate_at
    from revrules.report.export import write_csv_tables
    from revrules.report.html import render_html
    from revrules.report.measures import Baseline, build_report, finite, write_report

    fmt = "json" if args.json else args.format
    project = load_project(args.config)
    snapshot = read_all(project, project.connector())
    log.info("read %d records", snapshot.raw.height)
    evaluated = project.evaluate(snapshot.typed)
    baseline = None
    if args.compare:
        book, before = evaluate_at(project, snapshot.typed, args.compare)
        baseline = Baseline(args.compare, book, before)
    report = finite(build_report(project, evaluated, source=project.source, suggest_icp=args.suggest_icp,
                                 typed=snapshot.typed, baseline=baseline))
    if fmt == "json":
        text = json.dumps(report, indent=2, default=str) + "\n"
        if args.out:
            write_report(Path(args.out), text)
            log.info("wrote the report to %s", args.out)
        else:
            sys.stdout.write(text)
        return ExitCode.OK
    if fmt == "csv":
        folder = Path(args.out or "report-csv")
        files = write_csv_tables(report, folder)
        print(f"wrote {len(files)} tables to {folder}: {', '.join(f.name for f in files)}")
        return ExitCode.OK
    out = Path(args.out or "report.html")
    write_report(out, render_html(report))
    print(f"wrote {out}")
    icp = report.get("icp")
    if icp and icp.get("reliable"):
        print()
        print(icp["yaml"], end="")
    elif icp:
        print(f"ICP: {icp.get('verdict') or icp.get('error')}")
    return ExitCode.OK


def cmd_schedule(args: argparse.Namespace) -> int:
    """`revrules schedule`: every problem in the config is reported before the first slot."""
    from revrules.schedule.jobs import run_job
    from revrules.schedule.scheduler import Scheduler

    project = load_project(args.config)
    return Scheduler(project.config, lambda job: run_job(args.config, job)).run()


def cmd_status(args: argparse.Namespace) -> int:
    """`revrules status`."""
    from revrules.schedule.status import job_status, scheduler_status

    config = load_config(args.config)
    path = config.state_dir / "ledger.db"
    runs: dict[int, Any] = {}
    if path.exists():
        ledger = Ledger(path)
        try:
            runs = {run.id: run for run in ledger.runs(1000)}
        finally:
            ledger.close()
    scheduler = scheduler_status(config)
    jobs = job_status(config, runs, scheduled=scheduler)
    lock = holder(config.state_dir / "run.lock")
    latest = runs[max(runs)] if runs else None
    if args.json:
        _print_json({"scheduler": scheduler, "lock": lock, "jobs": jobs, "last_run": vars(latest) if latest else None})
        return ExitCode.OK
    print(render.scheduler_line(scheduler))
    print(f"lock: held by pid {lock.get('pid')} since {lock.get('since')}" if lock else "lock: free")
    print(f"last run: {summary_line(latest)}" if latest else "last run: none")
    for job in jobs:
        last = job["last_outcome"] or "never run"
        if job["last_run"]:
            r = job["last_run"]
            last += (f" (run {r['id']}: read {r['records_read']:,}, written {r['written']:,}, "
                     f"failed {r['failed']:,}, skipped {r['skipped']:,})")
        print(f"job {job['id']} [{job['cron']}] {job['command']}{' incremental' if job['incremental'] else ''}: "
              f"next {job['next_run']}; last {last}")
    return ExitCode.OK
