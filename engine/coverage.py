"""Rulebook test coverage: which rules, defaults, territory leaves and lists the tests exercise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from rule_engine import ast

from revrules.engine.columns import DEFAULT, list_column, rule_column
from revrules.engine.compile import UnsupportedError, compile_expression
from revrules.engine.convert import FieldType
from revrules.engine.definitions import Expression, Rulebook
from revrules.engine.testcases import evaluate_account

DECIDED, HELD, FAILED, MEMBER, NOT_MEMBER = "decided", "held", "failed", "member", "not member"


@dataclass(frozen=True)
class Operand:
    """One operand of an `and`/`or` condition and whether the tests saw it true and false."""

    source: str
    true: bool
    false: bool


@dataclass(frozen=True)
class Item:
    """A rule, default, territory leaf or list, and which of its goals some test reached."""

    kind: str
    group: str
    id: str
    where: str
    goals: dict[str, bool]
    operands: tuple[Operand, ...] = ()

    @property
    def missed(self) -> list[str]:
        """The goals no test reached."""
        return [goal for goal, reached in self.goals.items() if not reached]


@dataclass(frozen=True)
class Coverage:
    """Every item's goals, with per-group and total percentages."""

    items: tuple[Item, ...]
    tests: int

    def percent(self, group: str | None = None) -> float:
        """Reached goals over all goals, as a percentage, for one group or in total."""
        goals = [g for item in self.items if group in (None, item.group) for g in item.goals.values()]
        return 100.0 * sum(goals) / len(goals) if goals else 100.0

    def groups(self) -> list[str]:
        """Group names (decisions, `territories`, `lists`) in rulebook order."""
        return list(dict.fromkeys(item.group for item in self.items))

    def to_json(self) -> dict[str, Any]:
        """Plain data for `test --coverage --json`."""
        return {
            "percent": round(self.percent(), 1),
            "tests": self.tests,
            "groups": {group: round(self.percent(group), 1) for group in self.groups()},
            "items": [
                {"kind": i.kind, "group": i.group, "id": i.id, "where": i.where, "goals": i.goals,
                 "missed": i.missed,
                 "operands": [{"source": o.source, "true": o.true, "false": o.false} for o in i.operands]}
                for i in self.items
            ],
        }


def evaluate_tests(book: Rulebook) -> pl.DataFrame:
    """One evaluated row per rulebook test, in test order (each test evaluated alone, as `test` does)."""
    frames = [evaluate_account(book, case.account, f"test-{n}") for n, case in enumerate(book.tests)]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def measure(book: Rulebook, evaluated: pl.DataFrame | None = None) -> Coverage:
    """The coverage of `book`'s tests; `evaluated` is `evaluate_tests(book)` when already at hand."""
    rows = evaluate_tests(book) if evaluated is None else evaluated
    items: list[Item] = []
    if rows.is_empty():
        rows = pl.DataFrame()

    def seen(expr: pl.Expr) -> tuple[bool, bool]:
        if rows.is_empty():
            return False, False
        values = rows.select(expr.alias("v"))["v"]
        return bool((values == True).any()), bool((values == False).any())  # noqa: E712 -- null is neither

    def column(name: str) -> pl.Series:
        return rows[name] if name in rows.columns else pl.Series([], dtype=pl.String)

    for decision in book.decisions:
        deciders = column(rule_column(decision.name))
        for rule in decision.rules:
            held, failed = seen(rule.when.compiled)
            goals = {HELD: held, FAILED: failed}
            if decision.hit in ("first", "unique"):
                goals[DECIDED] = bool((deciders == rule.id).any())
            items.append(Item("rule", decision.name, rule.id, rule.when.where, goals,
                              _operands(book, rule.when, seen)))
        where = decision.rules[0].when.where if decision.rules else ""
        items.append(Item("default", decision.name, DEFAULT, where, {DECIDED: bool((deciders == DEFAULT).any())}))
    if book.territories is not None:
        territory = column(book.territories.output)
        for path in book.territories.leaves():
            leaf = path[-1]
            items.append(Item("leaf", "territories", leaf.id, leaf.when.where,
                              {DECIDED: bool((territory == leaf.id).any())}))
    for item in book.lists:
        member, non_member = seen(pl.col(list_column(item.id))) if not rows.is_empty() else (False, False)
        items.append(Item("list", "lists", item.id, item.when.where, {MEMBER: member, NOT_MEMBER: non_member},
                          _operands(book, item.when, seen)))
    return Coverage(tuple(items), rows.height)


def _operands(book: Rulebook, expression: Expression, seen: Any) -> tuple[Operand, ...]:
    root = expression.rule.statement.expression
    if not isinstance(root, ast.LogicExpression):
        return ()
    columns = {name: _column(name, book.kinds.get(name, FieldType.STRING)) for name in expression.symbols}
    nodes = _flatten(root)
    texts = split_operands(expression.source)
    if len(texts) != len(nodes):
        return ()
    found = []
    for node, text in zip(nodes, texts, strict=True):
        try:
            compiled = compile_expression(node, columns)
        except UnsupportedError:
            continue
        true, false = seen(compiled)
        found.append(Operand(text, true, false))
    return tuple(found)


def _flatten(node: Any) -> list[Any]:
    if isinstance(node, ast.LogicExpression):
        return _flatten(node.left) + _flatten(node.right)
    return [node]


def split_operands(source: str) -> list[str]:
    """The operands of a condition's `and`/`or` chains, as written, nested parentheses opened."""
    text = source.strip()
    while _wrapped(text):
        text = text[1:-1].strip()
    parts = _top_level_split(text)
    if len(parts) == 1:
        return [text]
    return [operand for part in parts for operand in split_operands(part)]


def _wrapped(text: str) -> bool:
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, (char, quoted) in enumerate(_scan(text)):
        if not quoted:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and i < len(text) - 1:
                return False
    return True


def _top_level_split(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    chars = list(_scan(text))
    i = 0
    while i < len(text):
        char, quoted = chars[i]
        if not quoted:
            depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(char, 0)
            for word in (" and ", " or "):
                if depth == 0 and text.startswith(word, i):
                    parts.append(text[start:i].strip())
                    start = i + len(word)
                    i = start - 1
                    break
        i += 1
    parts.append(text[start:].strip())
    return parts


def _scan(text: str) -> list[tuple[str, bool]]:
    """Each character with whether it sits inside a quoted string."""
    out, quote = [], ""
    for char in text:
        if quote:
            out.append((char, True))
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            out.append((char, True))
        else:
            out.append((char, False))
    return out


def _column(name: str, kind: FieldType) -> pl.Expr:
    if kind == FieldType.DATE:
        return pl.col(name).cast(pl.Datetime("us", "UTC"))
    if kind == FieldType.INTEGER:
        return pl.col(name).cast(pl.Float64)
    return pl.col(name)
