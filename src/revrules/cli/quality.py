"""The rulebook quality commands: `lint`, `test --coverage/--mutate/--format`, and `check`'s lint pass."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import polars as pl

from revrules.cli import commands, render
from revrules.engine.coverage import Coverage, evaluate_tests, measure
from revrules.engine.lint import CODES, Finding, lint_rulebook, population_findings, settle
from revrules.engine.mutate import MutationReport, run_mutation
from revrules.engine.testcases import CaseResult, run_tests
from revrules.errors import ExitCode, InvalidInputError
from revrules.project import Project, load_project
from revrules.report.coverage import coverage as rule_coverage
from revrules.run import operations
from revrules.run.online import check_online, output_picklists


def output_format(args: argparse.Namespace) -> str:
    """The chosen format; `--json` is `--format json`."""
    return "json" if getattr(args, "json", False) else str(getattr(args, "format", "text"))


def cmd_lint(args: argparse.Namespace) -> int:
    """`revrules lint [--format F]`: findings with codes, positions and witness records."""
    fmt = output_format(args)
    project = _load(args, fmt)
    if project is None:
        return ExitCode.INVALID
    findings = lint_project(project, online=args.online)
    print(findings_output(findings, fmt))
    return ExitCode.FAILED if any(f.silenced is None for f in findings) else ExitCode.OK


def lint_project(project: Project, *, online: bool = False, evaluated: pl.DataFrame | None = None) -> list[Finding]:
    """The rulebook's findings; `online` adds RR108 from the CRM's picklists and RR201-RR203 from its records.

    The records (`evaluated`, or else read here) are evaluated as a plan evaluates them,
    and the report's rule coverage of them is restated as findings.
    """
    if not online:
        return lint_rulebook(project.book)
    connector = project.connector()
    static = lint_rulebook(project.book, output_picklists(project, connector))
    if evaluated is None:
        evaluated = operations.evaluate_records(project, connector)
    seen = {(f.code, f.target) for f in static}
    population = population_findings(project.book, evaluated, rule_coverage(evaluated, project.book), seen)
    return sorted([*static, *settle(population)], key=lambda f: (f.file, f.line, f.col, f.code))


def cmd_check(args: argparse.Namespace) -> int:
    """`revrules check`: validate, then lint; rulebook findings fail the check, population findings are notes."""
    fmt = output_format(args)
    if fmt == "text":
        loaded = load_project(args.config)
        code, evaluated = commands.check_project(loaded, args)
        findings, notes = _split(lint_project(loaded, online=args.online, evaluated=evaluated))
        if findings:
            print(findings_output(findings, fmt))
        for note in notes:
            print(f"  note: {_line(note)}")
        return ExitCode.FAILED if any(f.silenced is None for f in findings) else code
    project = _load(args, fmt)
    if project is None:
        return ExitCode.INVALID
    if args.online:
        # Same checks as the text form; problems raise before any finding is computed.
        check_online(project, project.connector(), create_properties=args.create_properties)
    findings, notes = _split(lint_project(project, online=args.online))
    if fmt == "json":
        print(json.dumps({"ok": True, "findings": [f.to_json() for f in findings],
                          "notes": [f.to_json() for f in notes]}, indent=2))
    else:
        print("\n".join(filter(None, [_github_findings(findings), _github_findings(notes, level="notice")])))
    return ExitCode.FAILED if any(f.silenced is None for f in findings) else ExitCode.OK


def _split(findings: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    """(rulebook findings, open population findings): `check` fails on the first only."""
    return ([f for f in findings if not f.on_population],
            [f for f in findings if f.on_population and f.silenced is None])


def cmd_test(args: argparse.Namespace) -> int:
    """`revrules test [--coverage [--fail-under N]] [--mutate [--fail-under N]] [--format F]`."""
    fmt = output_format(args)
    project = _load(args, fmt)
    if project is None:
        return ExitCode.INVALID
    book = project.book
    evaluated = evaluate_tests(book) if args.coverage or args.mutate else None
    results = run_tests(book, evaluated)
    failed = sum(not r.passed for r in results)
    document: dict[str, Any] = {
        "passed": len(results) - failed, "failed": failed,
        "tests": [{"name": r.name, "where": r.where, "passed": r.passed,
                   "mismatches": [vars(m) for m in r.mismatches], "trace": r.trace} for r in results],
    }
    text = [render.tests_text(results)] if fmt == "text" else [_github_tests(results)] if fmt == "github" else []
    below: list[str] = []
    coverage = measure(book, evaluated) if args.coverage else None
    if coverage is not None:
        document["coverage"] = coverage.to_json()
        text.append(coverage_text(coverage) if fmt == "text" else _github_coverage(coverage) if fmt == "github" else "")
        if args.fail_under is not None and coverage.percent() < args.fail_under:
            below.append(f"coverage {coverage.percent():.1f}% is under {args.fail_under:g}%")
    if args.mutate:
        report = run_mutation(book, evaluated)
        document["mutation"] = report.to_json()
        text.append(mutation_text(report, github=fmt == "github") if fmt != "json" else "")
        if args.fail_under is not None and report.score < args.fail_under:
            below.append(f"mutation score {report.score:.1f}% is under {args.fail_under:g}%")
    if fmt == "json":
        print(json.dumps(document, indent=2, default=str))
    else:
        print("\n".join(t for t in text if t))
    for line in below:
        print(f"::error::{line}" if fmt == "github" else f"error: {line}", file=sys.stderr)
    return ExitCode.FAILED if failed or below else ExitCode.OK


def _load(args: argparse.Namespace, fmt: str) -> Project | None:
    """The project; with `--format github`, rulebook problems become error annotations (None)."""
    try:
        return load_project(args.config)
    except InvalidInputError as exc:
        if fmt != "github" or not exc.problems:
            raise
        for problem in exc.problems:
            print(_annotation("error", problem.file, problem.line, problem.col, "revrules", problem.message))
        return None


def findings_output(findings: list[Finding], fmt: str) -> str:
    """Findings as text, JSON or GitHub annotations."""
    if fmt == "json":
        return json.dumps({"findings": [f.to_json() for f in findings],
                           "open": sum(f.silenced is None for f in findings),
                           "silenced": sum(f.silenced is not None for f in findings)}, indent=2)
    if fmt == "github":
        return _github_findings(findings)
    lines = []
    for f in findings:
        lines.append(_line(f))
        if f.witness is not None:
            lines.append(f"    witness: revrules explain --account '{json.dumps(f.witness)}'")
        elif f.record is not None:
            lines.append(f"    witness: revrules explain {f.record}")
    opened = sum(f.silenced is None for f in findings)
    lines.append(f"{opened} finding{'s' if opened != 1 else ''}, {len(findings) - opened} silenced")
    return "\n".join(lines)


def _line(f: Finding) -> str:
    state = f" (silenced: {f.silenced})" if f.silenced else ""
    return f"{f.file}:{f.line}:{f.col}: {f.code} {f.name}: {f.message}{state}"


def _github_findings(findings: list[Finding], level: str = "warning") -> str:
    lines = []
    for f in findings:
        if f.silenced is None:
            witness = (f" witness: {json.dumps(f.witness)}" if f.witness is not None
                       else f" witness: record {f.record}" if f.record is not None else "")
            lines.append(_annotation(level, f.file, f.line, f.col, f"{f.code} {f.name}", f.message + witness))
    return "\n".join(lines)


def _github_tests(results: list[CaseResult]) -> str:
    lines = []
    for r in results:
        if not r.passed:
            file, line, col = r.where.rsplit(":", 2)
            detail = "; ".join(f"{m.key}: expected {m.expected!r}, got {m.actual!r}" for m in r.mismatches)
            lines.append(_annotation("error", file, int(line), int(col), "revrules test", f"{r.name}: {detail}"))
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


def _github_coverage(coverage: Coverage) -> str:
    lines = []
    for item in coverage.items:
        if item.missed:
            file, line, col = item.where.rsplit(":", 2) if item.where else ("", "1", "1")
            lines.append(_annotation("notice", file, int(line), int(col), "revrules coverage",
                                     f"{item.kind} {item.id}: no test made it {', '.join(item.missed)}"))
    lines.append(f"coverage {coverage.percent():.1f}%")
    return "\n".join(lines)


def mutation_text(report: MutationReport, *, github: bool = False) -> str:
    """Each surviving mutant as "the tests would not notice if …", then the score."""
    lines = ["", "mutation:"] if not github else []
    for mutant in report.survivors:
        sentence = f"the tests would not notice if {mutant.description}"
        if github:
            file, line, col = mutant.where.rsplit(":", 2)
            lines.append(_annotation("notice", file, int(line), int(col), "revrules mutation", sentence))
        else:
            lines.append(f"  {mutant.where}: {sentence}")
    killed = report.total - len(report.survivors)
    lines.append(f"mutation score {report.score:.1f}% ({killed} of {report.total} mutants killed)")
    return "\n".join(lines)


def coverage_text(coverage: Coverage) -> str:
    """Per-group percentages, every goal no test reached, operands not seen both ways, and the total."""
    lines = ["", "coverage:"]
    for group in coverage.groups():
        lines.append(f"  {group:<24} {coverage.percent(group):5.1f}%")
        for item in coverage.items:
            if item.group != group:
                continue
            if item.missed:
                lines.append(f"      {item.kind} {item.id}: no test made it {', '.join(item.missed)}  ({item.where})")
            for operand in item.operands:
                if not (operand.true and operand.false):
                    never = "false" if operand.true else "true" if operand.false else "true or false"
                    lines.append(f"      {item.kind} {item.id}: operand `{operand.source}` was never {never}")
    lines.append(f"total coverage {coverage.percent():.1f}% over {coverage.tests} tests")
    return "\n".join(lines)


def _annotation(level: str, file: str, line: int, col: int, title: str, message: str) -> str:  # noqa: PLR0917
    # Workflow commands end at a newline; `%`, CR and LF in the message must be escaped.
    escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{level} file={file},line={line},col={col},title={title}::{escaped}"


def codes_table() -> list[tuple[str, str, str]]:
    """Every finding code, name and explanation, for documentation."""
    return [(c.id, c.name, c.summary) for c in CODES.values()]
