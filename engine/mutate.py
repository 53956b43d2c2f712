"""Mutation testing of a rulebook: change one thing at a time and see whether any test notices."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import polars as pl
import rule_engine
import z3

from revrules.engine.columns import list_column
from revrules.engine.compile import UnsupportedError, compile_expression
from revrules.engine.convert import ID, FieldType
from revrules.engine.coverage import evaluate_tests, split_operands
from revrules.engine.definitions import Decision, Expression, Rule, Rulebook
from revrules.engine.evaluate import evaluate
from revrules.engine.lint.symbolic import Model
from revrules.engine.testcases import CURRENT_OWNER
from revrules.engine.threevalued import row_fallback

_FLIPS = {">=": ">", ">": ">=", "<=": "<", "<": "<=", "==": "!=", "!=": "=="}
_COMPARISON = re.compile(r"(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)?")


@dataclass(frozen=True)
class Mutant:
    """One changed rulebook and what changed, in words."""

    description: str
    where: str
    book: Rulebook


@dataclass(frozen=True)
class MutationReport:
    """How many mutants the tests killed, and each survivor."""

    total: int
    survivors: tuple[Mutant, ...]

    @property
    def score(self) -> float:
        """Killed mutants over all mutants, as a percentage."""
        return 100.0 * (self.total - len(self.survivors)) / self.total if self.total else 100.0

    def to_json(self) -> dict[str, Any]:
        """Plain data for `test --mutate --json`."""
        return {"score": round(self.score, 1), "mutants": self.total, "killed": self.total - len(self.survivors),
                "survivors": [{"where": m.where, "description": m.description} for m in self.survivors]}


def mutants(book: Rulebook) -> Iterator[Mutant]:
    """Every mutant: flipped comparisons, moved thresholds, dropped conjuncts, swapped `then`s, reordered rules."""
    for decision in book.decisions:
        for i, rule in enumerate(decision.rules):
            for source, change in _condition_mutations(rule.when.source):
                when = _reparse(book, rule.when, source)
                if when is not None:
                    yield Mutant(f"rule '{rule.id}' {change}", rule.when.where,
                                 _with_rule(book, decision, i, replace(rule, when=when)))
        if decision.hit in ("first", "unique"):
            yield from _order_mutants(book, decision, _Overlap(book))
    for n, item in enumerate(book.lists):
        for source, change in _condition_mutations(item.when.source):
            when = _reparse(book, item.when, source)
            if when is not None:
                lists = list(book.lists)
                lists[n] = replace(item, when=when)
                yield Mutant(f"list '{item.id}' {change}", item.when.where, replace(book, lists=tuple(lists)))


class _Overlap:
    """Whether two rules can hold together: reordering rules that never do changes nothing (an equivalent mutant)."""

    def __init__(self, book: Rulebook) -> None:
        self.model = Model(book, abstract=True)
        self.solver = z3.Solver()
        self.solver.set(timeout=1000)

    def __call__(self, a: Rule, b: Rule) -> bool:
        both = z3.And(self.model.holds(a.when), self.model.holds(b.when))
        self.solver.push()
        try:
            self.solver.add(*self.model.constraints, both)
            return bool(self.solver.check() != z3.unsat)
        finally:
            self.solver.pop()


def _order_mutants(book: Rulebook, decision: Decision, overlap: _Overlap) -> Iterator[Mutant]:
    rules = decision.rules
    for i in range(len(rules) - 1):
        a, b = rules[i], rules[i + 1]
        if a.then != b.then:
            swapped = list(rules)
            swapped[i], swapped[i + 1] = replace(a, then=b.then), replace(b, then=a.then)
            yield Mutant(f"rules '{a.id}' and '{b.id}' swapped their `then` values ({a.then!r} and {b.then!r})",
                         a.when.where, _with_rules(book, decision, tuple(swapped)))
        if decision.hit == "first" and overlap(a, b):
            reordered = list(rules)
            reordered[i], reordered[i + 1] = b, a
            yield Mutant(f"rule '{b.id}' came before '{a.id}'", a.when.where,
                         _with_rules(book, decision, tuple(reordered)))


def _condition_mutations(source: str) -> Iterator[tuple[str, str]]:
    masked = _mask_strings(source)
    for match in _COMPARISON.finditer(masked):
        operator, number = match.group(1), match.group(2)
        start, end = match.span(1)
        flipped = source[:start] + _FLIPS[operator] + source[end:]
        yield flipped, f"read `{flipped}` instead of `{source}`"
        if number is not None and operator not in ("==", "!="):
            n_start, n_end = match.span(2)
            step = 1 if operator in (">=", ">") else -1
            moved_value = float(number) + step
            text = str(int(moved_value)) if moved_value.is_integer() else str(moved_value)
            moved = source[:n_start] + text + source[n_end:]
            yield moved, f"read `{moved}` instead of `{source}`"
    operands = split_operands(source)
    if len(operands) > 1 and " or " not in masked:
        for k, operand in enumerate(operands):
            rest = " and ".join(f"({o})" for j, o in enumerate(operands) if j != k)
            yield rest, f"did not check `{operand}`"


def _mask_strings(source: str) -> str:
    return re.sub(r"'[^']*'|\"[^\"]*\"", lambda m: "_" * len(m.group(0)), source)


def _reparse(book: Rulebook, old: Expression, source: str) -> Expression | None:
    try:
        parsed = rule_engine.Rule(source, context=old.rule.context)
    except rule_engine.errors.EngineError:
        return None
    columns = {name: _column(name, book.kinds.get(name, FieldType.STRING)) for name in old.symbols}
    try:
        compiled = compile_expression(parsed.statement.expression, columns)
    except UnsupportedError:
        compiled = row_fallback(parsed.statement.expression, columns, pl.Boolean())
    except Exception:  # noqa: BLE001 -- a mutant that does not type-check is simply not a mutant
        return None
    return replace(old, source=source, rule=parsed, compiled=compiled)


def _column(name: str, kind: FieldType) -> pl.Expr:
    if kind == FieldType.DATE:
        return pl.col(name).cast(pl.Datetime("us", "UTC"))
    if kind == FieldType.INTEGER:
        return pl.col(name).cast(pl.Float64)
    return pl.col(name)


def _with_rule(book: Rulebook, decision: Decision, index: int, rule: Rule) -> Rulebook:
    rules = list(decision.rules)
    rules[index] = rule
    return _with_rules(book, decision, tuple(rules))


def _with_rules(book: Rulebook, decision: Decision, rules: tuple[Rule, ...]) -> Rulebook:
    decisions = tuple(replace(d, rules=rules) if d.name == decision.name else d for d in book.decisions)
    return replace(book, decisions=decisions)


def run_mutation(book: Rulebook, evaluated: pl.DataFrame | None = None) -> MutationReport:
    """Evaluate every mutant against every test; a mutant survives when all tests still pass.

    Tests run together in one frame per mutant, with each test's derived values taken from
    its own evaluation (so pinned and quantile values stay as `test` sees them). Owner
    routing depends on the whole run, so an owner expectation counts as noticed when the
    mutant moves the test's territory, and as unchanged otherwise.
    """
    base = evaluate_tests(book) if evaluated is None else evaluated
    if base.is_empty():
        return MutationReport(0, ())
    inputs = [ID, *book.fields, *(d.name for d in book.derives), CURRENT_OWNER]
    frame = base.select([c for c in inputs if c in base.columns])
    given = [d.name for d in book.derives]
    territories = book.territories
    owner = territories.owner_output if territories else None
    survivors, total = [], 0
    for mutant in mutants(book):
        total += 1
        quiet = mutant.book
        if quiet.territories is not None and owner:
            quiet = replace(quiet, territories=replace(quiet.territories, owner_output=None))
        rows = evaluate(quiet, frame, current_owner=CURRENT_OWNER, given=given)
        if not _noticed(book, rows, base, owner):
            survivors.append(mutant)
    return MutationReport(total, tuple(survivors))


def _noticed(book: Rulebook, rows: pl.DataFrame, base: pl.DataFrame, owner: str | None) -> bool:
    territory = book.territories.output if book.territories else None
    for n, case in enumerate(book.tests):
        row = rows.row(n, named=True)
        for key, expected in case.expect.items():
            if key == "lists":
                actual: Any = sorted(m.id for m in book.lists if row[list_column(m.id)])
                wanted = sorted(expected or []) if isinstance(expected, list) else [expected]
                if actual != wanted:
                    return True
            elif key == owner:
                if territory and row[territory] != base[territory][n]:
                    return True
            elif not _same(expected, row.get(key)):
                return True
    return False


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, list) or isinstance(actual, list):
        return (isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual)
                and all(_same(e, a) for e, a in zip(expected, actual, strict=True)))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return bool(expected == actual)
