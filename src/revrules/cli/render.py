"""Human-readable text for plans, apply reports, explain traces, test results and history."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import polars as pl

from revrules.engine.testcases import CaseResult
from revrules.run.apply import ApplyReport
from revrules.run.balance import balance_warnings
from revrules.run.changes import Changes
from revrules.run.plan import Plan
from revrules.state.ledger import Run

ALL_TRANSITIONS_UP_TO = 20
"""A field with this many distinct transitions or fewer shows them all."""
TRANSITION_SHARE = 0.01
"""Beyond that, a transition is shown when it holds at least this share of the field's changes."""
MAX_TRANSITIONS = 50
WRAP_WIDTH = 100


def _show(value: Any) -> str:
    return "(empty)" if value is None or value == "" else str(value)


_RELATED_SHOWN = 20
"""Related records listed one by one per object in the human plan; `--json` has all of them."""


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
        for field, count, found in transitions_by_field(plan.changes):
            lines.append(f"  {field}: {count:,} record(s)")
            lines += _transitions_text(found, field, count)
    if not plan.too_long.is_empty():
        lines.append("")
        lines.append(f"Too long for their field, not sent ({plan.too_long.height:,}):")
        summary = plan.too_long.group_by("field", maintain_order=True).agg(
            pl.len(), pl.col("limit").first(), pl.col("length").max(), pl.col("id").first())
        for field, count, limit, longest, example in summary.iter_rows():
            lines.append(f"  {field} holds {limit:,} characters: {count:,} value(s) up to {longest:,}, "
                         f"e.g. record {example}")
    lines += _held_text(plan.held)
    lines += _related_text(plan.related)
    lines += _families_text(plan.families_moved)
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
    lines += _unassigned_text(plan)
    lines += _balance_text(plan)
    lines.append("")
    if plan.is_empty:
        lines.append("No changes. The CRM matches the rulebook.")
    else:
        lines.append(
            f"Plan: {plan.changed_records:,} record(s) to change, {plan.changes.height:,} field change(s), "
            f"{plan.list_changes.height:,} list membership change(s)."
            + (f" {plan.related.height:,} related record(s) follow their account's owner."
               if not plan.related.is_empty() else "")
        )
    return "\n".join(lines)


def _related_text(related: pl.DataFrame) -> list[str]:
    """Contacts and open deals that follow their account's owner change: counts, then each record."""
    if related.is_empty():
        return []
    lines = ["", "Related records following their account's new owner (owner_change):"]
    for (name,), group in related.group_by("object", maintain_order=True):
        lines.append(f"  {name}: {group.height:,} record(s)")
        for row in group.head(_RELATED_SHOWN).iter_rows(named=True):
            lines.append(f"    {row['id']} {row['field']}: {row['before']} -> {row['after']} "
                         f"(account {row['account']})")
        if group.height > _RELATED_SHOWN:
            lines.append(f"    … and {group.height - _RELATED_SHOWN:,} more (see plan --json)")
    return lines


UNASSIGNED_BECAUSE = {
    "capacity-full": "every pool member is at capacity",
    "no-available-owner": "no pool member can receive accounts (gone, away, or unknown or inactive in the CRM)",
}


def _balance_text(plan: Plan) -> list[str]:
    """With --rebalance: how far owners are from their share, by count and by value, before and after."""
    if plan.balance.is_empty():
        return []
    lines = ["", "Balance (largest deviation from an owner's share, before -> after):"]
    for r in plan.balance.iter_rows(named=True):
        lines.append(f"  {r['pool']} by {r['measure']}: {r['before']:.0%} -> {r['after']:.0%}")
    lines += [f"Warning: {warning}" for warning in balance_warnings(plan.balance)]
    return lines


def _unassigned_text(plan: Plan) -> list[str]:
    """Accounts left with their current owner, by why: at capacity is not the same as nobody available."""
    lines: list[str] = []
    for reason, because in UNASSIGNED_BECAUSE.items():
        found = plan.unassigned.filter(pl.col("reason").fill_null("capacity-full") == reason)
        if found.is_empty():
            continue
        lines += ["", f"Owners not assigned because {because}: {found.height:,}"]
        for (territory,), group in found.group_by("territory", maintain_order=True):
            lines.append(f"  {territory}: {group.height:,} account(s)")
    return lines


def _held_text(held: pl.DataFrame) -> list[str]:
    """Changes a write policy held back, counted per field and policy."""
    if held.is_empty():
        return []
    lines = ["", f"Held by policy, not sent ({held.height:,}):"]
    summary = held.group_by("field", "policy", maintain_order=True).agg(pl.len(), pl.col("id").first())
    for field, policy, count, example in summary.sort("field", maintain_order=True).iter_rows():
        lines.append(f"  {field} ({policy}): {count:,} change(s), e.g. record {example}")
    return lines


def _families_text(families: pl.DataFrame) -> list[str]:
    """Families re-routed as one unit (`families: together`): how many, and the largest."""
    if families.is_empty():
        return []
    accounts = int(families["accounts"].sum())
    lines = ["", f"Families moved as one unit: {families.height:,} ({accounts:,} account(s))"]
    largest = families.sort(["accounts", "family"], descending=[True, False]).head(5)
    for r in largest.iter_rows(named=True):
        to = " ".join(v for v in (r["territory"], r["owner"]) if v) or "(unchanged)"
        lines.append(f"  {r['family']}: {r['accounts']:,} account(s) -> {to}")
    return lines


def _books_text(plan: Plan) -> list[str]:
    """Owners whose book changes, and territories whose size changes."""
    moved = plan.owner_books.filter((pl.col("gained") > 0) | (pl.col("lost") > 0))
    lines: list[str] = []
    if not moved.is_empty():
        lines += ["", "Owner books (accounts before -> after, gained, lost):"]
        for r in moved.head(20).iter_rows(named=True):
            value = (f"; value {r['value_before']:,.0f} -> {r['value_after']:,.0f}"
                     if r["value_before"] or r["value_after"] else "")
            status = f" [{r['status']}]" if r.get("status") and r["status"] != "active" else ""
            lines.append(f"  {r['owner']}{status}: {r['accounts_before']:,} -> {r['accounts_after']:,} "
                         f"(+{r['gained']:,} -{r['lost']:,}{value})")
        if moved.height > 20:
            lines.append(f"  … and {moved.height - 20:,} more owners")
    away = plan.owner_books.filter(pl.col("status").str.starts_with("away"))
    if not away.is_empty():
        lines += ["", "Away (keep their book, get no new accounts):"]
        lines += [f"  {r['owner']}: {r['status']}, {r['accounts_after']:,} account(s)"
                  for r in away.head(20).iter_rows(named=True)]
    changed = plan.territory_books.filter(pl.col("accounts_before") != pl.col("accounts_after"))
    if not changed.is_empty():
        lines += ["", "Territories (accounts before -> after):"]
        lines += [f"  {r['territory'] or '(none)'}: {r['accounts_before']:,} -> {r['accounts_after']:,}"
                  for r in changed.head(30).iter_rows(named=True)]
    return lines


def transitions_by_field(changes: Changes) -> list[tuple[str, int, pl.DataFrame]]:
    """Per field, most changed first: its count of changes and its transitions (before, after, len)."""
    counted = changes.transitions()
    totals = counted.group_by("field").agg(pl.col("len").sum()).sort(["len", "field"], descending=[True, False])
    by_field = counted.partition_by("field", as_dict=True, include_key=False)
    return [(field, total, by_field[(field,)]) for field, total in totals.iter_rows()]


def transitions(found: pl.DataFrame, total: int) -> tuple[pl.DataFrame, int, int]:
    """The transitions worth showing (count, then values), and how many others there are and their records.

    `found` holds one field's transitions and their counts (before, after, len). Every
    transition is shown when there are few; otherwise those holding at least
    `TRANSITION_SHARE` of the field's changes (at most `MAX_TRANSITIONS`).
    """
    found = found.sort(["len", "before", "after"], descending=[True, False, False], nulls_last=True)
    if found.height > ALL_TRANSITIONS_UP_TO:
        shown = found.filter(pl.col("len") >= max(2, total * TRANSITION_SHARE)).head(MAX_TRANSITIONS)
        shown = shown if shown.height >= ALL_TRANSITIONS_UP_TO // 2 else found.head(ALL_TRANSITIONS_UP_TO // 2)
    else:
        shown = found
    rest = found.slice(shown.height)
    return shown, rest.height, int(rest["len"].sum()) if rest.height else 0


def _transitions_text(found: pl.DataFrame, field: str, total: int) -> list[str]:
    shown, more, more_records = transitions(found, total)
    lines: list[str] = []
    for before, after, n in shown.iter_rows():
        old, new = _show(before), _show(after)
        line = f"    {field}: {old} -> {new}  {n:,}"
        if len(line) <= WRAP_WIDTH and "\n" not in line:
            lines.append(line)
            continue
        # Long values (provenance, descriptions) in full: cut, before and after could look the same.
        lines.append(f"    {field}: {n:,} record(s)")
        lines += wrapped("before", old, 6)
        lines += wrapped("after", new, 6)
    if more:
        lines.append(f"    … and {more:,} more transition(s) covering {more_records:,} record(s) "
                     "(plan --json lists every change; plan --show ID one record's)")
    return lines


def wrapped(label: str, value: str, indent: int) -> list[str]:
    """`label: value`, the value in full, wrapped under itself."""
    head = " " * indent + f"{label + ':':<8}"
    return textwrap.wrap(value, WRAP_WIDTH, initial_indent=head, subsequent_indent=" " * len(head),
                         break_long_words=True, replace_whitespace=True, drop_whitespace=True) or [head]


def record_text(plan: Plan, record_id: str) -> str:
    """Every change planned for one record (`plan --show ID`), with full values and the deciding rule."""
    changes = plan.changes.of_record(record_id)
    lists = plan.list_changes.filter(pl.col("id") == record_id)
    if changes.is_empty() and lists.is_empty():
        return f"Record {record_id}: no changes planned."
    lines = [f"Record {record_id}: {changes.height:,} field change(s), {lists.height:,} list membership change(s)."]
    for row in changes.iter_rows(named=True):
        lines.append("")
        lines.append(f"  {row['field']}    [rule: {row['rule'] or '(none)'}]")
        lines += wrapped("before", _show(row["before"]), 4)
        lines += wrapped("after", _show(row["after"]), 4)
    if not lists.is_empty():
        lines.append("")
        lines += [f"  list {row['list']}: {row['action']}" for row in lists.iter_rows(named=True)]
    return "\n".join(lines)


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
        lines += [f"  {d['name']} = {_show(d['value'])}    ({d['how']}; reads {_reads(d['reads'])}"
                  + (f"; row {d['row'] or 'none matched'}" if "row" in d else "") + ")"
                  for d in trace["derived"]]
    if "family" in trace:
        lines.append("")
        family = trace["family"]
        lines.append(f"family: {' -> '.join(family['path'])}    (ultimate parent {family['ultimate']})")
    for decision in trace["decisions"]:
        lines.append("")
        lines.append(f"{decision['name']} = {_show(decision['value'])}    "
                     f"[hit: {decision['hit']}, decided by: {decision['rule']}]")
        for rule in decision["rules"]:
            lines.append(f"  {rule['outcome']:>7}  {rule['id']}: {rule['when']}    reads {_reads(rule['reads'])}")
    if "territory" in trace:
        lines.append("")
        family = trace["territory"].get("family")
        lines.append(f"territory = {_show(trace['territory']['value'])}"
                     + (f"    (with its family: ultimate parent {family}'s territory)" if family else ""))
        for node in trace["territory"]["path"]:
            lines.append(f"  {node['outcome']:>7}  {node['id']}: {node['when']}    reads {_reads(node['reads'])}")
    if "owner" in trace:
        owner = trace["owner"]
        pool = f", pool {owner['pool']}" if owner.get("pool") else ""
        lines.append(f"owner = {_show(owner['value'])}    [{owner['why'] or 'no owner pool'}{pool}]")
        if owner.get("pool"):
            lines.append(f"  previous owner: {_show(owner.get('previous'))}"
                         + (f" ({owner['previous_status']})" if owner.get("previous_status") else ""))
            lines.append(f"  because: {owner['because']}")
    if trace.get("held"):
        lines.append("")
        lines.append("Held by policy (not written):")
        lines += [f"  {h['field']}: {_show(h['before'])} -> {_show(h['after'])}    [{h['policy']}]"
                  for h in trace["held"]]
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
