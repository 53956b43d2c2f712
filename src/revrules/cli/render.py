"""Human-readable text for plans, apply reports, explain traces, test results and history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from revrules.engine.testcases import CaseResult
from revrules.run.apply import ApplyReport
from revrules.run.plan import Plan
from revrules.state.ledger import Run

TOP_TRANSITIONS = 5


def _show(value: Any) -> str:
    return "(empty)" if value is None or value == "" else str(value)


def plan_text(plan: Plan, source: str) -> str:
    """The plan summary: counts per field, the most frequent transitions, lists, quality."""
    meta = plan.meta
    lines = [f"Read {meta.records_read:,} records from {source}."]
    if plan.quality:
        lines.append("")
        lines.append("Data quality (values that could not be converted are treated as empty):")
        lines += [f"  {q.field} ({q.source}): {q.count:,} value(s), e.g. record {q.example_id}" for q in plan.quality]
    if not plan.changes.is_empty():
        lines.append("")
        lines.append("Changes by field:")
        counts = plan.changes.group_by("field").len().sort(["len", "field"], descending=[True, False])
        for field, count in counts.iter_rows():
            lines.append(f"  {field}: {count:,} record(s)")
            top = (plan.changes.filter(pl.col("field") == field)
                   .group_by(["before", "after"]).len()
                   .sort(["len", "before", "after"], descending=[True, False, False], nulls_last=True)
                   .head(TOP_TRANSITIONS))
            for before, after, n in top.iter_rows():
                lines.append(f"    {field}: {_clip(_show(before))} -> {_clip(_show(after))}  {n:,}")
    if not plan.list_changes.is_empty():
        lines.append("")
        lines.append("Marketing lists:")
        for (list_id,), group in plan.list_changes.group_by("list", maintain_order=True):
            adds = group.filter(pl.col("action") == "add").height
            lines.append(f"  {list_id}: +{adds:,} -{group.height - adds:,}")
    if not plan.conflicts.is_empty():
        lines.append("")
        lines.append(f"Conflicts ({plan.conflicts.height:,}; those fields are left unchanged):")
        for row in plan.conflicts.head(10).iter_rows(named=True):
            lines.append(f"  {row['id']}: {row['decision']} matched {', '.join(row['rules'])}")
    lines += _books_text(plan)
    if not plan.unassigned.is_empty():
        lines.append("")
        lines.append(f"Owners not assigned because every pool member is at capacity: {plan.unassigned.height:,}")
        for (territory,), group in plan.unassigned.group_by("territory", maintain_order=True):
            lines.append(f"  {territory}: {group.height:,} account(s)")
    lines.append("")
    if plan.is_empty:
        lines.append("No changes. The CRM matches the rulebook.")
    else:
        lines.append(
            f"Plan: {plan.changed_records:,} record(s) to change, {plan.changes.height:,} field change(s), "
            f"{plan.list_changes.height:,} list membership change(s)."
        )
    return "\n".join(lines)


def _books_text(plan: Plan) -> list[str]:
    """Owners whose book changes, and territories whose size changes."""
    moved = plan.owner_books.filter((pl.col("gained") > 0) | (pl.col("lost") > 0))
    lines: list[str] = []
    if not moved.is_empty():
        lines += ["", "Owner books (accounts before -> after, gained, lost):"]
        for r in moved.head(20).iter_rows(named=True):
            value = (f"; value {r['value_before']:,.0f} -> {r['value_after']:,.0f}"
                     if r["value_before"] or r["value_after"] else "")
            lines.append(f"  {r['owner']}: {r['accounts_before']:,} -> {r['accounts_after']:,} "
                         f"(+{r['gained']:,} -{r['lost']:,}{value})")
        if moved.height > 20:
            lines.append(f"  … and {moved.height - 20:,} more owners")
    changed = plan.territory_books.filter(pl.col("accounts_before") != pl.col("accounts_after"))
    if not changed.is_empty():
        lines += ["", "Territories (accounts before -> after):"]
        lines += [f"  {r['territory'] or '(none)'}: {r['accounts_before']:,} -> {r['accounts_after']:,}"
                  for r in changed.head(30).iter_rows(named=True)]
    return lines


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def apply_text(report: ApplyReport) -> str:
    """The outcome of an apply or rollback."""
    lines = [f"Run {report.run_id}: {report.status}. {report.written:,} field(s) written."]
    if report.lists_written:
        lines.append(f"{report.lists_written:,} list membership change(s) written.")
    if not report.skipped.is_empty():
        lines.append(f"{report.skipped.height:,} field(s) skipped:")
        lines += [f"  {r['id']} {r['field']}: {r['reason']}" for r in report.skipped.head(20).iter_rows(named=True)]
    if not report.failed.is_empty():
        lines.append(f"{report.failed.height:,} field(s) failed:")
        lines += [f"  {r['id']} {r['field']}: {r['error']}" for r in report.failed.head(50).iter_rows(named=True)]
    return "\n".join(lines)


def explain_text(trace: dict[str, Any]) -> str:
    """An explain trace, one section per derived value and decision."""
    lines = [f"Record {trace['id']}"]
    if trace["derived"]:
        lines.append("")
        lines.append("Derived values:")
        lines += [f"  {d['name']} = {_show(d['value'])}    ({d['how']}; reads {_reads(d['reads'])})"
                  for d in trace["derived"]]
    for decision in trace["decisions"]:
        lines.append("")
        lines.append(f"{decision['name']} = {_show(decision['value'])}    "
                     f"[hit: {decision['hit']}, decided by: {decision['rule']}]")
        for rule in decision["rules"]:
            lines.append(f"  {rule['outcome']:>7}  {rule['id']}: {rule['when']}    reads {_reads(rule['reads'])}")
    if "territory" in trace:
        lines.append("")
        lines.append(f"territory = {_show(trace['territory']['value'])}")
        for node in trace["territory"]["path"]:
            lines.append(f"  {node['outcome']:>7}  {node['id']}: {node['when']}    reads {_reads(node['reads'])}")
    if "owner" in trace:
        owner = trace["owner"]
        pool = f", pool {owner['pool']}" if owner.get("pool") else ""
        lines.append(f"owner = {_show(owner['value'])}    [{owner['why'] or 'no owner pool'}{pool}]")
    if trace["lists"]:
        lines.append("")
        lines.append("Lists:")
        lines += [f"  {'member' if m['member'] else 'not a member':>12}  {m['id']}: {m['when']}"
                  for m in trace["lists"]]
    return "\n".join(lines)


def _reads(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in values.items()) or "nothing"


def tests_text(results: Sequence[CaseResult]) -> str:
    """Failures with expected vs actual and the deciding rules, then `N passed, M failed`."""
    lines = []
    for result in results:
        if result.passed:
            continue
        lines.append(f"FAIL {result.where}: {result.name}")
        for m in result.mismatches:
            lines.append(f"  {m.key}: expected {_show(m.expected)}, got {_show(m.actual)}")
            lines += _why(result.trace or {}, m.key)
        lines.append("")
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


def _why(trace: dict[str, Any], key: str) -> list[str]:
    for decision in trace.get("decisions", []):
        if decision["name"] == key:
            return [f"    {r['outcome']:>7}  {r['id']}: {r['when']}    reads {_reads(r['reads'])}"
                    for r in decision["rules"]]
    territory = trace.get("territory")
    if territory and key not in ("lists",):
        return [f"    {n['outcome']:>7}  {n['id']}: {n['when']}" for n in territory["path"]]
    return []


def scheduler_line(scheduler: dict[str, Any]) -> str:
    """`scheduler: running (pid 4242, since …, last heartbeat …)`, or why none is."""
    state = scheduler["state"]
    if state == "not running":
        return "scheduler: not running"
    detail = f"pid {scheduler['pid']}, since {scheduler['started_at']}, last heartbeat {scheduler['heartbeat']}"
    if state == "stopped":
        return f"scheduler: not running (pid {scheduler['pid']} is gone without a clean stop; last heartbeat " \
               f"{scheduler['heartbeat']})"
    return f"scheduler: {state} ({detail})"


def history_text(runs: Sequence[Run]) -> str:
    """The runs table, newest first."""
    if not runs:
        return "No runs yet."
    lines = [f"{'run':>5}  {'command':<9} {'status':<12} {'started':<24} {'written':>8} {'failed':>7} "
             f"{'skipped':>8}  rulebook"]
    for r in runs:
        lines.append(f"{r.id:>5}  {r.command:<9} {r.status:<12} {r.started_at:<24} {r.written:>8,} {r.failed:>7,} "
                     f"{r.skipped:>8,}  {(r.rulebook_hash or '')[:7]}")
    return "\n".join(lines)
