"""Who an account's previous owner is and why it left them: gone, unknown in the CRM, or away and kept."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from revrules.engine import model
from revrules.engine.definitions import Owner, Territories
from revrules.engine.routing import ASSIGNED, FAMILY, FULL, GONE, KEPT, NOBODY, OVERFLOW, REBALANCE, UNAVAILABLE

DEPARTURES = (GONE, UNAVAILABLE)
"""Reasons of accounts routed to a new owner because their owner left; routed like `least-loaded` ones."""

UNKNOWN_IN_CRM = "unknown or inactive in the CRM"


def pool_member(spec: model.OwnerModel) -> Owner:
    """The owner a rulebook's pool entry describes: active, gone (`active: false`) or away."""
    if spec.away is None:
        return Owner(spec.id, spec.weight, spec.capacity, spec.active)
    return Owner(spec.id, spec.weight, spec.capacity, spec.active, spec.away.until, spec.away.catch_up)


def previous_column(name: str) -> str:
    """The column holding each record's owner before routing."""
    return f"{name}#previous"


def status_column(name: str) -> str:
    """The column holding the previous owner's status: active, away until DATE, gone, unknown in the CRM."""
    return f"{name}#previous_status"


def listed_owners(territories: Territories) -> dict[str, Owner]:
    """Every pool member by id, as first listed in depth-first order of the territory leaves."""
    found: dict[str, Owner] = {}
    for path in territories.leaves():
        leaf = path[-1]
        for pool in (leaf.pool, leaf.overflow_pool):
            for owner in pool.owners if pool else ():
                found.setdefault(owner.id, owner)
    return found


def owner_statuses(territories: Territories, unavailable: frozenset[str], today: dt.date) -> dict[str, str]:
    """Owner id -> `active`, `away until DATE`, `gone` or `unknown or inactive in the CRM`."""
    statuses = {owner_id: owner.status(today) for owner_id, owner in listed_owners(territories).items()}
    statuses.update(dict.fromkeys(unavailable, UNKNOWN_IN_CRM))
    return statuses


def label_departures(
    frame: pl.DataFrame, territories: Territories, unavailable: frozenset[str], today: dt.date
) -> pl.DataFrame:
    """Give accounts that left a gone or unknown owner their own reason, and record the previous owner's status.

    Routing calls both `least-loaded`; the plan, explain and the hand-off digests say which
    one applies (`owner-gone`, `owner-unavailable`).
    """
    output = territories.owner_output or ""
    reason, previous = f"{output}#rule", pl.col(previous_column(output))
    statuses = owner_statuses(territories, unavailable, today)
    status = previous.replace_strict(statuses, default=None, return_dtype=pl.String)
    left = (pl.col(reason) == ASSIGNED) & previous.is_not_null()
    return frame.with_columns(
        pl.when(left & previous.is_in(sorted(unavailable))).then(pl.lit(UNAVAILABLE))
        .when(left & (status == "gone")).then(pl.lit(GONE))
        .otherwise(pl.col(reason)).alias(reason),
        status.alias(status_column(output)),
    )


def moved_because(owner: dict[str, Any]) -> str:
    """One sentence on why an account has its owner, naming the previous owner (an explain trace's `owner`)."""
    why, previous, status = owner.get("why"), owner.get("previous"), owner.get("previous_status")
    pool = owner.get("pool") or "(none)"
    if why == FAMILY:
        return f"goes with its family (families: together): the owner of ultimate parent {owner.get('ultimate')}"
    if why == KEPT:
        away = "" if status in (None, "active") else f"; {previous} is {status}: keeps the book, gets no new accounts"
        return f"kept by {previous}, a member of pool {pool}{away}"
    if why == REBALANCE:
        return f"moved from {previous} to even out pool {pool} (--rebalance)"
    if why in (FULL, NOBODY):
        who = "every member of pool " + pool + (" is at capacity" if why == FULL else
                                                  " is gone, away, or unknown or inactive in the CRM")
        return f"not assigned: {who}; stays with {previous or 'nobody'}"
    to = "the least-loaded member" if why != OVERFLOW else "the overflow"
    if previous is None:
        return f"had no owner: goes to {to} of pool {pool}"
    if why == GONE:
        return f"{previous} is gone (active: false): their book is redistributed to {to} of pool {pool}"
    if why == UNAVAILABLE:
        return f"{previous} is {UNKNOWN_IN_CRM}: goes to {to} of pool {pool}"
    if status == "gone":
        return f"{previous} is gone (active: false): goes to {to}"
    return f"{previous} is not a member of pool {pool} (territory change): goes to {to} of pool {pool}"
