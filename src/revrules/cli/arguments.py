"""The `revrules` command line: every command, its options and its handler.

A handler is named, `module.function` in `revrules.cli`, not imported: parsing the
arguments (and `--help`) loads none of the engine, and a command loads only what it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from revrules import __version__

_ONLINE_HELP = ("also read the configured source, the CRM or the config's CSV: values outside an output's "
                "picklist (RR108; Salesforce and HubSpot only, a CSV has no picklists) and findings on the "
                "records read (RR201 never holds, RR202 never decides, RR203 unmapped values)")


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
    """The `revrules` argument parser with every command."""
    common = _common_options(defaults=False)
    parser = argparse.ArgumentParser(prog="revrules", parents=[_common_options(defaults=True)],
                                     description="Segmentation rules as code for RevOps.")
    parser.add_argument("--version", action="version", version=f"revrules {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: str, help_text: str, *, json_flag: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        return p

    p = command("init", "commands.cmd_init", "write a starter revrules.yaml, rulebook, tests and sample data")
    p.add_argument("dir", nargs="?", default=".")
    p = command("check", "quality.cmd_check", "validate the config and rulebooks, and lint the rulebooks")
    _format_option(p)
    p.add_argument("--online", action="store_true",
                   help="also check fields against the CRM, and lint against its picklists and records "
                        "(see `lint --online`)")
    p.add_argument("--create-properties", action="store_true",
                   help="with --online: create missing output fields (HubSpot properties)")
    _test_options(command("test", "quality.cmd_test", "run the rulebook tests", json_flag=True))
    p = command("lint", "quality.cmd_lint", "static analysis of the rulebooks: findings with stable codes")
    _format_option(p)
    p.add_argument("--online", action="store_true", help=_ONLINE_HELP)
    p = command("plan", "commands.cmd_plan", "show the changes a run would write; writes nothing", json_flag=True)
    p.add_argument("-o", "--out", metavar="PLAN", help="save the plan as JSON for `apply PLAN`")
    p.add_argument("--detailed-exitcode", action="store_true",
                   help="exit 0 when there is nothing to change, 4 when there are changes (1-3 keep their meaning)")
    p.add_argument("--format", choices=("text", "markdown"), default="text",
                   help="text (default), or markdown: a summary for a pull-request comment")
    p.add_argument("--show", metavar="ID", help="every change planned for one record, with full values")
    p.add_argument("--rebalance", action="store_true",
                   help="also move the fewest accounts that bring every owner within --tolerance of its share")
    p.add_argument("--tolerance", type=float, default=0.1, metavar="FRACTION",
                   help="allowed deviation from an owner's weighted share with --rebalance (default 0.1 = ±10%%)")
    _write_commands(command)
    _handoff_options(command(
        "handoff", "handoff.cmd_handoff", "per-owner digests of accounts gained and lost, for a run or a plan"))
    _report_command(command)
    _schema_options(command("schema", "schema.cmd_schema", "JSON Schemas of the config, rulebook and tests"))
    _rehearsal_commands(command)
    command("schedule", "commands.cmd_schedule", "run schedule.jobs in the foreground until SIGINT/SIGTERM")
    command("status", "commands.cmd_status", "each job's next run, the last run's outcome, and the lock holder",
            json_flag=True)
    return parser


def _write_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`apply`, `explain`, `history` and `rollback`."""
    p = command("apply", "commands.cmd_apply", "write changes to the CRM (a saved PLAN, or plan and apply now)",
                json_flag=True)
    p.add_argument("plan", nargs="?", metavar="PLAN")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="apply even when a safety guard would refuse")
    p.add_argument("--incremental", action="store_true",
                   help="read only records modified since the last successful run (full when needed)")
    p.add_argument("--handoff", metavar="DIR", help="also write the hand-off digests of the run to DIR")
    p = command("explain", "explaining.cmd_explain", "show how one record's values are decided", json_flag=True)
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("--account", metavar="JSON", help="explain an account given as JSON field values")
    _explain_options(p)
    p = command("history", "commands.cmd_history", "list the runs in the ledger", json_flag=True)
    p.add_argument("--limit", type=int, default=50)
    p = command("rollback", "commands.cmd_rollback",
                "restore the values a run overwrote, except fields changed since", json_flag=True)
    p.add_argument("run", type=int, metavar="RUN")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="restore even when max_changed_records would refuse")
    p.add_argument("--dry-run", action="store_true", help="show what would be restored and write nothing")


def _report_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`report`."""
    p = command("report", "commands.cmd_report", "segment analytics: one self-contained HTML page (or JSON)",
                json_flag=True)
    p.add_argument("-o", "--out", metavar="PATH",
                   help="where to write it (default: report.html; JSON: stdout; CSV: a folder, default report-csv)")
    p.add_argument("--format", choices=("html", "json", "csv"), default="html",
                   help="html (default), json, or csv (every table as a CSV file in the -o folder)")
    p.add_argument("--suggest-icp", action="store_true",
                   help="propose data-driven ICP conditions in rulebook syntax (printed, and in the report)")
    p.add_argument("--compare", metavar="REF",
                   help="also evaluate the rulebook at a git ref (or in a folder) on the same records: "
                        "segment migration and KPI change per segment")


def _rehearsal_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`snapshot` and `rehearse`."""
    p = command("snapshot", "commands.cmd_snapshot",
                "copy from the CRM what a rehearsal needs: metadata, owners, lists and records (no secrets)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="the folder to write")
    p.add_argument("--sample", type=int, metavar="N",
                   help="keep about N records, stratified so every territory and segment is represented")
    p.add_argument("--redact", action="store_true",
                   help="replace text values no rule reads (names, websites) with stable placeholders")
    p = command("rehearse", "commands.cmd_rehearse",
                "plan, apply, re-plan and roll back against an emulator of a snapshot; never writes to the CRM")
    p.add_argument("--snapshot", metavar="DIR", help="the snapshot folder (default: snapshots/latest)")


def _format_option(parser: argparse.ArgumentParser) -> None:
    """`--format text|json|github` (github: workflow annotations)."""
    parser.add_argument("--format", choices=("text", "json", "github"), default="text",
                        help="text (default), json (one document on stdout) or github (workflow annotations)")


def _test_options(parser: argparse.ArgumentParser) -> None:
    """`test`'s quality options: `--format`, `--coverage`, `--mutate`, `--fail-under`."""
    _format_option(parser)
    parser.add_argument("--coverage", action="store_true",
                        help="report which rules, defaults, territory leaves and lists the tests exercise")
    parser.add_argument("--mutate", action="store_true",
                        help="mutation testing: report each change to the rulebook that no test notices")
    parser.add_argument("--fail-under", type=float, metavar="PERCENT",
                        help="with --coverage or --mutate: fail when the score is under PERCENT")


def _explain_options(parser: argparse.ArgumentParser) -> None:
    """`explain`'s `--why-not` and `--format`."""
    parser.add_argument("--why-not", metavar="DECISION=VALUE",
                        help="the fewest input changes that would give DECISION this VALUE; for the territory "
                             "owner output (e.g. owner=USERID, with a record ID), why that person was not chosen")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                        help="text (default), json, or markdown a rep can read")


def _handoff_options(p: argparse.ArgumentParser) -> None:
    """`revrules handoff [PLAN | --run N] [-o DIR]`."""
    p.add_argument("plan", nargs="?", metavar="PLAN", help="a plan saved with `plan -o`")
    p.add_argument("--run", type=int, metavar="N", help="an applied run in the ledger (see `revrules history`)")
    p.add_argument("-o", "--out", default="handoff", metavar="DIR",
                   help="the folder for one Markdown and one CSV file per owner and a summary (default: handoff)")


def _schema_options(parser: argparse.ArgumentParser) -> None:
    """`schema [KIND] [-o DIR]`."""
    parser.add_argument("kind", nargs="?", choices=("config", "rulebook", "tests"),
                        help="one schema only (default: all three)")
    parser.add_argument("-o", "--out", metavar="DIR", help="write <kind>.schema.json files into DIR")
