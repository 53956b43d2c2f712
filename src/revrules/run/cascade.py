"""Owner changes that carry their records: the contacts and open deals the previous owner held on the account.

With `owner_change`, each account whose owner the plan changes takes along the related
records its previous owner held on it: they move to the new owner as their own plan
lines, are written after the account's owner change has landed (and only then), in the
same ledgered batches, and are restored by rollback where they still hold what was written.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import polars as pl

from revrules.connectors.base import ID
from revrules.connectors.protocols import Connector, RelatedKind, RelatedOwners
from revrules.errors import InvalidInputError
from revrules.project import Project
from revrules.run.apply import FAILED_SCHEMA, FollowUp, RowChanges, apply_changes, drift
from revrules.run.changes import Changes
from revrules.run.plan import RELATED_SCHEMA, Plan
from revrules.run.settle import current_values, same_value
from revrules.state.ledger import ERROR, INTERRUPTED, NOT_WRITTEN, RUNNING, WRITTEN, Ledger

log = logging.getLogger(__name__)

FOLLOWS = "follows:"
"""The rule of a related record's change: `follows:<account id>`, the account whose owner it follows."""
_LEDGERED = ["object", "id", "field", "before", "after", "rule"]


def related_changes(project: Project, connector: Connector, changes: Changes) -> pl.DataFrame:
    """The related records that follow the owner changes among `changes` (`RELATED_SCHEMA`), by object and id.

    A record moves when the account's previous owner holds it; a record on several moving
    accounts (a HubSpot contact of two companies) follows the first of them by id.

    Raises:
        InvalidInputError: `owner_change` is set but the connector cannot move related records.
    """
    owner = project.owner_output
    wanted = wanted_kinds(project)
    if owner is None or not wanted:
        return pl.DataFrame(schema=RELATED_SCHEMA)
    records = _related_owners(connector)
    moves = changes.of_fields([project.outputs[owner]]).filter(
        pl.col("before").is_not_null() & pl.col("after").is_not_null()
    ).select(pl.col("id").alias("account"), "before", "after")
    return _following(records, wanted, moves)


def resumed_changes(project: Project, connector: Connector, ledger: Ledger, changes: Changes) -> pl.DataFrame:
    """Related records still to move after owner changes that interrupted applies wrote (kill-safety).

    A run stopped (killed, interrupted, or ended by a CRM error) after an account's owner
    change landed, but before its records followed: the next apply's plan no longer changes
    that owner, so the records are found again here. The owner writes of the apply runs
    since the last one that ran to its end count, where the account still has the owner
    written and this plan does not change it again; records already moved are held by the
    new owner and are not found twice.
    """
    owner = project.owner_output
    empty = pl.DataFrame(schema=RELATED_SCHEMA)
    wanted = wanted_kinds(project)
    if owner is None or not wanted:
        return empty
    field = project.outputs[owner]
    unfinished = []
    for run in ledger.runs(1000):
        if run.command != "apply" or run.status == RUNNING:
            continue
        if run.status not in (INTERRUPTED, ERROR):
            break
        unfinished.append(ledger.writes(run.id, WRITTEN).filter(
            (pl.col("field") == field) & pl.col("before").is_not_null() & pl.col("after").is_not_null()))
    if not unfinished:
        return empty
    # The newest write of each account is the one that stands.
    moves = (pl.concat(unfinished).sort("row", descending=True).unique("id", keep="first")
             .join(changes.of_fields([field]), on="id", how="anti"))
    if moves.is_empty():
        return empty
    records = _related_owners(connector)
    standing = current_values(connector, moves.select("id", "field", "before", "after")).filter(
        same_value(pl.col("current"), pl.col("after")))
    log.info("%d account(s) changed owner in an interrupted run; their related records are looked up again",
             standing.height)
    return _following(records, wanted, standing.select(pl.col("id").alias("account"), "before", "after"))


def wanted_kinds(project: Project) -> list[RelatedKind]:
    """The kinds of related records `owner_change` moves (none without it)."""
    setting = project.config.model.owner_change
    wanted: list[RelatedKind] = []
    if setting is not None and setting.contacts:
        wanted.append("contacts")
    if setting is not None and (setting.open_opportunities or setting.open_deals):
        wanted.append("open_deals")
    return wanted


def _following(records: RelatedOwners, wanted: list[RelatedKind], moves: pl.DataFrame) -> pl.DataFrame:
    """The records of `wanted` kinds that each move (account, before, after) carries."""
    parts = [pl.DataFrame(schema=RELATED_SCHEMA)]
    if moves.is_empty():
        return parts[0]
    accounts = moves["account"].unique().sort().to_list()
    owners = moves["before"].unique().sort().to_list()
    for kind in wanted:
        name = records.related_object(kind)
        held = records.related_owners(name, accounts, owners).rename({ID: "id"})
        following = (held.join(moves, left_on=["account", "owner"], right_on=["account", "before"], how="inner")
                     .sort(["id", "account"]).unique("id", keep="first", maintain_order=True))
        parts.append(following.select(
            pl.lit(name, pl.String).alias("object"), "id", pl.lit(records.related_owner_field).alias("field"),
            pl.col("owner").alias("before"), "after", "account", (pl.lit(FOLLOWS) + pl.col("account")).alias("rule"),
        ))
    return pl.concat(parts)


def prepare_apply(project: Project, connector: Connector, ledger: Ledger, plan: Plan, *,
                  saved: bool) -> tuple[Plan, FollowUp | None]:
    """The plan an apply writes, with the records interrupted runs left behind, and its follow-up step.

    A saved plan is applied as it was made (the records it names, checked for drift).
    """
    owner = project.owner_output
    if project.config.model.owner_change is None or owner is None:
        return plan, None
    resumed = None
    if not saved:
        resumed = resumed_changes(project, connector, ledger, plan.changes)
        related = pl.concat([plan.related, resumed]).unique(["object", "id"], keep="first", maintain_order=True)
        plan = replace(plan, related=related)
    if plan.related.is_empty():
        return plan, None
    return plan, following_owner_changes(ledger, connector, plan.related, owner_field=project.outputs[owner],
                                         saved=saved, resumed=resumed)


def following_owner_changes(ledger: Ledger, connector: Connector, related: pl.DataFrame, *, owner_field: str,
                            saved: bool, resumed: pl.DataFrame | None = None) -> FollowUp:
    """The apply step after the account writes: move the records of accounts whose owner change landed.

    The records of an account whose change failed, was skipped or was not sent stay with
    their owner and are ledgered as skipped, saying why. `resumed` (`resumed_changes`)
    follow owner changes an earlier run landed, so they are written as they are.
    """
    def follow(run_id: int) -> tuple[int, pl.DataFrame]:
        landed = ledger.writes(run_id, WRITTEN).filter(pl.col("field") == owner_field).select(
            pl.col("id").alias("account"), "after")
        if resumed is not None:
            landed = pl.concat([landed, resumed.select("account", "after")])
        stranded = related.join(landed, on=["account", "after"], how="anti", maintain_order="left")
        if not stranded.is_empty():
            ledger.record_skipped(run_id, stranded.select(_LEDGERED),
                                  "not moved: its account's owner change did not land")
            log.warning("%d related record(s) stay with their owner: their account's owner change did not land",
                        stranded.height)
        following = related.join(landed, on=["account", "after"], how="semi", maintain_order="left")
        return write_related(ledger, connector, run_id, following, saved=saved)

    return follow


def restoring(ledger: Ledger, connector: Connector, related: pl.DataFrame) -> FollowUp:
    """The rollback step after the account writes: restore related records, each on its own."""
    def follow(run_id: int) -> tuple[int, pl.DataFrame]:
        return write_related(ledger, connector, run_id, related, saved=False)

    return follow


def write_related(ledger: Ledger, connector: Connector, run_id: int, related: pl.DataFrame, *,
                  saved: bool) -> tuple[int, pl.DataFrame]:
    """Write related owner changes object by object through `apply_changes`, ledgered with their object.

    With `saved`, records whose owner changed in the CRM since the plan are skipped.

    Returns:
        The number written and the failures (id, `<object>.<field>`, error).
    """
    if related.is_empty():
        return 0, pl.DataFrame(schema=FAILED_SCHEMA)
    records = _related_owners(connector)
    written, failures = 0, [pl.DataFrame(schema=FAILED_SCHEMA)]
    for (name,), group in related.group_by("object", maintain_order=True):
        view = records.related_records(str(name))
        changes = group.select(_LEDGERED)
        if saved:
            changes, drifted = drift(view, changes)
            if not drifted.is_empty():
                ledger.record_skipped(run_id, drifted, "changed in the CRM since the plan was made")
                log.warning("%d %s owner(s) changed in the CRM since the plan; skipped", drifted.height, name)
        count, failed = apply_changes(ledger, view, run_id, RowChanges(changes))
        written += count
        failures.append(failed.with_columns(pl.format("{}.{}", pl.lit(str(name)), "field").alias("field")))
    return written, pl.concat(failures)


def related_calls(connector: Connector, related: pl.DataFrame, *, saved: bool) -> int:
    """About the API calls writing `related` costs, for the budget guard: its writes and the reads they need.

    Per object: one call per write batch, the first call that reads the object's fields,
    and with `saved` the drift check's reads by id (batches no smaller than the writes').
    The lookups of which records follow were made with the plan, before the budget is read.
    """
    if related.is_empty():
        return 0
    records = _related_owners(connector)
    calls = 0
    for (name,), group in related.group_by("object", maintain_order=True):
        batches = math.ceil(group.height / max(records.related_records(str(name)).batch_size, 1))
        calls += 1 + batches * (2 if saved else 1)
    return calls


def rollback_related(ledger: Ledger, connector: Connector, target: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The related owner changes that undo run `target`, and those left alone because they changed since.

    The same rule as for accounts: a record is restored only while it holds what the run wrote.
    """
    written = ledger.related_writes(target, WRITTEN)
    empty = pl.DataFrame(schema=RELATED_SCHEMA)
    if written.is_empty():
        return empty, empty
    records = _related_owners(connector)
    first = written.group_by(["object", "id", "field"], maintain_order=True).agg(
        pl.col("before").first(), pl.col("after").last(), pl.col("rule").first())
    account = pl.when(pl.col("rule").str.starts_with(FOLLOWS)).then(pl.col("rule").str.strip_prefix(FOLLOWS))
    undo, changed = [empty], [empty]
    for (name,), group in first.group_by("object", maintain_order=True):
        checked = current_values(records.related_records(str(name)), group)
        unchanged = same_value(pl.col("current"), pl.col("after"))
        for keep, part, now in ((unchanged, undo, "after"), (~unchanged, changed, "current")):
            part.append(checked.filter(keep).select(
                "object", "id", "field", pl.col(now).alias("before"), pl.col("before").alias("after"),
                account.alias("account"), pl.lit(f"rollback:{target}").alias("rule")))
    return pl.concat(undo), pl.concat(changed)


def recover_related(ledger: Ledger, connector: Connector) -> int:
    """Settle related writes no answer settled (killed runs, lost answers) by reading the CRM back.

    Runs this process is still running are left alone, as `apply.recover` leaves them.

    Returns:
        How many writes were settled.
    """
    pending = ledger.related_pending()
    if pending.is_empty() or not isinstance(connector, RelatedOwners):
        return 0
    mine = {run.id for run in ledger.runs(1000) if run.status == RUNNING} - {r.id for r in ledger.abandoned_runs()}
    pending = pending.filter(~pl.col("run_id").is_in(list(mine)))
    for (name,), group in pending.group_by("object", maintain_order=True):
        checked = current_values(connector.related_records(str(name)), group)
        landed = same_value(pl.col("current"), pl.col("after"))
        ledger.record_results(checked.select(
            "row", pl.when(landed).then(pl.lit(WRITTEN)).otherwise(pl.lit(NOT_WRITTEN)).alias("result"),
            pl.when(landed).then(None).otherwise(pl.lit("it had not landed when the CRM was read back"))
            .alias("error"),
        ))
    for run_id in set(pending["run_id"].to_list()):
        ledger.recount(run_id)
    return pending.height


def _related_owners(connector: Connector) -> RelatedOwners:
    if not isinstance(connector, RelatedOwners):
        raise InvalidInputError(f"owner_change: the {connector.kind} connector cannot move related records")
    return connector
