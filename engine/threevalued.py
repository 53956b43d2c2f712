"""The row-by-row path: a rule-engine expression evaluated node by node with SPEC §3 semantics.

An expression that does not compile to polars runs here, one record at a time.
Logic, comparisons, arithmetic, regexes, membership, ternaries and coalescing
follow exactly the rules the compiled path follows (SQL three-valued logic, null
as a value for `==`/`!=`/`in`, 15 significant digits, Python's `re`), so a
rule's result never depends on which path runs it. Only the leaf operations the
compiler lacks (functions, item access, datetime arithmetic, ...) go to
rule-engine, with their operands already evaluated here; an error there is
unknown (null).
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl
import rule_engine
from rule_engine import ast

from revrules.engine import interrupt
from revrules.engine.arithmetic import clean_number, literal_number, truncate_number

_ENGINE_ERRORS = (rule_engine.errors.EngineError, ArithmeticError, TypeError, ValueError, re.error)
_ORDER = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}


def evaluate_node(node: ast.ExpressionBase, row: Mapping[str, Any]) -> Any:
    """The value of `node` for one record; None is null (unknown).

    Args:
        node: A typed rule-engine AST node.
        row: The record: numbers as float, lists as tuples, datetimes timezone-aware.
    """
    handler = _HANDLERS.get(type(node))
    if handler is None:
        return _engine_whole(node, row)
    return handler(node, row)


def row_fallback(node: ast.ExpressionBase, columns: Mapping[str, pl.Expr], dtype: pl.DataType) -> pl.Expr:
    """A polars expression that evaluates `node` row by row over the typed `columns` it reads."""
    fit = _fitter(dtype)

    def evaluate_row(row: Mapping[str, Any]) -> Any:
        interrupt.check()  # rows can be slow; a stop signal must not wait for the whole column
        return fit(evaluate_node(node, {k: _from_row(v) for k, v in row.items()}))

    def evaluate_rows(rows: Sequence[Mapping[str, Any]]) -> pl.Series:
        return pl.Series([evaluate_row(row) for row in rows], dtype=dtype)

    if not columns:
        # Reads no field, e.g. `$now`: one value per batch, evaluated when the batch runs.
        return pl.int_range(pl.len()).map_batches(
            lambda batch: evaluate_rows([{}] * len(batch)), return_dtype=dtype
        )
    struct = pl.struct([expr.alias(name) for name, expr in columns.items()])
    return struct.map_batches(lambda batch: evaluate_rows(batch.to_list()), return_dtype=dtype)


# -- values -------------------------------------------------------------------


def _from_row(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return tuple(_from_row(item) for item in value)
    return value


def _from_engine(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return clean_number(float(value))
    if isinstance(value, list | tuple):
        return tuple(_from_engine(item) for item in value)
    return value


def _to_engine(value: Any) -> Any:
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    if isinstance(value, tuple):
        return tuple(_to_engine(item) for item in value)
    return value


def _fitter(dtype: pl.DataType) -> Callable[[Any], Any]:
    """A value of the output type, or None: a value of any other type is no answer."""
    if dtype == pl.Boolean:
        return lambda v: v if isinstance(v, bool) else None
    if dtype == pl.String:
        return lambda v: v if isinstance(v, str) else None
    if dtype.is_numeric():
        return lambda v: v if isinstance(v, float) else None
    if isinstance(dtype, pl.List):
        return lambda v: list(v) if isinstance(v, tuple) and all(isinstance(i, str) for i in v) else None
    if isinstance(dtype, pl.Datetime):
        return lambda v: v if isinstance(v, dt.datetime) else None
    return lambda v: v


def _kind(value: Any) -> str:
    """A value's type as rule-engine sees it: `true` is no number, `1` no string."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float):
        return "number"
    return type(value).__name__


def _equal(left: Any, right: Any) -> bool:
    return _kind(left) == _kind(right) and bool(left == right)


def _truth(value: Any) -> bool | None:
    return None if value is None else bool(value)


# -- rule-engine for the leaves ---------------------------------------------------


def _literal(node: ast.ExpressionBase, value: Any) -> ast.ExpressionBase:
    literal: ast.ExpressionBase = ast.LiteralExpressionBase.from_value(node.context, _to_engine(value))
    return literal


def _engine_leaf(node: ast.ExpressionBase, operands: Mapping[str, Any]) -> Any:
    """Run one operation with rule-engine on operands this module already evaluated."""
    shallow = copy.copy(node)
    for slot, value in operands.items():
        if isinstance(value, list):
            setattr(shallow, slot, tuple(_literal(node, item) for item in value))
        else:
            setattr(shallow, slot, _literal(node, value))
    try:
        return _from_engine(shallow.evaluate({}))
    except _ENGINE_ERRORS:
        return None


def _engine_whole(node: ast.ExpressionBase, row: Mapping[str, Any]) -> Any:
    """Run a node this module has no rules for (comprehensions, `$now`) wholly with rule-engine."""
    try:
        return _from_engine(node.evaluate({k: _to_engine(v) for k, v in row.items()}))
    except _ENGINE_ERRORS:
        return None


# -- nodes ----------------------------------------------------------------------


def _symbol(node: Any, row: Mapping[str, Any]) -> Any:
    if node.scope is not None:
        return _engine_whole(node, row)
    return row.get(node.name)


def _literal_value(node: Any, _row: Mapping[str, Any]) -> Any:
    value = node.value
    return literal_number(value) if isinstance(value, decimal.Decimal) else value


def _array(node: Any, row: Mapping[str, Any]) -> Any:
    return tuple(evaluate_node(item, row) for item in node.value)


def _logic(node: Any, row: Mapping[str, Any]) -> Any:
    left, right = _truth(evaluate_node(node.left, row)), _truth(evaluate_node(node.right, row))
    if node.type == "and":
        return False if False in (left, right) else (None if None in (left, right) else True)
    return True if True in (left, right) else (None if None in (left, right) else False)


def _unary(node: Any, row: Mapping[str, Any]) -> Any:
    value = evaluate_node(node.right, row)
    if value is None:
        return None
    if node.type == "not":
        return not value
    if node.type == "uminus" and _kind(value) == "number":
        return -value
    return _engine_leaf(node, {"right": value})


def _equality(node: Any, row: Mapping[str, Any]) -> Any:
    equal = _equal(evaluate_node(node.left, row), evaluate_node(node.right, row))
    return equal if node.type == "eq" else not equal


def _ordering(node: Any, row: Mapping[str, Any]) -> Any:
    left, right = evaluate_node(node.left, row), evaluate_node(node.right, row)
    if left is None or right is None or _kind(left) != _kind(right):
        return None
    try:
        return _ORDER[node.type](left, right)
    except TypeError:
        return None


def _regex(node: Any, row: Mapping[str, Any]) -> Any:
    text = evaluate_node(node.left, row)
    pattern = node.right.value if isinstance(node.right, ast.StringExpression) else evaluate_node(node.right, row)
    if not isinstance(text, str) or not isinstance(pattern, str):
        return None
    try:
        compiled = re.compile(pattern, flags=node.context.regex_flags)
    except re.error:
        return None
    found = (compiled.match if node.type.endswith("fzm") else compiled.search)(text) is not None
    return found if node.type.startswith("eq") else not found


def _divide(a: float, b: float) -> float | None:
    return None if b == 0 else clean_number(a / b)


def _floor_divide(a: float, b: float) -> float | None:
    quotient = _divide(a, b)
    return None if quotient is None else truncate_number(quotient)


def _modulo(a: float, b: float) -> float | None:
    quotient = _divide(a, b)
    if quotient is None:
        return None
    product = clean_number(b * truncate_number(quotient))
    return None if product is None else clean_number(a - product)


def _power(a: float, b: float) -> float | None:
    try:
        return clean_number(math.pow(a, b))
    except (ValueError, OverflowError, ZeroDivisionError):
        return None


# The same IEEE operations, in the same order, as the compiled `_ARITHMETIC` table.
_NUMERIC: dict[str, Callable[[float, float], float | None]] = {
    "add": lambda a, b: clean_number(a + b),
    "sub": lambda a, b: clean_number(a - b),
    "mul": lambda a, b: clean_number(a * b),
    "tdiv": _divide,
    "fdiv": _floor_divide,
    "mod": _modulo,
    "pow": _power,
}


def _arithmetic(node: Any, row: Mapping[str, Any]) -> Any:
    left, right = evaluate_node(node.left, row), evaluate_node(node.right, row)
    if left is None or right is None:
        return None
    kind = {ast.AddExpression: "add", ast.SubtractExpression: "sub"}.get(type(node), node.type)
    if _kind(left) == _kind(right) == "number" and kind in _NUMERIC:
        return _NUMERIC[kind](left, right)
    if kind == "add" and isinstance(left, str) and isinstance(right, str):
        return left + right
    return _engine_leaf(node, {"left": left, "right": right})


def _contains(node: Any, row: Mapping[str, Any]) -> Any:
    member = evaluate_node(node.member, row)
    container = evaluate_node(node.container, row)
    if isinstance(container, str):
        return isinstance(member, str) and member in container
    if isinstance(container, tuple):
        return any(_equal(member, item) for item in container)
    return False if container is None else _engine_leaf(node, {"container": container, "member": member})


def _ternary(node: Any, row: Mapping[str, Any]) -> Any:
    condition = _truth(evaluate_node(node.condition, row))
    return evaluate_node(node.case_true if condition is True else node.case_false, row)


def _coalesce(node: Any, row: Mapping[str, Any]) -> Any:
    value = evaluate_node(node.left, row)
    return value if value is not None else evaluate_node(node.right, row)


def _attribute(node: Any, row: Mapping[str, Any]) -> Any:
    owner = evaluate_node(node.object, row)
    return None if owner is None else _engine_leaf(node, {"object": owner})


def _item(node: Any, row: Mapping[str, Any]) -> Any:
    container = evaluate_node(node.container, row)
    if container is None:
        return None
    return _engine_leaf(node, {"container": container, "item": evaluate_node(node.item, row)})


def _slice(node: Any, row: Mapping[str, Any]) -> Any:
    container = evaluate_node(node.container, row)
    if container is None:
        return None
    bounds = {slot: evaluate_node(getattr(node, slot), row) for slot in ("start", "stop") if getattr(node, slot)}
    return _engine_leaf(node, {"container": container, **bounds})


def _call(node: Any, row: Mapping[str, Any]) -> Any:
    arguments = [evaluate_node(argument, row) for argument in node.arguments]
    return _engine_leaf(node, {"arguments": arguments})


def _binary_leaf(node: Any, row: Mapping[str, Any]) -> Any:
    left, right = evaluate_node(node.left, row), evaluate_node(node.right, row)
    if left is None or right is None:
        return None
    return _engine_leaf(node, {"left": left, "right": right})


_HANDLERS: dict[type, Callable[[Any, Mapping[str, Any]], Any]] = {
    ast.SymbolExpression: _symbol,
    ast.FloatExpression: _literal_value,
    ast.StringExpression: _literal_value,
    ast.BooleanExpression: _literal_value,
    ast.DatetimeExpression: _literal_value,
    ast.TimedeltaExpression: _literal_value,
    ast.NullExpression: _literal_value,
    ast.ArrayExpression: _array,
    ast.LogicExpression: _logic,
    ast.UnaryExpression: _unary,
    ast.ComparisonExpression: _equality,
    ast.ArithmeticComparisonExpression: _ordering,
    ast.FuzzyComparisonExpression: _regex,
    ast.AddExpression: _arithmetic,
    ast.SubtractExpression: _arithmetic,
    ast.ArithmeticExpression: _arithmetic,
    ast.BitwiseExpression: _binary_leaf,
    ast.BitwiseShiftExpression: _binary_leaf,
    ast.ContainsExpression: _contains,
    ast.TernaryExpression: _ternary,
    ast.CoalesceExpression: _coalesce,
    ast.GetAttributeExpression: _attribute,
    ast.GetItemExpression: _item,
    ast.GetSliceExpression: _slice,
    ast.FunctionCallExpression: _call,
}
