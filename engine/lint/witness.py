"""Evaluate a finding's witness record for real and check that it shows what the finding claims."""

from __future__ import annotations

from typing import Any

from revrules.engine.definitions import Rulebook
from revrules.engine.explain import explain_record
from revrules.engine.lint.findings import Finding
from revrules.engine.testcases import evaluate_account


def trace_of(book: Rulebook, account: dict[str, Any]) -> dict[str, Any]:
    """What `explain --account` shows for `account`."""
    return explain_record(book, evaluate_account(book, account, "account"), "account")


def reproduces(claim: dict[str, Any], trace: dict[str, Any]) -> bool:
    """True when an explain trace shows every part of a finding's claim."""
    decisions = {d["name"]: d for d in trace["decisions"]}

    def outcome(decision: str, rule: str) -> str:
        return str(next(r["outcome"] for r in decisions[decision]["rules"] if r["id"] == rule))

    lists = {item["id"]: item for item in trace.get("lists", [])}
    checks = [
        *(outcome(d, r) == "true" for d, r in claim.get("true", [])),
        *(outcome(d, r) != "true" for d, r in claim.get("not_true", [])),
        *(not lists[i]["member"] for i in claim.get("not_member", [])),
    ]
    if "decider_not" in claim:
        d, r = claim["decider_not"]
        checks.append(decisions[d]["rule"] not in (r, None))
    if "decider" in claim:
        d, r = claim["decider"]
        checks.append(decisions[d]["rule"] == r)
    if "territory" in claim:
        checks.append(trace.get("territory", {}).get("value") == claim["territory"])
    if "territory_not" in claim:
        checks.append(trace.get("territory", {}).get("value") != claim["territory_not"])
    return all(checks)


def verified(book: Rulebook, finding: Finding) -> bool:
    """True when the finding's witness, evaluated for real, shows the claim."""
    if finding.witness is None:
        return False
    return reproduces(finding.claim, trace_of(book, finding.witness))
