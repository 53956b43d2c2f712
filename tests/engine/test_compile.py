"""The compiled polars expression agrees with rule-engine, and with SPEC §3 null semantics."""

from __future__ import annotations

import decimal
import re
from typing import Any

import polars as pl
import pytest
import rule_engine
import rule_engine.ast as ast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.datatypes import DataTypeClass
from rule_engine import DataType

from revrules.engine.compile import UnsupportedError, compile_expression
from revrules.engine.threevalued import row_fallback

TYPES = {
    "n1": DataType.FLOAT, "n2": DataType.FLOAT, "n3": DataType.FLOAT,
    "s1": DataType.STRING, "s2": DataType.STRING,
    "b1": DataType.BOOLEAN,
    "l1": DataType.ARRAY(DataType.STRING),
}
POLARS: dict[str, pl.DataType | DataTypeClass] = {
    "n1": pl.Float64, "n2": pl.Float64, "n3": pl.Float64, "s1": pl.String, "s2": pl.String,
    "b1": pl.Boolean, "l1": pl.List(pl.String)}
CONTEXT = rule_engine.Context(type_resolver=rule_engine.type_resolver_from_dict(TYPES), default_timezone="utc")
COLUMNS = {name: pl.col(name) for name in TYPES}
WORDS = ["", "a", "ab", "abc", "b", "ca", "Ab"]
PATTERNS = ["a", "b+", "^ab", "c$", "[ab]c", ".*", "a|b", "A"]

small_int = st.integers(-20, 20)
num_leaf = st.one_of(st.sampled_from(["n1", "n2", "n3"]), small_int.map(str))
str_leaf = st.one_of(st.sampled_from(["s1", "s2"]), st.sampled_from(WORDS).map(repr))


def _num(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, st.sampled_from(["%", "//"]), st.sampled_from(["3", "-4", "7"])).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"-({e})"),
    )


numbers = st.recursive(num_leaf, _num, max_leaves=4)
strings = st.one_of(str_leaf, str_leaf.map(lambda s: f"{s}.as_lower"), str_leaf.map(lambda s: f"{s}.as_upper"),
                    st.tuples(str_leaf, str_leaf).map(lambda t: f"({t[0]} + {t[1]})"))
atoms = st.one_of(
    st.just("b1"), st.sampled_from(["true", "false"]),
    st.tuples(numbers, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), numbers).map(" ".join),
    st.tuples(strings, st.sampled_from(["==", "!=", "<", ">="]), strings).map(" ".join),
    st.tuples(numbers, st.lists(small_int, min_size=1, max_size=4)).map(lambda t: f"{t[0]} in {t[1]}"),
    st.tuples(strings, st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)).map(lambda t: f"{t[0]} in {t[1]!r}"),
    st.tuples(strings, st.sampled_from(["=~", "=~~", "!~", "!~~"]), st.sampled_from(PATTERNS)).map(
        lambda t: f"{t[0]} {t[1]} {t[2]!r}"),
    st.tuples(st.sampled_from(WORDS), st.sampled_from(["s1", "s2"])).map(lambda t: f"{t[0]!r} in {t[1]}"),
    st.sampled_from(WORDS).map(lambda w: f"{w!r} in l1"),
    st.sampled_from(["l1.is_empty", "s1.is_empty", "l1.length > 1", "s2.length == 2"]),
)


def _bool(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        inner.map(lambda e: f"not ({e})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, numbers, numbers).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]}) > 0"),
    )


conditions = st.recursive(atoms, _bool, max_leaves=6)
records = st.fixed_dictionaries({
    "n1": small_int.map(float), "n2": small_int.map(float), "n3": small_int.map(float),
    "s1": st.sampled_from(WORDS), "s2": st.sampled_from(WORDS), "b1": st.booleans(),
    "l1": st.lists(st.sampled_from(WORDS[1:]), max_size=3),
})


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=POLARS)


def _compiled(source: str, rows: list[dict[str, Any]]) -> list[Any]:
    rule = rule_engine.Rule(source, context=CONTEXT)
    expr = compile_expression(rule.statement.expression, COLUMNS)
    return _frame(rows).with_columns(expr.alias("out"))["out"].to_list()


BOOLEAN = pl.Boolean()


def _row_by_row(source: str, rows: list[dict[str, Any]], dtype: pl.DataType = BOOLEAN) -> list[Any]:
    """The same expression forced through the row-by-row path."""
    rule = rule_engine.Rule(source, context=CONTEXT)
    expr = row_fallback(rule.statement.expression, COLUMNS, dtype)
    return _frame(rows).with_columns(expr.alias("out"))["out"].to_list()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions, st.lists(records, min_size=1, max_size=8))
def test_compiled_condition_equals_rule_engine_on_null_free_records(source: str, rows: list[dict[str, Any]]) -> None:
    rule = rule_engine.Rule(source, context=CONTEXT)
    expected = [rule.evaluate({**row, "l1": tuple(row["l1"])}) for row in rows]
    assert _compiled(source, rows) == expected
    assert _row_by_row(source, rows) == expected


@settings(max_examples=200, deadline=None)
@given(numbers, st.lists(records, min_size=1, max_size=8))
def test_compiled_arithmetic_equals_rule_engine(source: str, rows: list[dict[str, Any]]) -> None:
    rule = rule_engine.Rule(source, context=CONTEXT)
    expected = [float(rule.evaluate(row)) for row in rows]
    assert _compiled(source, rows) == expected
    assert _row_by_row(source, rows, pl.Float64()) == expected


# -- null semantics against a small reference evaluator -----------------------


def reference(node: Any, row: dict[str, Any]) -> Any:
    """SPEC §3 three-valued semantics, one record at a time, written for clarity."""
    kind = type(node)
    if kind is ast.SymbolExpression:
        return row[node.name]
    if kind in (ast.FloatExpression, ast.StringExpression, ast.BooleanExpression):
        return float(node.value) if isinstance(node.value, decimal.Decimal) else node.value
    if kind is ast.NullExpression:
        return None
    if kind is ast.LogicExpression:
        left, right = reference(node.left, row), reference(node.right, row)
        if node.type == "and":
            return False if False in (left, right) else (None if None in (left, right) else True)
        return True if True in (left, right) else (None if None in (left, right) else False)
    if kind is ast.UnaryExpression:
        value = reference(node.right, row)
        if value is None:
            return None
        return (not value) if node.type == "not" else -value
    if kind is ast.ComparisonExpression:
        equal = reference(node.left, row) == reference(node.right, row)
        return equal if node.type == "eq" else not equal
    left_right = getattr(node, "left", None), getattr(node, "right", None)
    if kind is ast.ArithmeticComparisonExpression:
        a, b = (reference(x, row) for x in left_right)
        if a is None or b is None:
            return None
        return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[node.type]
    if kind is ast.FuzzyComparisonExpression:
        text = reference(node.left, row)
        if text is None:
            return None
        found = (re.match if node.type.endswith("fzm") else re.search)(node.right.value, text) is not None
        return found if node.type.startswith("eq") else not found
    if kind in (ast.AddExpression, ast.SubtractExpression, ast.ArithmeticExpression):
        a, b = (reference(x, row) for x in left_right)
        if a is None or b is None:
            return None
        if kind is not ast.ArithmeticExpression:
            return a + b if kind is ast.AddExpression else a - b
        x, y = decimal.Decimal(a), decimal.Decimal(b)  # rule-engine's own number type
        if node.type == "mul":
            return float(x * y)
        return float(x % y if node.type == "mod" else x // y)
    if kind is ast.ContainsExpression:
        member = reference(node.member, row)
        if isinstance(node.container, ast.ArrayExpression):
            return member in [reference(item, row) for item in node.container.value]
        container = reference(node.container, row)
        return container is not None and member is not None and member in container
    if kind is ast.TernaryExpression:
        return reference(node.case_true if reference(node.condition, row) is True else node.case_false, row)
    if kind is ast.CoalesceExpression:
        value = reference(node.left, row)
        return value if value is not None else reference(node.right, row)
    raise AssertionError(f"reference evaluator lacks {kind.__name__}")


def _maybe_null(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


nullable_records = st.fixed_dictionaries({
    "n1": _maybe_null(small_int.map(float)), "n2": _maybe_null(small_int.map(float)),
    "n3": _maybe_null(small_int.map(float)), "s1": _maybe_null(st.sampled_from(WORDS)),
    "s2": _maybe_null(st.sampled_from(WORDS)), "b1": _maybe_null(st.booleans()), "l1": st.just([]),
})
null_atoms = st.one_of(
    st.just("b1"), st.sampled_from(["n1 == null", "s1 != null", "null == null"]),
    st.tuples(num_leaf, st.sampled_from(["==", "!=", "<", ">="]), num_leaf).map(" ".join),
    st.tuples(num_leaf, st.sampled_from(["+", "-", "*"]), num_leaf).map(lambda t: f"{t[0]} {t[1]} {t[2]} > 0"),
    st.tuples(st.sampled_from(["s1", "s2"]), st.sampled_from(["=~", "=~~", "!~"]), st.sampled_from(PATTERNS)).map(
        lambda t: f"{t[0]} {t[1]} {t[2]!r}"),
    st.sampled_from(["s1 in ['a', null]", "n1 in [1, 2]", "'a' in s2", "(n1 ?? 0) > 1", "(b1 ? n1 : n2) > 0"]),
)
null_conditions = st.recursive(null_atoms, _bool, max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(null_conditions, st.lists(nullable_records, min_size=1, max_size=8))
def test_compiled_condition_follows_three_valued_logic_with_nulls(source: str, rows: list[dict[str, Any]]) -> None:
    rule = rule_engine.Rule(source, context=CONTEXT)
    expected = [reference(rule.statement.expression, row) for row in rows]
    assert _compiled(source, rows) == expected
    assert _row_by_row(source, rows) == expected


@pytest.mark.parametrize(("source", "row", "expected"), [
    ("n1 > 1", {"n1": None}, None),
    ("not (n1 > 1)", {"n1": None}, None),
    ("n1 > 1 or true", {"n1": None}, True),
    ("n1 > 1 and false", {"n1": None}, False),
    ("n1 == null", {"n1": None}, True),
    ("s1 in ['x', null]", {"s1": None}, True),
    ("s1 =~ 'a'", {"s1": None}, None),
    ("n1 / 0 > 1", {"n1": 5.0}, None),
])
def test_null_semantics_examples(source: str, row: dict[str, Any], expected: Any) -> None:
    full = {"n1": 1.0, "n2": 1.0, "n3": 1.0, "s1": "a", "s2": "a", "b1": True, "l1": [], **row}
    assert _compiled(source, [full]) == [expected]


@pytest.mark.parametrize("source", ["$abs(n1) > 1", "s1[0] == 'a'", "s1 =~ '(?<=a)b'", "[n1, 2][0] > 1"])
def test_constructs_outside_the_subset_are_unsupported(source: str) -> None:
    rule = rule_engine.Rule(source, context=CONTEXT)
    with pytest.raises(UnsupportedError):
        compile_expression(rule.statement.expression, COLUMNS)
