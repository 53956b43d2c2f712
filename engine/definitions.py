"""The loaded rulebook as plain data: expressions, rules, decisions, territories, lists and tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import rule_engine

from revrules.engine.convert import FieldType


@dataclass(frozen=True)
class Expression:
    """A checked `when` or derive expression and its compiled polars form."""

    source: str
    rule: rule_engine.Rule
    symbols: tuple[str, ...]
    kind: FieldType
    compiled: pl.Expr
    fallback: bool
    where: str


@dataclass(frozen=True)
class Rule:
    """One rule of a decision; `then` is its value when the condition holds."""

    id: str
    when: Expression
    then: Any


@dataclass(frozen=True)
class LookupTable:
    """A loaded lookup table: `__key` (trimmed, lower case), `__line` (its CSV line), typed value columns."""

    name: str
    file: str
    path: Path
    match: str
    table: pl.DataFrame
    kinds: dict[str, FieldType]
    priority: str | None = None


@dataclass(frozen=True)
class LookupJoin:
    """A lookup derive: the row of `table` whose key matches `key`, and the column it reads."""

    table: LookupTable
    key: Expression
    column: str


@dataclass(frozen=True)
class FamilyValue:
    """A family derive: `parent`/`ultimate` read `of` on that record; `count|sum|min|max|any` over the family."""

    how: str
    of: Expression | None


@dataclass(frozen=True)
class Derive:
    """A computed input: an expression, a quantile bucket over the population, or a lookup."""

    name: str
    kind: FieldType
    expression: Expression | None = None
    quantile_of: str | None = None
    buckets: int = 0
    lookup: LookupJoin | None = None
    family: FamilyValue | None = None

    @property
    def reads(self) -> tuple[str, ...]:
        """The names this value is computed from."""
        if self.lookup is not None:
            return self.lookup.key.symbols
        if self.family is not None:
            return self.family.of.symbols if self.family.of else ()
        return self.expression.symbols if self.expression else (self.quantile_of or "",)


@dataclass(frozen=True)
class Decision:
    """A decision: its rules, hit policy, default and value type."""

    name: str
    hit: str
    rules: tuple[Rule, ...]
    default: Any
    kind: FieldType
    description: str | None = None

    @property
    def depends_on(self) -> frozenset[str]:
        """Every name the rules read."""
        return frozenset(s for rule in self.rules for s in rule.when.symbols)


CATCH_UP_POLICIES = ("fair", "none")


@dataclass(frozen=True)
class Owner:
    """A member of an owner pool.

    `active: false` means gone: the owner keeps nothing and their book is redistributed.
    `away_until` means away: the owner keeps their book but gets no new accounts before
    that date; from that date on, `catch_up` says whether they get priority until their
    load reaches their share (`fair`) or simply take their turn (`none`).
    """

    id: str
    weight: float = 1.0
    capacity: float | None = None
    active: bool = True
    away_until: dt.date | None = None
    catch_up: str = "fair"

    def away_on(self, today: dt.date) -> bool:
        """True when the owner is away on `today`: keeps their book, receives nothing new."""
        return self.away_until is not None and today < self.away_until

    def status(self, today: dt.date) -> str:
        """`gone`, `away until DATE` or `active`, as the plan and explain show it."""
        if not self.active:
            return "gone"
        if self.away_until is not None and self.away_on(today):
            return f"away until {self.away_until.isoformat()}"
        return "active"


@dataclass(frozen=True)
class Pool:
    """Owners who share a book: loads and capacities count across every territory using the pool."""

    id: str
    owners: tuple[Owner, ...]
    balance_by: str | None = None

    @property
    def active(self) -> tuple[Owner, ...]:
        """The owners who can keep or receive accounts."""
        return tuple(owner for owner in self.owners if owner.active)

    def without_away(self, today: dt.date) -> Pool:
        """The pool with the members away on `today` left out (they neither give nor receive)."""
        return Pool(self.id, tuple(o for o in self.owners if not o.away_on(today)), self.balance_by)


@dataclass(frozen=True)
class Territory:
    """A node of the territory tree; a leaf may route owners from a pool, with an overflow."""

    id: str
    when: Expression
    pool: Pool | None = None
    overflow_pool: Pool | None = None
    overflow_owner: str | None = None
    children: tuple[Territory, ...] = ()


@dataclass(frozen=True)
class Territories:
    """The territory tree and where its results go."""

    output: str
    owner_output: str | None
    tree: tuple[Territory, ...]
    value: str | None = None
    families: str = "separate"

    def nodes(self) -> list[Territory]:
        """Every node once, in depth-first order."""
        return list({node.id: node for path in self.leaves() for node in path}.values())

    def leaves(self) -> list[tuple[Territory, ...]]:
        """Each leaf with its ancestors, root first, in depth-first order."""
        found: list[tuple[Territory, ...]] = []

        def walk(node: Territory, ancestors: tuple[Territory, ...]) -> None:
            path = (*ancestors, node)
            if not node.children:
                found.append(path)
            for child in node.children:
                walk(child, path)

        for root in self.tree:
            walk(root, ())
        return found


@dataclass(frozen=True)
class MarketingList:
    """A list whose members are the records where `when` holds."""

    id: str
    name: str
    when: Expression
    include_contacts: bool = False
    """Also sync a contact list of the member companies' contacts (HubSpot only)."""


@dataclass(frozen=True)
class TestCase:
    """A rulebook test case."""

    name: str
    account: dict[str, Any]
    expect: dict[str, Any]
    where: str


@dataclass(frozen=True)
class Rulebook:
    """Everything the evaluator needs, checked and compiled."""

    fields: dict[str, FieldType]
    derives: tuple[Derive, ...]
    decisions: tuple[Decision, ...]
    territories: Territories | None
    lists: tuple[MarketingList, ...]
    tests: tuple[TestCase, ...]
    files: tuple[Path, ...]
    hash: str = ""
    kinds: dict[str, FieldType] = field(default_factory=dict)

    def decision(self, name: str) -> Decision:
        """The decision called `name`."""
        return next(d for d in self.decisions if d.name == name)

    def expressions(self) -> Iterable[tuple[str, Expression]]:
        """Every expression with a readable label, for `check`."""
        for derive in self.derives:
            if derive.expression:
                yield f"derive {derive.name}", derive.expression
        for decision in self.decisions:
            for rule in decision.rules:
                yield f"rule {rule.id}", rule.when
        if self.territories:
            for node in self.territories.nodes():
                yield f"territory {node.id}", node.when
        for marketing_list in self.lists:
            yield f"list {marketing_list.id}", marketing_list.when
