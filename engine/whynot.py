"""Why a result is not another value: the fewest input changes for a decision, the reasons for an owner."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl
import z3

from revrules.engine.columns import rule_column
from revrules.engine.convert import ID, FieldType
from revrules.engine.definitions import Owner, Pool, Rulebook, Territories
from revrules.engine.lint.symbolic import Collected, Model, Truth, Value, _literal
from revrules.engine.routing import KEPT

_NUMERIC = (FieldType.NUMBER, FieldType.INTEGER)


@dataclass(frozen=True)
class Change:
    """One input that has to change: its current value, an example new value, and a readable sentence."""

    field: str
    current: Any
    example: Any
    sentence: str


_DERIVED_WEIGHT = 100
"""Soft-constraint weight of keeping a derived value the solver treats as an input (a field's is 1)."""


def why_not(book: Rulebook, account: dict[str, Any], decision: str, wanted: Any,
            *, timeout_ms: int = 5000) -> list[Change] | None:
    """The fewest changes to `account` that make `decision` take `wanted`; None when no record can."""
    model = Model(book)
    term = model.term(decision)
    goal = _goal(term, wanted)
    optimizer = z3.Optimize()
    optimizer.set(timeout=timeout_ms)
    optimizer.add(*model.constraints, goal)
    keep = {name: _same(item, account.get(name)) for name, item in model.inputs.items()}
    derived = {derive.name for derive in book.derives}
    for name, held in keep.items():
        # A derived value the solver cannot see through (a lookup, say) is a last resort: a change to a
        # field the record holds is what a rep can act on, and ties must not depend on the solver's whim.
        optimizer.add_soft(held, _DERIVED_WEIGHT if name in derived else 1)
    if optimizer.check() != z3.sat:
        return None
    found = optimizer.model()
    changed = [name for name, held in keep.items() if not z3.is_true(found.eval(held, model_completion=True))]
    example = model.witness(found)
    changes = []
    for name in changed:
        item = model.inputs[name]
        current = account.get(name)
        sentence = f"{name} would need to be {_show(example.get(name))}; it is {_show(current)}"
        if name in derived:
            sentence += " (a derived value: change what it reads)"
        if item.kind in _NUMERIC and example.get(name) is not None:
            others = [keep[other] for other in keep if other != name]
            bound = _bound(model, goal, others, item.value, item.null, current, example[name])
            if bound:
                sentence = f"{name} would need to be {bound}; it is {_show(current)}"
        changes.append(Change(name, current, example.get(name), sentence))
    return changes


def _goal(term: Any, wanted: Any) -> Any:
    if isinstance(term, Truth):
        return term.true if wanted in (True, "true") else term.false
    if isinstance(term, Collected):
        return z3.Or(*[h for h, then in term.items if then == str(wanted)] or [z3.BoolVal(False)])
    if isinstance(term, Value):
        if wanted is None:
            return term.null
        value = float(wanted) if term.sort == "num" else wanted
        return z3.And(z3.Not(term.null), term.value == _literal(value))
    return z3.BoolVal(False)


def _same(item: Any, current: Any) -> Any:
    if current is None:
        return item.null
    if item.kind in _NUMERIC:
        try:
            return z3.And(z3.Not(item.null), item.value == z3.RealVal(str(float(current))))
        except ValueError:
            return item.null
    if item.kind == FieldType.BOOLEAN:
        return z3.And(z3.Not(item.null), item.value == z3.BoolVal(bool(current)))
    text = z3.StringVal(str(current).strip())
    if item.cased and not item.direct:
        # Only the cased text is read: the field keeps its value when the cased copy matches it.
        cased = next(iter(item.cased.items()))
        text = z3.StringVal(str(current).strip().lower() if cased[0] == "as_lower" else str(current).strip().upper())
        return z3.And(z3.Not(item.null), cased[1] == text)
    return z3.And(z3.Not(item.null), item.value == text)


def _bound(model: Model, goal: Any, others: list[Any], value: Any, null: Any,  # noqa: PLR0917
           current: Any, example: float) -> str:
    """`at least N` / `more than N` / `at most N` / `less than N`: the nearest value that works."""
    upward = current is None or example > float(current)
    optimizer = z3.Optimize()
    optimizer.add(*model.constraints, goal, *others, z3.Not(null))
    handle = optimizer.minimize(value) if upward else optimizer.maximize(value)
    if optimizer.check() != z3.sat:
        return ""
    edge = optimizer.lower(handle) if upward else optimizer.upper(handle)
    if not _is_number(edge):
        # An open bound comes back as `N + epsilon`: the edge itself does not work.
        edge = z3.simplify(z3.substitute(edge, *[(c, z3.RealVal(0)) for c in _constants(edge)]))
        if not _is_number(edge):
            return ""
        number = _number(edge)
        return f"{'more' if upward else 'less'} than {_show(number)}"
    number = _number(edge)
    return f"at {'least' if upward else 'most'} {_show(number)}"


def _constants(expr: Any) -> list[Any]:
    found = []
    for child in expr.children():
        if z3.is_const(child) and not _is_number(child):
            found.append(child)
        found += _constants(child)
    return found


def _is_number(value: Any) -> bool:
    return bool(z3.is_rational_value(value) or z3.is_int_value(value))


def _number(value: Any) -> float:
    if z3.is_int_value(value):
        return float(value.as_long())
    fraction = value.as_fraction()
    return float(fraction.numerator / fraction.denominator)


def _show(value: Any) -> str:
    if value is None:
        return "blank"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class OwnerReason:
    """One reason a person was not chosen as an account's owner: a stable code and a sentence."""

    code: str
    """`chosen`, `no-pool`, `not-in-pool`, `gone`, `unavailable`, `away`, `at-capacity`, `kept` or `higher-load`."""
    sentence: str


def why_not_owner(book: Rulebook, evaluated: pl.DataFrame, record_id: str, person: str, *,
                  unavailable: frozenset[str] = frozenset(), today: dt.date) -> list[OwnerReason]:
    """Why `person` is not the owner `evaluated` gave `record_id`, most decisive reason first.

    Args:
        book: The rulebook; its territories route owners.
        evaluated: `evaluate`'s frame over every record read (loads count across it).
        record_id: The account.
        person: The owner id asked about.
        unavailable: Owner ids unknown or inactive in the CRM.
        today: The day the run is for (who is away).

    Raises:
        KeyError: The record is not in `evaluated`.
    """
    territories = book.territories
    if territories is None or territories.owner_output is None:
        return [OwnerReason("no-pool", "the rulebook's territories route no owners")]
    output = territories.owner_output
    row = evaluated.filter(pl.col(ID) == record_id).head(1)
    if row.is_empty():
        raise KeyError(record_id)
    chosen, why, territory = row.item(0, output), row.item(0, rule_column(output)), row.item(0, territories.output)
    if chosen == person:
        return [OwnerReason("chosen", f"{person} is the owner ({why})")]
    leaf = next((path[-1] for path in territories.leaves() if path[-1].id == territory), None)
    pools = [p for p in (leaf.pool, leaf.overflow_pool) if p is not None] if leaf else []
    if not pools:
        where = f"territory {territory}" if territory else "no territory"
        return [OwnerReason("no-pool", f"the account is in {where}, which routes no owners")]
    member = next((o for p in pools for o in p.owners if o.id == person), None)
    if member is None:
        return [OwnerReason("not-in-pool", f"{person} is not in pool {' or '.join(p.id for p in pools)} of territory "
                                           f"{territory}; {_pools_of(territories, person)}")]
    pool = next(p for p in pools if member in p.owners)
    reasons = []
    if not member.active:
        reasons.append(OwnerReason("gone", f"{person} is gone (active: false in pool {pool.id}): keeps nothing"))
    elif person in unavailable:
        reasons.append(OwnerReason("unavailable", f"{person} is unknown or inactive in the CRM"))
    elif member.away_on(today):
        reasons.append(OwnerReason("away", f"{person} is {member.status(today)}: keeps their book, gets no new "
                                           "accounts"))
    loads = _loads(evaluated, output, pool)
    measure = f"{pool.balance_by} " if pool.balance_by else "accounts "
    mine, theirs = loads.get(person, 0.0), loads.get(chosen, 0.0) if chosen else 0.0
    capacity = _capacity(territories, person)
    if capacity is not None and mine >= capacity:
        reasons.append(OwnerReason("at-capacity", f"{person} is at capacity: holds {_figure(mine)} {measure}of "
                                                  f"{_figure(capacity)}"))
    if why == KEPT:
        reasons.append(OwnerReason("kept", f"the account stays with its current owner {chosen}, a member of pool "
                                           f"{pool.id}: routing moves an account only when its owner leaves the pool "
                                           "(or with --rebalance)"))
    elif chosen is not None and not reasons:
        other = next((o for p in pools for o in p.owners if o.id == chosen), None)
        weight = other.weight if other else 1.0
        then = _loads(evaluated.filter((pl.col(rule_column(output)) == KEPT) | (pl.col(ID) < record_id)), output, pool)
        mine_then, theirs_then = then.get(person, 0.0), then.get(chosen, 0.0)
        tie = mine_then / member.weight == theirs_then / weight
        reasons.append(OwnerReason("higher-load", (
            f"{person} was not the least loaded: each new account goes to the member with the lowest load per "
            f"weight{', ties to the one listed first' if tie else ''}. When this account was routed (kept accounts "
            f"first, then new ones in id order): {person} held {_figure(mine_then)} {measure}/ weight "
            f"{_figure(member.weight)} = {_figure(mine_then / member.weight)}, {chosen} {_figure(theirs_then)} / "
            f"{_figure(weight)} = {_figure(theirs_then / weight)}; after the run: {_figure(mine)} and "
            f"{_figure(theirs)}")))
    if chosen is None and not reasons:
        reasons.append(OwnerReason("at-capacity", f"nobody in pool {pool.id} could take the account ({why})"))
    return reasons


def _loads(evaluated: pl.DataFrame, output: str, pool: Pool) -> dict[str, float]:
    """Owner -> what they hold across every territory: accounts, or the sum of the pool's balance_by field."""
    load = pl.col(pool.balance_by).cast(pl.Float64).fill_null(0.0).sum() if pool.balance_by else pl.len()
    totals = evaluated.group_by(output).agg(load.cast(pl.Float64).alias("load")).drop_nulls(output)
    return {str(owner): float(load) for owner, load in totals.iter_rows()}


def _capacity(territories: Territories, person: str) -> float | None:
    """The person's one capacity: the smallest any pool lists (SPEC §3)."""
    listed = [o.capacity for o in _memberships(territories, person).values() if o.capacity is not None]
    return min(listed, default=None)


def _memberships(territories: Territories, person: str) -> dict[str, Owner]:
    """Pool id -> the person's entry in it, for every pool that lists them."""
    pools = (p for path in territories.leaves() for p in (path[-1].pool, path[-1].overflow_pool) if p is not None)
    return {pool.id: owner for pool in pools for owner in pool.owners if owner.id == person}


def _pools_of(territories: Territories, person: str) -> str:
    found: dict[str, list[str]] = {}
    for path in territories.leaves():
        for pool in (path[-1].pool, path[-1].overflow_pool):
            if pool is not None and any(o.id == person for o in pool.owners):
                found.setdefault(pool.id, []).append(path[-1].id)
    if not found:
        return f"{person} is in no pool of this rulebook"
    listed = "; ".join(f"{pool} (territories {', '.join(leaves)})" for pool, leaves in found.items())
    return f"{person} is in pool{'s' if len(found) > 1 else ''} {listed}"


def _figure(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
