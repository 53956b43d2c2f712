"""The rehearsal report and the snapshot summary as text."""

from __future__ import annotations

from revrules.rehearsal.rehearse import Rehearsal, book_moves, minutes, related_moves
from revrules.rehearsal.snapshot import SnapshotSummary

_LISTED = 20


def snapshot_text(summary: SnapshotSummary) -> str:
    """What `snapshot` wrote, in a few lines."""
    lines = [f"Snapshot of the {summary.crm} CRM written to {summary.folder}",
             f"  records: {summary.records:,} of {summary.records_read:,} read"]
    if summary.redacted:
        lines.append(f"  redacted (no rule reads them): {', '.join(summary.redacted)}")
    if summary.related:
        counted = ", ".join(f"{name} {n:,}" for name, n in summary.related.items())
        lines.append(f"  related records (owner_change): {counted}")
    if summary.api_calls:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in summary.api_calls.items() if kind != "total")
        lines.append(f"  API calls it cost: {summary.api_calls.get('total', 0):,} ({kinds})")
    return "\n".join(lines)


def first_line(crm: str) -> str:
    """The line every rehearsal starts with."""
    return f"Rehearsal: nothing is written to your {crm} CRM; every call goes to a local emulator of a snapshot."


def rehearsal_text(result: Rehearsal, owner_field: str | None) -> str:
    """The rehearsal report: refusals, list changes, owner book moves, API calls and duration."""
    plan = result.plan
    lines = [f"Snapshot {result.snapshot} ({result.crm}, taken {result.taken_at}, {result.records:,} records)", ""]
    lines.append(f"Plan: {plan.changes.height:,} field change(s) on {plan.changed_records:,} record(s), "
                 f"{plan.list_changes.height:,} list change(s)")
    lines.append("")
    if result.refused.is_empty():
        lines.append("Refused by the CRM: none")
    else:
        lines.append(f"Refused by the CRM: {result.refused.height:,} field value(s)")
        for row in result.refused.head(_LISTED).iter_rows(named=True):
            lines.append(f"  {row['id']}  {row['field']}: {row['error']}")
        if result.refused.height > _LISTED:
            lines.append(f"  ... and {result.refused.height - _LISTED:,} more")
    if result.unavailable_owners:
        lines.append(f"Pool owners the CRM does not know or has deactivated (they get no accounts): "
                     f"{', '.join(result.unavailable_owners)}")
    if result.compacted:
        lines.append(f"Provenance: {result.compacted:,} line(s) do not fit the field's {result.provenance_limit} "
                     "characters in full and are written in the compact form")
    lines.append("")
    if plan.list_changes.is_empty():
        lines.append("List changes: none")
    else:
        lines.append("List changes:")
        counted = plan.list_changes.group_by("list", "action").len().sort("list", "action")
        for row in counted.iter_rows(named=True):
            follows = " (their contacts follow in the contact list)" if row["list"] in result.contact_lists else ""
            lines.append(f"  {row['list']}: {row['action']} {row['len']:,}{follows}")
    moves = book_moves(plan, owner_field)
    lines.append("Owner book moves: none" if not moves else "Owner book moves (from -> to: accounts):")
    for before, after, count in moves[:_LISTED]:
        lines.append(f"  {before} -> {after}: {count:,}")
    related = related_moves(plan, result.refused)
    if related:
        lines.append("Related records following their account's new owner (owner_change):")
        for name, count, refused in related:
            lines.append(f"  {name}: {count:,}" + (f" ({refused:,} refused, listed above)" if refused else ""))
    lines.append("")
    total = sum(result.calls.values())
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in result.calls.items()) or "none"
    lines.append(f"API calls the real apply would make: {total:,} ({kinds})")
    if result.daily_remaining is not None:
        share = f" ({100 * total / result.daily_remaining:.1f}%)" if result.daily_remaining else ""
        lines.append(f"  against {result.daily_remaining:,} daily API request(s) the org had left{share}")
    lines.append(f"Estimated duration of the real apply at the CRM's rate limits: {minutes(result.estimated_seconds)}")
    lines.append("")
    lines.append("Re-plan after apply: " + ("empty" if not result.replan_changes
                                            else f"{result.replan_changes:,} change(s) left (not idempotent)"))
    lines.append("Rollback then plan: " + ("equals the first plan" if result.rollback_matches
                                           else "differs from the first plan"))
    if result.restore_refused.height:
        lines.append(f"Rollback could not restore {result.restore_refused.height:,} value(s):")
        counted = result.restore_refused.group_by("field", "error").len().sort("len", descending=True)
        for row in counted.head(_LISTED).iter_rows(named=True):
            lines.append(f"  {row['field']}: {row['len']:,} x {row['error']}")
    lines.append("")
    lines.append("Result: something would fail" if result.would_fail else "Result: everything would land")
    return "\n".join(lines)
