"""`revrules rehearse`: plan, apply, re-plan, roll back and re-plan against an emulator of a snapshot."""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import SecretStr

from revrules.config import HubspotCrm, SalesforceCrm
from revrules.connectors.base import ID
from revrules.connectors.protocols import TextLimits
from revrules.errors import InvalidInputError
from revrules.project import Project
from revrules.rehearsal.emulator import SnapshotEmulator
from revrules.rehearsal.snapshot import FORMAT, MANIFEST
from revrules.run.operations import WriteOptions, apply, make_plan, plan_snapshot, read_snapshot, rollback
from revrules.run.plan import Plan

SALESFORCE_SECONDS_PER_CALL = 0.4
"""A Collections or query round trip to a real org, one call at a time as revrules sends them."""
HUBSPOT_CALLS_PER_SECOND = 19.0
"""HubSpot's burst limit: 190 requests per rolling 10 seconds."""
HUBSPOT_SECONDS_PER_CALL = 0.25


@dataclass(frozen=True)
class Rehearsal:
    """What a rehearsal found: plain data for the report."""

    crm: str
    snapshot: Path
    taken_at: str
    records: int
    plan: Plan
    refused: pl.DataFrame
    """id, field, error: values the CRM refused, or that the plan held back (too long)."""
    unavailable_owners: tuple[str, ...]
    calls: dict[str, int]
    daily_remaining: int | None
    daily_max: int | None
    replan_changes: int
    """Changes left after apply that no refusal explains (0: apply-then-plan is empty)."""
    rollback_matches: bool
    restore_refused: pl.DataFrame
    """id, field, error: values a rollback of the real run could not restore."""
    compacted: int = 0
    """Provenance lines that do not fit the field in full and are written in the compact form."""
    provenance_limit: int | None = None
    contact_lists: tuple[str, ...] = ()
    """Rulebook lists whose HubSpot contact list follows them (`include_contacts`), rehearsed too."""
    applied: pl.DataFrame = dataclasses.field(default_factory=pl.DataFrame)
    """id and each written CRM field, as read back after the apply: what the real run would leave."""

    @property
    def would_fail(self) -> bool:
        """True when something of the real run would not land."""
        return bool(self.refused.height or self.unavailable_owners or self.replan_changes or not self.rollback_matches
                    or self.restore_refused.height)

    @property
    def estimated_seconds(self) -> float:
        """How long the real apply would take at the CRM's rate limits."""
        total = sum(self.calls.values())
        if self.crm == "salesforce":
            return total * SALESFORCE_SECONDS_PER_CALL
        return max(total / HUBSPOT_CALLS_PER_SECOND, total * HUBSPOT_SECONDS_PER_CALL)


def read_manifest(folder: Path) -> dict[str, Any]:
    """A snapshot's manifest, checked.

    Raises:
        InvalidInputError: The folder is not a readable snapshot.
    """
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        raise InvalidInputError(f"{folder}: not a revrules snapshot ({problem})") from None
    if manifest.get("format") != FORMAT or manifest.get("crm") not in {"salesforce", "hubspot"}:
        raise InvalidInputError(f"{folder}: not a revrules snapshot of format {FORMAT}")
    return manifest


def rehearse(project: Project, folder: Path) -> Rehearsal:
    """Replay plan → apply → plan → rollback → plan against an emulator loaded from a snapshot.

    Nothing is sent to the configured CRM: a copy of the config points at the emulator, with
    its own throwaway state folder.

    Raises:
        InvalidInputError: The snapshot is unreadable or of another kind of CRM than the config's.
        CrmError: The emulator did not start.
    """
    manifest = read_manifest(folder)
    kind = project.config.model.crm.kind
    if manifest["crm"] != kind:
        raise InvalidInputError(f"{folder}: a snapshot of a {manifest['crm']} CRM, but the config is for {kind}")
    with tempfile.TemporaryDirectory(prefix="revrules-rehearsal-") as state, SnapshotEmulator(kind, folder) as crm:
        copy = _pointed_at(project, crm, Path(state))
        connector = copy.connector()
        unavailable = copy.unavailable_owners(connector)
        lengths = connector.text_lengths(copy.write_fields()) if isinstance(connector, TextLimits) else {}
        crm.reset_log()
        # The first plan is the one the apply makes and writes: one read and evaluation fewer.
        shown: list[Plan] = []
        report = apply(copy, WriteOptions(force=True, show_plan=shown.append))
        calls = dict(sorted(crm.calls().items()))
        first = shown[0]
        refused = report.failed if report is not None else pl.DataFrame(schema={"id": pl.String, "field": pl.String,
                                                                                  "error": pl.String})
        held = first.too_long.select("id", "field", pl.format("value of {} characters; the field holds {}",
                                                              "length", "limit").alias("error"))
        refused = pl.concat([refused.select("id", "field", "error"), held]).unique(maintain_order=True)
        reader = copy.connector()
        read_back = read_snapshot(copy, reader)
        after = plan_snapshot(copy, reader, read_back)
        written = [f for f in copy.write_fields() if f in read_back.raw.columns]
        applied = read_back.raw.select(pl.col(ID).cast(pl.String).alias("id"), *written).sort("id")
        del read_back
        failed_keys = refused.select("id", "field")
        left = after.changes.frame().join(failed_keys, on=["id", "field"], how="anti").height + \
            after.related.join(failed_keys, on="id", how="anti").height
        matches = True
        restore_refused = pl.DataFrame(schema={"id": pl.String, "field": pl.String, "error": pl.String})
        if report is not None:
            undone = rollback(copy, report.run_id, WriteOptions(force=True))
            if undone is not None:
                restore_refused = undone.failed.select("id", "field", "error")
            again = make_plan(copy, copy.connector())
            matches = _same_changes(first, again, restore_refused)
    api = manifest.get("api") or {}
    provenance = project.config.model.provenance
    limit = lengths.get(provenance) if provenance else None
    compacted = (first.changes.of_fields([provenance]).filter(pl.col("after").str.starts_with("@rulebook:")).height
                 if provenance else 0)
    return Rehearsal(crm=kind, snapshot=folder, taken_at=str(manifest.get("taken_at")),
                     records=int(manifest.get("records", first.meta.records_read)), plan=first, refused=refused,
                     unavailable_owners=tuple(sorted(unavailable)), calls=calls,
                     daily_remaining=api.get("daily_remaining"), daily_max=api.get("daily_max"),
                     replan_changes=left, rollback_matches=matches, restore_refused=restore_refused,
                     compacted=compacted, provenance_limit=limit, applied=applied,
                     contact_lists=tuple(i.id for i in project.book.lists if i.include_contacts and kind == "hubspot"))


def _same_changes(first: Plan, again: Plan, restore_refused: pl.DataFrame) -> bool:
    """Whether the plan after rollback is the first one, but for records the rollback could not fully restore."""
    keys = ["id", "field", "before", "after"]
    unrestored = restore_refused.select("id").unique()
    expected = first.changes.frame().join(unrestored, on="id", how="anti").select(keys).sort(keys)
    found = again.changes.frame().join(unrestored, on="id", how="anti").select(keys).sort(keys)
    related = ["object", "id", "before", "after"]
    moved = first.related.join(unrestored, on="id", how="anti").select(related).sort(related)
    moved_again = again.related.join(unrestored, on="id", how="anti").select(related).sort(related)
    return expected.equals(found) and moved.equals(moved_again) and \
        first.list_changes.sort(["list", "id"]).equals(again.list_changes.sort(["list", "id"]))


def _pointed_at(project: Project, emulator: SnapshotEmulator, state: Path) -> Project:
    """A copy of the project whose CRM is the emulator and whose ledger lives in `state`.

    No API reserve: the emulator's daily allowance is its own, not the CRM's; the report
    weighs the calls against what the CRM had left when the snapshot was taken.
    """
    model = project.config.model
    crm = model.crm
    if isinstance(crm, SalesforceCrm):
        crm = crm.model_copy(update={"instance_url": emulator.url, "auth": "session",
                                     "session_id": SecretStr(emulator.token), "api_reserve": 0,
                                     "retry_backoff_seconds": 0.01})
    elif isinstance(crm, HubspotCrm):
        crm = crm.model_copy(update={"base_url": emulator.url, "access_token": SecretStr(emulator.token),
                                     "api_reserve": 0, "burst_limit": 0, "search_limit": 0,
                                     "retry_backoff_seconds": 0.01, "incremental_lag_seconds": 0})
    copied = model.model_copy(update={"crm": crm, "state_dir": str(state),
                                      "safety": model.safety.model_copy(update={"max_changed_records": "100%"})})
    return dataclasses.replace(project, config=dataclasses.replace(project.config, model=copied))


def book_moves(plan: Plan, owner_field: str | None) -> list[tuple[str, str, int]]:
    """(from owner, to owner, accounts) for the plan's owner changes, most first."""
    if owner_field is None:
        return []
    moves = plan.changes.of_fields([owner_field])
    counted = Counter(zip(moves["before"].fill_null("(none)"), moves["after"].fill_null("(none)"), strict=True))
    return [(before, after, n) for (before, after), n in counted.most_common()]


def related_moves(plan: Plan, refused: pl.DataFrame) -> list[tuple[str, int, int]]:
    """(object, records that follow their account's new owner, of which refused) per object (`owner_change`)."""
    if plan.related.is_empty():
        return []
    failed = refused.filter(pl.col("field").str.contains(".", literal=True)).select("id").unique()
    counted = plan.related.group_by("object").agg(
        pl.len().alias("moves"), pl.col("id").is_in(failed["id"].implode()).sum().alias("refused")).sort("object")
    return [(str(name), int(moves), int(count)) for name, moves, count in counted.iter_rows()]


def minutes(seconds: float) -> str:
    """`2 min 5 s`, `40 s`."""
    whole = math.ceil(seconds)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"
