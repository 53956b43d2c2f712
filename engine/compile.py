"""Compile rule-engine expressions to polars expressions with SQL three-valued logic.

The compiled expression yields null where SPEC §3 says the outcome is unknown.
A construct outside the compiled subset raises `UnsupportedError`; the caller then
evaluates that expression row by row with rule-engine itself (`row_fallback`).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
import rule_engine
from rule_engine import DataType, ast

from revrules.engine import interrupt

NUMERIC = pl.Float64


class UnsupportedError(Exception):
    """The expression uses a construct the polars compiler does not handle."""


class TypeMismatchError(Exception):
    """The expression compares or combines values of different types."""


_CMP: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}

_STRING_ATTRS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "as_lower": lambda e: e.str.to_lowercase(),
    "as_upper": lambda e: e.str.to_uppercase(),
    "length": lambda e: e.str.len_chars().cast(NUMERIC),
    "is_empty": lambda e: e.str.len_chars() == 0,
}
_LIST_ATTRS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "length": lambda e: e.list.len().cast(NUMERIC),
    "is_empty": lambda e: e.list.len() == 0,
}
_DATETIME_ATTRS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "year": lambda e: e.dt.year().cast(NUMERIC),
    "month": lambda e: e.dt.month().cast(NUMERIC),
    "day": lambda e: e.dt.day().cast(NUMERIC),
    "hour": lambda e: e.dt.hour().cast(NUMERIC),
    "minute": lambda e: e.dt.minute().cast(NUMERIC),
    "second": lambda e: e.dt.second().cast(NUMERIC),
}


def compile_expression(node: ast.ExpressionBase, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    """Compile one rule-engine AST node; `columns` maps each symbol to its expression."""
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise UnsupportedError(type(node).__name__)
    return handler(node, columns)


def _symbol(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    if node.scope is not None or node.name not in columns:
        raise UnsupportedError(f"symbol ${node.name}" if node.scope else node.name)
    return columns[node.name]


def _literal(node: Any, _columns: Mapping[str, pl.Expr]) -> pl.Expr:
    value = node.value
    if isinstance(value, decimal.Decimal):
        return pl.lit(float(value), dtype=NUMERIC)
    if isinstance(value, bool):
        return pl.lit(value, dtype=pl.Boolean)
    if isinstance(value, str):
        return pl.lit(value, dtype=pl.String)
    if isinstance(value, dt.datetime):
        return pl.lit(_utc(value), dtype=pl.Datetime("us", "UTC"))
    raise UnsupportedError(type(node).__name__)


def _null(_node: Any, _columns: Mapping[str, pl.Expr]) -> pl.Expr:
    return pl.lit(None)


def _logic(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    left, right = (_boolean(side, columns) for side in (node.left, node.right))
    return left & right if node.type == "and" else left | right


def _boolean(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    if node.result_type not in (DataType.BOOLEAN, DataType.NULL):
        raise UnsupportedError("truthiness of a non-boolean value")
    return compile_expression(node, columns)


def _unary(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    if node.type == "not":
        return ~_boolean(node.right, columns)
    if node.type == "uminus":
        return -compile_expression(node.right, columns)
    raise UnsupportedError(f"unary {node.type}")


def _equality(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    _check_same_type(node.left, node.right)
    left, right = compile_expression(node.left, columns), compile_expression(node.right, columns)
    if node.type == "eq":
        return left.eq_missing(right)
    if node.type == "ne":
        return left.ne_missing(right)
    raise UnsupportedError(f"comparison {node.type}")


def _ordering(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    _check_same_type(node.left, node.right)
    left, right = compile_expression(node.left, columns), compile_expression(node.right, columns)
    return _CMP[node.type](left, right)


def _check_same_type(left: Any, right: Any) -> None:
    known = {left.result_type, right.result_type} - {DataType.UNDEFINED, DataType.NULL}
    names = {_type_name(t) for t in known}
    if len(names) > 1:
        raise TypeMismatchError(f"cannot compare {' with '.join(sorted(names))}")


def _type_name(data_type: Any) -> str:
    names = {"FLOAT": "number", "STRING": "string", "BOOLEAN": "boolean", "DATETIME": "datetime", "ARRAY": "list"}
    name = str(data_type.name)
    return names.get(name, name.lower())


def _regex(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    if not isinstance(node.right, ast.StringExpression):
        raise UnsupportedError("regex pattern that is not a string literal")
    pattern = node.right.value
    if node.type in ("eq_fzm", "ne_fzm"):
        pattern = f"^(?:{pattern})"
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception as exc:  # polars reports Rust regex errors as ComputeError
        raise UnsupportedError("regex syntax the Rust engine does not support") from exc
    matched = compile_expression(node.left, columns).str.contains(pattern)
    return ~matched if node.type.startswith("ne") else matched


def _arithmetic(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    left, right = compile_expression(node.left, columns), compile_expression(node.right, columns)
    kind = type(node).__name__
    if kind == "AddExpression":
        if DataType.DATETIME in (node.left.result_type, node.right.result_type):
            raise UnsupportedError("datetime arithmetic")
        return left + right
    if kind == "SubtractExpression":
        if node.left.result_type != DataType.FLOAT or node.right.result_type != DataType.FLOAT:
            raise UnsupportedError("non-numeric subtraction")
        return left - right
    operator = _ARITHMETIC.get(node.type)
    if operator is None:
        raise UnsupportedError(f"arithmetic {node.type}")
    return operator(left, right)


def _truncate(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr >= 0).then(expr.floor()).otherwise(expr.ceil())


def _nonzero(right: pl.Expr, value: pl.Expr) -> pl.Expr:
    # Division by zero is unknown, like arithmetic with null.
    return pl.when(right != 0).then(value)


# rule-engine computes with Decimal: `%` and `//` truncate toward zero, unlike Python floats.
_ARITHMETIC: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "mul": lambda a, b: a * b,
    "tdiv": lambda a, b: _nonzero(b, a / b),
    "fdiv": lambda a, b: _nonzero(b, _truncate(a / b)),
    "mod": lambda a, b: _nonzero(b, a - b * _truncate(a / b)),
    "pow": lambda a, b: a.pow(b),
}


def _contains(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    container, member = node.container, node.member
    if isinstance(container, ast.ArrayExpression):
        values = [_literal_value(item) for item in container.value]
        return compile_expression(member, columns).is_in(values, nulls_equal=True)
    target = compile_expression(container, columns)
    item = compile_expression(member, columns)
    # `in` treats null as a value: nothing is inside a null container.
    if container.result_type == DataType.STRING:
        return target.str.contains(item, literal=True).fill_null(False)
    if _is_array(container.result_type):
        return target.list.contains(item).fill_null(False)
    raise UnsupportedError("membership in this kind of container")


def _literal_value(node: Any) -> Any:
    if isinstance(node, ast.NullExpression):
        return None
    if not isinstance(node, ast.LiteralExpressionBase) or isinstance(node, ast.ArrayExpression):
        raise UnsupportedError("array with non-literal members")
    value = node.value
    return float(value) if isinstance(value, decimal.Decimal) else value


def _ternary(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    condition = _boolean(node.condition, columns)
    return (
        pl.when(condition)
        .then(compile_expression(node.case_true, columns))
        .otherwise(compile_expression(node.case_false, columns))
    )


def _coalesce(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    return pl.coalesce(compile_expression(node.left, columns), compile_expression(node.right, columns))


def _attribute(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    owner_type = node.object.result_type
    table: dict[str, Callable[[pl.Expr], pl.Expr]] = {}
    if owner_type == DataType.STRING:
        table = _STRING_ATTRS
    elif owner_type == DataType.DATETIME:
        table = _DATETIME_ATTRS
    elif _is_array(owner_type):
        table = _LIST_ATTRS
    if node.name not in table:
        raise UnsupportedError(f"attribute {node.name}")
    return table[node.name](compile_expression(node.object, columns))


def _is_array(data_type: Any) -> bool:
    return getattr(data_type, "name", None) == "ARRAY"


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


_HANDLERS: dict[type, Callable[[Any, Mapping[str, pl.Expr]], pl.Expr]] = {
    ast.SymbolExpression: _symbol,
    ast.FloatExpression: _literal,
    ast.StringExpression: _literal,
    ast.BooleanExpression: _literal,
    ast.DatetimeExpression: _literal,
    ast.NullExpression: _null,
    ast.LogicExpression: _logic,
    ast.UnaryExpression: _unary,
    ast.ComparisonExpression: _equality,
    ast.ArithmeticComparisonExpression: _ordering,
    ast.FuzzyComparisonExpression: _regex,
    ast.AddExpression: _arithmetic,
    ast.SubtractExpression: _arithmetic,
    ast.ArithmeticExpression: _arithmetic,
    ast.ContainsExpression: _contains,
    ast.TernaryExpression: _ternary,
    ast.CoalesceExpression: _coalesce,
    ast.GetAttributeExpression: _attribute,
}


def row_fallback(rule: rule_engine.Rule, symbols: list[str], dtype: pl.DataType) -> pl.Expr:
    """Evaluate `rule` row by row with rule-engine; an evaluation error is unknown (null)."""

    def evaluate_row(row: dict[str, Any]) -> Any:
        interrupt.check()  # rows can be slow; a stop signal must not wait for the whole column
        try:
            return _from_engine(rule.evaluate(row))
        except (rule_engine.errors.EngineError, ArithmeticError, TypeError):
            return None

    def evaluate(batch: pl.Series) -> pl.Series:
        return pl.Series([evaluate_row(row) for row in batch.to_list()], dtype=dtype)

    if not symbols:
        # Reads no field, e.g. `$now`: one value per batch, evaluated when the batch runs.
        return pl.int_range(pl.len()).map_batches(
            lambda batch: pl.Series([evaluate_row({})] * len(batch), dtype=dtype), return_dtype=dtype
        )
    return pl.struct(symbols).map_batches(evaluate, return_dtype=dtype)


def _from_engine(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, tuple):
        return [_from_engine(item) for item in value]
    return value
