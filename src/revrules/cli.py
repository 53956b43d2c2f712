"""The `revrules` command: argument parsing, the commands, and the one error boundary."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from revrules import __version__, shutdown, summary, watermark
from revrules.apply import ApplyReport, recover, rollback_changes, rollback_lists, run_apply
from revrules.config import JobModel, load_config
from revrules.connectors.base import Connector, PropertySpec
from revrules.engine.convert import FieldType
from revrules.engine.explain import explain_record
from revrules.engine.testcases import evaluate_account, run_tests
from revrules.errors import InvalidInputError, RefusedError, RevrulesError
from revrules.ledger import ERROR, INTERRUPTED, REFUSED, RUNNING, SUCCEEDED, Ledger, now
from revrules.lists import current_lists, list_guard, list_names, remember_list_names, report_renamed_lists
from revrules.lock import holder, run_lock
from revrules.plan import Plan, PlanMeta, build_plan
from revrules.project import Project, load_project
from revrules.scaffold import write_starter
from revrules.schedule import SKIPPED, JobOutcome, Scheduler, job_status, summary_line
from revrules.shutdown import StopRequested

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_REFUSED = 0, 1, 2, 3
log = logging.getLogger("revrules")


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _ledger(project: Project) -> Ledger:
    return Ledger(project.config.state_dir / "ledger.db")


def _make_plan(project: Project, connector: Connector, choice: watermark.ReadChoice | None = None,
               *, rebalance: float | None = None) -> Plan:
    since = choice.since if choice is not None else None
    snapshot = project.read(connector) if since is None else project.read_modified(connector, since)
    log.info("read %d records", snapshot.raw.height)
    evaluated = project.evaluate(snapshot.typed, rebalance=rebalance,
                                 unavailable_owners=project.unavailable_owners(connector))
    report_renamed_lists(project)
    return build_plan(project, snapshot, evaluated, current_lists(project, connector))


def _source(project: Project) -> str:
    crm = project.config.model.crm
    return f"{crm.kind} ({getattr(crm, 'path', '') or getattr(crm, 'object', '')})"


# -- commands ------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    written = write_starter(Path(args.dir))
    for path in written:
        print(f"wrote {path}")
    print(f"Next: cd {args.dir} && revrules test && revrules plan")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    project = load_project(args.config)
    book = project.book
    rules = sum(len(d.rules) for d in book.decisions)
    print(f"{args.config}: OK")
    print(f"  {len(project.config.model.fields)} fields, {len(book.derives)} derived values, "
          f"{len(book.decisions)} decisions with {rules} rules, "
          f"{len(book.territories.leaves()) if book.territories else 0} territories, "
          f"{len(book.lists)} lists, {len(book.tests)} tests in {len(book.files)} files")
    slow = [label for label, expr in book.expressions() if expr.fallback]
    for label in slow:
        print(f"  note: {label} uses the row-by-row fallback evaluator (slower)")
    if getattr(args, "create_properties", False) and not args.online:
        raise InvalidInputError("--create-properties needs --online")
    if args.online:
        connector = project.connector()
        if getattr(args, "create_properties", False):
            create = getattr(connector, "create_properties", None)
            if create is None:
                raise InvalidInputError(
                    f"--create-properties: the {connector.kind} connector cannot create fields")
            for line in create(_property_specs(project)):
                print(f"  {line}")
        check_online = getattr(connector, "check_online", None)
        if check_online is not None:
            problems = check_online(project.read_fields(), project.write_fields(),
                                    _allowed_values(project))
            problems += _owner_problems(project, connector)
            check_lists = getattr(connector, "check_lists", None)
            if check_lists is not None and project.book.lists:
                problems += check_lists(list_names(project))
            if problems:
                raise InvalidInputError("\n".join(problems))
            print(f"  online: every mapped field exists in {_source(project)}, outputs are writable "
                  "and written values fit their picklists")
            return EXIT_OK
        columns = set(getattr(connector, "columns", lambda: [])())
        missing = [f for f in project.read_fields() if f not in columns and f not in project.write_fields()]
        if missing:
            raise InvalidInputError("\n".join(f"field '{f}' is not in {_source(project)}" for f in missing))
        print(f"  online: every mapped field exists in {_source(project)}")
    return EXIT_OK


def _owner_problems(project: Project, connector: Connector) -> list[str]:
    """Pool owners the CRM does not know or has deactivated, by territory."""
    unavailable = project.unavailable_owners(connector)
    return [
        f"territory {territory}: owner {owner} is not an active {connector.kind} user; routing skips it"
        for territory, owners in project.pool_owners().items()
        for owner in owners
        if owner in unavailable
    ]


def _allowed_values(project: Project) -> dict[str, set[str]]:
    """CRM field -> every value the rulebook can write to it (decisions with fixed `then` values)."""
    allowed: dict[str, set[str]] = {}
    for decision in project.book.decisions:
        field = project.outputs.get(decision.name)
        if field is None or decision.hit not in ("first", "unique", "collect"):
            continue
        values = [rule.then for rule in decision.rules] + [decision.default]
        allowed.setdefault(field, set()).update(
            str(v).lower() if isinstance(v, bool) else str(v)
            for v in values if v is not None and v != "" and not isinstance(v, list))
    territories = project.book.territories
    if territories is not None and territories.output in project.outputs:
        leaves = {path[-1].id for path in territories.leaves()}
        allowed.setdefault(project.outputs[territories.output], set()).update(leaves)
    return allowed


def _property_specs(project: Project) -> list[PropertySpec]:
    """The output fields `check --online --create-properties` creates when missing."""
    allowed = _allowed_values(project)
    specs: dict[str, PropertySpec] = {}
    for name, field in project.outputs.items():
        kind = project.book.kinds.get(name)
        label = name.replace("_", " ").capitalize()
        if kind in (FieldType.NUMBER, FieldType.INTEGER):
            specs[field] = PropertySpec(field, label, "number")
        elif allowed.get(field) and kind in (FieldType.STRING, FieldType.LIST):
            specs[field] = PropertySpec(field, label, "enumeration", tuple(sorted(allowed[field])),
                                        multiple=kind == FieldType.LIST)
        else:
            specs.setdefault(field, PropertySpec(field, label, "string"))
    if project.config.model.provenance:
        specs.setdefault(project.config.model.provenance,
                         PropertySpec(project.config.model.provenance, "Segmentation reason", "string"))
    return list(specs.values())


def cmd_test(args: argparse.Namespace) -> int:
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
        print(summary.tests_text(results))
    return EXIT_FAILED if failed else EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    project = load_project(args.config)
    plan = _make_plan(project, project.connector(), rebalance=args.tolerance if args.rebalance else None)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(plan.to_json(), default=str))
        log.info("saved the plan to %s", out)
    if args.json:
        _print_json(plan.to_json())
    else:
        print(summary.plan_text(plan, _source(project)))
    return EXIT_OK


def _limit(project: Project, records: int) -> int | None:
    limit = project.config.model.safety.max_changed_records
    if limit is None:
        return None
    if isinstance(limit, str):
        return int(records * float(limit.rstrip("%")) / 100)
    return limit


def _confirm(question: str, assume_yes: bool) -> None:
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInputError("refusing to write without confirmation: stdin is not a terminal (pass --yes)")
    answer = input(f"{question} Only 'yes' will be accepted: ")
    if answer.strip() != "yes":
        raise RefusedError("cancelled; nothing was written")


def _load_saved_plan(path: Path, project: Project) -> Plan:
    try:
        plan = Plan.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path}: not a readable revrules plan ({exc})") from None
    if plan.meta.crm != project.config.model.crm.kind:
        kind = project.config.model.crm.kind
        raise InvalidInputError(f"{path}: the plan is for a {plan.meta.crm} CRM, the config is for {kind}")
    return plan


def cmd_apply(args: argparse.Namespace) -> int:
    project = load_project(args.config)
    connector = project.connector()
    incremental = bool(getattr(args, "incremental", False))
    if incremental and args.plan:
        raise InvalidInputError("--incremental reads and applies in one step; it cannot apply a saved PLAN")
    with run_lock(project.config.state_dir):
        ledger = _ledger(project)
        first = _last_run_id(ledger)
        try:
            recover(ledger, connector)
            choice = None
            if args.plan:
                plan = _load_saved_plan(Path(args.plan), project)
            else:
                choice = watermark.choose(ledger, project, connector, incremental=incremental)
                if incremental:
                    log.info("%s run: %s", choice.mode, choice.reason)
                plan = _make_plan(project, connector, choice)
            shutdown.check("before the first write")
            if not args.json and not getattr(args, "quiet", False):
                print(summary.plan_text(plan, _source(project)))
            report = _apply_plan(project, connector, ledger, plan, args, command="apply")
            latest = ledger.runs(1)
            if choice is not None and latest and latest[0].id > first and latest[0].status == SUCCEEDED:
                watermark.record(ledger, latest[0].id, project, connector, choice)
        except StopRequested:
            _close_stopped_runs(ledger)
            raise
        finally:
            _log_summaries(ledger, first)
            ledger.close()
    return _finish(report, args)


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


def _apply_plan(project: Project, connector: Connector, ledger: Ledger, plan: Plan,
                args: argparse.Namespace, *, command: str,
                left_alone: tuple[pl.DataFrame, str] | None = None) -> ApplyReport | None:
    """Run the guards and apply `plan` as a new run.

    `left_alone` is (changes, reason): changes decided against before the run, recorded
    as skipped in it so that the run's counts include them.
    """
    run_id = ledger.start_run(command, crm=plan.meta.crm, rulebook_hash=project.book.hash,
                              config_hash=project.config.hash)
    if left_alone is not None and not left_alone[0].is_empty():
        ledger.record_skipped(run_id, *left_alone)
    limit = _limit(project, plan.meta.records_read)
    if command == "apply" and limit is not None and plan.changed_records > limit and not args.force:
        message = (f"the plan changes {plan.changed_records:,} records, more than safety.max_changed_records "
                   f"allows ({limit:,}); review it and pass --force to apply anyway")
        ledger.update_run(run_id, planned=plan.changes.height, records_read=plan.meta.records_read)
        ledger.finish_run(run_id, REFUSED, message)
        raise RefusedError(message)
    members = current_lists(project, connector) if not plan.list_changes.is_empty() else {}
    list_refusal = list_guard(project, plan, members) if command == "apply" and not args.force else None
    if list_refusal is not None:
        ledger.update_run(run_id, planned=plan.changes.height, records_read=plan.meta.records_read)
        ledger.finish_run(run_id, REFUSED, list_refusal)
        raise RefusedError(list_refusal)
    if plan.is_empty:
        ledger.update_run(run_id, records_read=plan.meta.records_read)
        ledger.finish_run(run_id, "succeeded", "nothing to change")
        return None
    check_budget = getattr(connector, "check_budget", None)
    if check_budget is not None and not plan.changes.is_empty():
        try:
            check_budget(plan.changed_records)
        except RevrulesError as exc:
            ledger.finish_run(run_id, REFUSED if isinstance(exc, RefusedError) else ERROR, str(exc))
            raise
    try:
        _confirm(f"{command.capitalize()} {plan.changes.height:,} field change(s) to "
                 f"{plan.changed_records:,} record(s)?", args.yes)
    except RevrulesError as exc:
        ledger.finish_run(run_id, REFUSED, str(exc))
        raise
    report = run_apply(ledger, connector, run_id, plan, saved=bool(getattr(args, "plan", None)),
                       current_lists=members, list_names=list_names(project))
    if command == "apply":
        remember_list_names(project)
    return report


def _finish(report: ApplyReport | None, args: argparse.Namespace) -> int:
    if report is None:
        if args.json:
            _print_json({"status": "succeeded", "written": 0, "failed": [], "skipped": []})
        return EXIT_OK
    if args.json:
        _print_json(report.to_json())
    elif not getattr(args, "quiet", False):
        print(summary.apply_text(report))
    return EXIT_FAILED if not report.failed.is_empty() else EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
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
        snapshot = project.read(project.connector())
        evaluated = project.evaluate(snapshot.typed)
        try:
            trace = explain_record(project.book, evaluated, args.id)
        except KeyError:
            raise InvalidInputError(f"record {args.id} not found in {_source(project)}") from None
    else:
        raise InvalidInputError("explain: give a record id or --account JSON")
    if args.json:
        _print_json(trace)
    else:
        print(summary.explain_text(trace))
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    project = load_project(args.config)
    ledger = _ledger(project)
    try:
        runs = ledger.runs(args.limit)
    finally:
        ledger.close()
    if args.json:
        keys = ("id", "command", "started_at", "finished_at", "status", "written", "failed", "skipped",
                "rulebook_hash", "records_read", "planned", "message")
        _print_json({"runs": [{k: getattr(r, k) for k in keys} for r in runs]})
    else:
        print(summary.history_text(runs))
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    project = load_project(args.config)
    connector = project.connector()
    with run_lock(project.config.state_dir):
        ledger = _ledger(project)
        first = _last_run_id(ledger)
        try:
            recover(ledger, connector)
            target = ledger.run(args.run)
            if target is None or target.command not in ("apply", "rollback"):
                raise InvalidInputError(f"run {args.run} is not an apply or rollback run in the ledger")
            undo, changed = rollback_changes(ledger, connector, args.run)
            lists = rollback_lists(ledger, args.run)
            if not changed.is_empty():
                log.warning("%d field(s) changed since run %d and are left alone", changed.height, args.run)
            plan = Plan(meta=_rollback_meta(project, connector), changes=undo, list_changes=lists)
            reason = f"changed since run {args.run}"
            report = _apply_plan(project, connector, ledger, plan, args, command="rollback",
                                 left_alone=(changed, reason))
            if report is not None and not changed.is_empty():
                left = changed.with_columns(pl.lit(reason).alias("reason"))
                report = ApplyReport(report.run_id, report.status, report.written, report.failed, left,
                                     report.lists_written)
        except StopRequested:
            _close_stopped_runs(ledger)
            raise
        finally:
            _log_summaries(ledger, first)
            ledger.close()
    return _finish(report, args)


def cmd_report(args: argparse.Namespace) -> int:
    from revrules.report import build_report, finite, write_report
    from revrules.report_html import render_html

    fmt = "json" if args.json else args.format
    project = load_project(args.config)
    snapshot = project.read(project.connector())
    log.info("read %d records", snapshot.raw.height)
    evaluated = project.evaluate(snapshot.typed)
    report = finite(build_report(project, evaluated, source=_source(project), suggest_icp=args.suggest_icp,
                                 typed=snapshot.typed))
    if fmt == "json":
        text = json.dumps(report, indent=2, default=str) + "\n"
        if args.out:
            write_report(Path(args.out), text)
            log.info("wrote the report to %s", args.out)
        else:
            sys.stdout.write(text)
        return EXIT_OK
    out = Path(args.out or "report.html")
    write_report(out, render_html(report))
    print(f"wrote {out}")
    icp = report.get("icp")
    if icp and icp.get("yaml"):
        print()
        print(icp["yaml"], end="")
    return EXIT_OK


def _rollback_meta(project: Project, connector: Connector) -> PlanMeta:
    return PlanMeta(now(), connector.kind, project.config.hash, project.book.hash, 0)


LOCK_HELD = "another run holds the lock"


def _scheduled_job(config_path: Path, job: JobModel) -> JobOutcome:
    """One scheduled run: `apply --yes` (never `--force`) or `plan`, its outcome as plain data."""
    args = argparse.Namespace(config=config_path, plan=None, yes=True, force=False, json=False,
                              incremental=job.incremental, quiet=True, debug=False)
    try:
        if job.command == "plan":
            project = load_project(config_path)
            plan = _make_plan(project, project.connector())
            return JobOutcome(SUCCEEDED, f"planned {plan.changes.height:,} change(s) to "
                                         f"{plan.changed_records:,} record(s)")
        cmd_apply(args)
    except StopRequested as stop:
        return JobOutcome(INTERRUPTED, str(stop), _latest_run(config_path))
    except RefusedError as exc:
        if str(exc).startswith(LOCK_HELD):
            log.warning("job %s skipped: lock held (%s); waiting for its next slot", job.id, exc)
            return JobOutcome(SKIPPED, f"lock held: {exc}")
        log.warning("job %s refused: %s", job.id, exc)
        return JobOutcome(REFUSED, str(exc), _latest_run(config_path))
    except RevrulesError as exc:
        log.error("job %s failed: %s; retrying at its next slot", job.id, exc)
        return JobOutcome(ERROR, str(exc), _latest_run(config_path))
    run_id = _latest_run(config_path)
    ledger = Ledger(load_config(config_path).state_dir / "ledger.db")
    try:
        run = ledger.run(run_id) if run_id else None
    finally:
        ledger.close()
    return JobOutcome(run.status if run else SUCCEEDED, run.message if run else None, run_id)


def _latest_run(config_path: Path) -> int | None:
    ledger = Ledger(load_config(config_path).state_dir / "ledger.db")
    try:
        latest = ledger.runs(1)
    finally:
        ledger.close()
    return latest[0].id if latest else None


def cmd_schedule(args: argparse.Namespace) -> int:
    project = load_project(args.config)  # every problem is reported before the first slot
    scheduler = Scheduler(project.config, lambda job: _scheduled_job(args.config, job))
    return scheduler.run()


def cmd_status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    path = config.state_dir / "ledger.db"
    runs: dict[int, Any] = {}
    if path.exists():
        ledger = Ledger(path)
        try:
            runs = {run.id: run for run in ledger.runs(1000)}
        finally:
            ledger.close()
    jobs = job_status(config, runs)
    lock = holder(config.state_dir / "run.lock")
    latest = runs[max(runs)] if runs else None
    if args.json:
        _print_json({"lock": lock, "jobs": jobs, "last_run": vars(latest) if latest else None})
        return EXIT_OK
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
    return EXIT_OK


# -- parsing and the error boundary ------------------------------------------


def _common_options(*, defaults: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after the command name.

    The copy given to each command has no defaults: a command's defaults would
    otherwise overwrite what was given before the command (`revrules -c X plan`).
    """
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", type=Path, default=default(Path("revrules.yaml")),
                        help="config file (default: revrules.yaml)")
    common.add_argument("--debug", action="store_true", default=default(False),
                        help="show tracebacks and debug logs")
    common.add_argument("--log-format", choices=("text", "json"), default=default("text"),
                        help="log line format on stderr")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(defaults=False)
    parser = argparse.ArgumentParser(prog="revrules", parents=[_common_options(defaults=True)],
                                     description="Segmentation rules as code for RevOps.")
    parser.add_argument("--version", action="version", version=f"revrules {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str,
                *, json_flag: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        return p

    p = command("init", cmd_init, "write a starter revrules.yaml, rulebook, tests and sample data")
    p.add_argument("dir", nargs="?", default=".")
    p = command("check", cmd_check, "validate the config and rulebooks")
    p.add_argument("--online", action="store_true", help="also check fields against the CRM")
    p.add_argument("--create-properties", action="store_true",
                   help="with --online: create missing output fields (HubSpot properties)")
    command("test", cmd_test, "run the rulebook tests", json_flag=True)
    p = command("plan", cmd_plan, "show the changes a run would write; writes nothing", json_flag=True)
    p.add_argument("-o", "--out", metavar="PLAN", help="save the plan as JSON for `apply PLAN`")
    p.add_argument("--rebalance", action="store_true",
                   help="also move the fewest accounts that bring every owner within --tolerance of its share")
    p.add_argument("--tolerance", type=float, default=0.1, metavar="FRACTION",
                   help="allowed deviation from an owner's weighted share with --rebalance (default 0.1 = ±10%%)")
    p = command("apply", cmd_apply, "write changes to the CRM (a saved PLAN, or plan and apply now)", json_flag=True)
    p.add_argument("plan", nargs="?", metavar="PLAN")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="apply even when a safety guard would refuse")
    p.add_argument("--incremental", action="store_true",
                   help="read only records modified since the last successful run (full when needed)")
    p = command("explain", cmd_explain, "show how one record's values are decided", json_flag=True)
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("--account", metavar="JSON", help="explain an account given as JSON field values")
    p = command("history", cmd_history, "list the runs in the ledger", json_flag=True)
    p.add_argument("--limit", type=int, default=50)
    p = command("rollback", cmd_rollback, "restore the values a run overwrote, except fields changed since",
                json_flag=True)
    p.add_argument("run", type=int, metavar="RUN")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(force=False)
    p = command("report", cmd_report, "segment analytics: one self-contained HTML page (or JSON)", json_flag=True)
    p.add_argument("-o", "--out", metavar="FILE", help="where to write it (default: report.html; JSON: stdout)")
    p.add_argument("--format", choices=("html", "json"), default="html", help="html (default) or json")
    p.add_argument("--suggest-icp", action="store_true",
                   help="propose data-driven ICP conditions in rulebook syntax (printed, and in the report)")
    command("schedule", cmd_schedule, "run schedule.jobs in the foreground until SIGINT/SIGTERM")
    command("status", cmd_status, "each job's next run, the last run's outcome, and the lock holder",
            json_flag=True)
    return parser


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": self.formatTime(record), "level": record.levelname.lower(),
                           "logger": record.name, "message": record.getMessage()})


def _setup_logging(args: argparse.Namespace) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if args.log_format == "json" else logging.Formatter("revrules: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if args.debug else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every expected failure becomes a message and an exit code."""
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    # The first SIGTERM/SIGINT lets the batch in flight land (the scheduler installs its own handling).
    previous = shutdown.install() if args.command in ("apply", "rollback") else {}
    try:
        code: int = args.handler(args)
    except StopRequested as stop:
        log.warning("%s; exiting", stop)
        return EXIT_OK
    except RevrulesError as exc:
        if args.debug:
            log.exception("failed")
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        shutdown.restore(previous)
    return code


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
