"""Run rulebook tests: each test account is evaluated alone and compared with `expect`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from revrules.engine.columns import list_column
from revrules.engine.convert import ID, FieldType, convert_values
from revrules.engine.definitions import Rulebook, TestCase
from revrules.engine.evaluate import evaluate
from revrules.engine.explain import explain_record

CURRENT_OWNER = "__current_owner"


@dataclass(frozen=True)
class Mismatch:
    """One expected value that the rulebook did not produce."""

    key: str
    expected: Any
    actual: Any


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one rulebook test, with the explain trace when it failed."""

    name: str
    where: str
    mismatches: tuple[Mismatch, ...]
    trace: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """True when every expected value matched."""
        return not self.mismatches


def record_frame(book: Rulebook, account: dict[str, Any], record_id: str = "test") -> tuple[pl.DataFrame, list[str]]:
    """A one-record typed frame from raw account values, and the derived names it pins."""
    columns: dict[str, pl.Series] = {ID: pl.Series(ID, [record_id], dtype=pl.String)}
    for name, kind in book.fields.items():
        columns[name] = convert_values([account.get(name)], kind).alias(name)
    given = [d.name for d in book.derives if d.name in account]
    for derive in book.derives:
        if derive.name in account:
            columns[derive.name] = convert_values([account[derive.name]], derive.kind).alias(derive.name)
    owner_output = book.territories.owner_output if book.territories else None
    owner = account.get(owner_output) if owner_output else None
    columns[CURRENT_OWNER] = convert_values([owner], FieldType.STRING).alias(CURRENT_OWNER)
    return pl.DataFrame(list(columns.values())), given


def evaluate_account(book: Rulebook, account: dict[str, Any], record_id: str = "test") -> pl.DataFrame:
    """Evaluate one account given as raw field values."""
    frame, given = record_frame(book, account, record_id)
    return evaluate(book, frame, current_owner=CURRENT_OWNER, given=given)


def run_case(book: Rulebook, case: TestCase, row: dict[str, Any] | None = None) -> CaseResult:
    """Evaluate one test case (or take its evaluated `row`) and compare each expected value."""
    evaluated = None
    if row is None:
        evaluated = evaluate_account(book, case.account)
        row = evaluated.row(0, named=True)
    mismatches = []
    for key, wanted in case.expect.items():
        expected = wanted
        if key == "lists":
            actual: Any = sorted(m.id for m in book.lists if row[list_column(m.id)])
            expected = sorted(wanted or []) if isinstance(wanted, list) else [wanted]
        else:
            actual = row.get(key)
        if not _same(expected, actual):
            mismatches.append(Mismatch(key, expected, _plain(actual)))
    if mismatches and evaluated is None:
        evaluated = evaluate_account(book, case.account)
    trace = explain_record(book, evaluated, "test") if evaluated is not None and mismatches else None
    return CaseResult(case.name, case.where, tuple(mismatches), trace)


def run_tests(book: Rulebook, evaluated: pl.DataFrame | None = None) -> list[CaseResult]:
    """Every test in the rulebook, in file order.

    Args:
        book: The rulebook.
        evaluated: One evaluated row per test, in test order (`coverage.evaluate_tests`),
            when `test --coverage` or `--mutate` has them already: each test is then
            evaluated once, not twice.
    """
    if evaluated is None or evaluated.height != len(book.tests):
        return [run_case(book, case) for case in book.tests]
    return [run_case(book, case, row) for case, row in zip(book.tests, evaluated.iter_rows(named=True), strict=True)]


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, list) or isinstance(actual, list):
        return isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual) and all(
            _same(e, a) for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return bool(expected == actual)


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value
