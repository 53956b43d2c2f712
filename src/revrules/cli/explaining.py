"""`explain --why-not DECISION=VALUE` and `explain --format markdown`: explanations for the people affected."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from revrules.cli import commands, render
from revrules.engine.explain import explain_record
from revrules.engine.testcases import evaluate_account
from revrules.engine.whynot import why_not, why_not_owner
from revrules.errors import ExitCode, InvalidInputError
from revrules.project import Project, load_project
from revrules.run import operations


def cmd_explain(args: argparse.Namespace) -> int:
    """`revrules explain ID | --account JSON [--why-not DECISION=VALUE] [--format text|json|markdown]`."""
    fmt = "json" if args.json else args.format
    if not args.why_not and fmt == "text":
        return commands.cmd_explain(args)
    project = load_project(args.config)
    owner_output = project.book.territories.owner_output if project.book.territories else None
    name = (args.why_not or "").partition("=")[0]
    if owner_output and name == owner_output:
        document = _why_not_owner(project, args, owner_output)
    else:
        account, trace = _trace(project, args)
        document = dict(trace)
        if args.why_not:
            document["why_not"] = _why_not(project, account, args.why_not)
    if fmt == "json":
        print(json.dumps(document, indent=2, default=str))
    elif fmt == "markdown":
        print(markdown(document))
    else:
        print(render.explain_text({k: v for k, v in document.items() if k != "why_not"}))
        print(_why_not_text(document["why_not"]))
    return ExitCode.OK


def _why_not_owner(project: Project, args: argparse.Namespace, output: str) -> dict[str, Any]:
    """The trace of record ID, with why the person asked about is not its owner."""
    person = args.why_not.partition("=")[2]
    if not person:
        raise InvalidInputError(f"--why-not: expected {output}=USERID")
    if args.account is not None or not args.id:
        raise InvalidInputError(f"--why-not {output}=…: give a record id; owner loads come from every record read")
    among = operations.explain_among(project, args.id)
    reasons = why_not_owner(project.book, among.evaluated, args.id, person, unavailable=among.unavailable_owners,
                            today=dt.datetime.now(dt.UTC).date())
    document = dict(among.trace)
    document["why_not"] = {
        "decision": output, "value": person, "owner": True, "possible": True,
        "reasons": [{"code": r.code, "sentence": r.sentence} for r in reasons],
        "changes": [],
    }
    return document


def _trace(project: Project, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    book = project.book
    if args.account is not None:
        try:
            account = json.loads(args.account)
        except ValueError as exc:
            raise InvalidInputError(f"--account: not valid JSON ({exc})") from None
        if not isinstance(account, dict):
            raise InvalidInputError("--account: expected a JSON object of field values")
        return account, explain_record(book, evaluate_account(book, account, "account"), "account")
    if not args.id:
        raise InvalidInputError("explain: give a record id or --account JSON")
    trace = operations.explain(project, args.id)
    # Every field a rule reads is in the trace: that is all a why-not question can change.
    reads = [r["reads"] for d in trace["decisions"] for r in d["rules"]]
    account = {k: v for read in reads for k, v in read.items() if k in book.fields}
    return account, trace


def _why_not(project: Project, account: dict[str, Any], question: str) -> dict[str, Any]:
    name, sep, raw = question.partition("=")
    book = project.book
    names = {d.name for d in book.decisions} | ({book.territories.output} if book.territories else set())
    if not sep or name not in names:
        raise InvalidInputError(f"--why-not: expected DECISION=VALUE with one of: {', '.join(sorted(names))}")
    wanted: Any = raw
    decision = next((d for d in book.decisions if d.name == name), None)
    if (decision is not None and decision.hit == "any") or raw in ("true", "false"):
        wanted = raw == "true"
    elif decision is not None and decision.kind.value in ("number", "integer"):
        wanted = float(raw)
    changes = why_not(book, account, name, wanted)
    return {
        "decision": name, "value": wanted, "possible": changes is not None,
        "changes": [{"field": c.field, "current": c.current, "example": c.example, "sentence": c.sentence}
                    for c in changes or []],
    }


def _why_not_text(answer: dict[str, Any]) -> str:
    head = f"why not {answer['decision']} = {answer['value']}?"
    if answer.get("owner"):
        return "\n".join([head, *(f"  {r['sentence']}" for r in answer["reasons"])])
    if not answer["possible"]:
        return f"{head}\n  no record can get that value from these rules"
    if not answer["changes"]:
        return f"{head}\n  it already is"
    return "\n".join([head, *(f"  {c['sentence']}" for c in answer["changes"])])


def markdown(document: dict[str, Any]) -> str:
    """A trace as Markdown a rep can read: each result, the rule behind it, the values it read."""
    lines = [f"## How account {document['id']} was classified", ""]
    for decision in document["decisions"]:
        rule = next((r for r in decision["rules"] if r["id"] == decision["rule"]), None)
        value = decision["value"]
        if rule is None:
            lines.append(f"- **{decision['name']}: {value}** — no rule applied, so the default was used.")
            continue
        reads = ", ".join(f"{k} is {_plain(v)}" for k, v in rule["reads"].items())
        lines.append(f"- **{decision['name']}: {value}** — because `{rule['when']}` ({reads}).")
    territory = document.get("territory")
    if territory:
        lines.append(f"- **territory: {territory['value'] or 'none'}**")
    owner = document.get("owner")
    if owner:
        lines.append(f"- **owner: {owner['value']}** ({owner['why']}, pool {owner['pool']})")
    members = [item["name"] for item in document.get("lists", []) if item["member"]]
    if members:
        lines.append(f"- **lists:** {', '.join(members)}")
    if "why_not" in document:
        answer = document["why_not"]
        title = (f"Why {answer['value']} is not the {answer['decision']}" if answer.get("owner")
                 else f"What would make {answer['decision']} {answer['value']}")
        lines += ["", f"### {title}", ""]
        if answer.get("owner"):
            lines += [f"- {r['sentence']}" for r in answer["reasons"]]
        elif not answer["possible"]:
            lines.append("No account can get that value from the current rules.")
        lines += [f"- {c['sentence']}" for c in answer["changes"]]
    return "\n".join(lines)


def _plain(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {None: "blank", True: "true", False: "false"}[value]
    return f"{value:,}" if isinstance(value, int) else str(value)
