"""Compile rule-engine expressions to polars expressions with SQL three-valued logic.

The compiled expression yields null where SPEC §3 says the outcome is unknown.
Numbers follow `arithmetic` (15 significant digits, no NaN) and regexes Python's
dialect (`regex_dialect`). A construct outside the compiled subset raises
`UnsupportedError`; the caller then evaluates that expression row by row with
`threevalued.row_fallback`, which follows the same rules.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

import polars as pl
from rule_engine import DataType, ast

from revrules.engine.arithmetic import clean_expr, literal_number, truncate_expr
from revrules.engine.regex_dialect import UntranslatableError, to_rust

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


def unknown_function(node: Any, builtins: Collection[str]) -> str | None:
    """The first `$name` the expression reads that is not in `builtins` (a typo such as `$round`)."""
    if isinstance(node, ast.SymbolExpression) and node.scope is not None and node.name not in builtins:
        return str(node.name)
    # rule-engine's nodes keep their children in slots or in the instance dict, by class.
    slots = [slot for cls in type(node).__mro__ for slot in getattr(cls, "__slots__", ())]
    for value in [getattr(node, slot, None) for slot in slots] + list(getattr(node, "__dict__", {}).values()):
        for child in value if isinstance(value, tuple) else (value,):
            if isinstance(child, ast.ExpressionBase) and (found := unknown_function(child, builtins)):
                return found
    return None


def _symbol(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    if node.scope is not None or node.name not in columns:
        raise UnsupportedError(f"symbol ${node.name}" if node.scope else node.name)
    if node.result_type == DataType.FLOAT:
        # SPEC §3: NaN is no number. Converted input has none; this guards any other frame.
        return columns[node.name].fill_nan(None)
    return columns[node.name]


def _literal(node: Any, _columns: Mapping[str, pl.Expr]) -> pl.Expr:
    value = node.value
    if isinstance(value, decimal.Decimal):
        return pl.lit(literal_number(value), dtype=NUMERIC)
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
    try:
        pattern = to_rust(node.right.value, anchored=node.type in ("eq_fzm", "ne_fzm"))
    except (UntranslatableError, re.error) as exc:
        raise UnsupportedError(f"regex: {exc}") from exc
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception as exc:  # polars reports Rust regex errors (such as size limits) as ComputeError
        raise UnsupportedError("regex syntax the Rust engine does not support") from exc
    matched = compile_expression(node.left, columns).str.contains(pattern)
    return ~matched if node.type.startswith("ne") else matched


def _arithmetic(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    left, right = compile_expression(node.left, columns), compile_expression(node.right, columns)
    kind = type(node).__name__
    types = {node.left.result_type, node.right.result_type}
    numbers = types <= {DataType.FLOAT, DataType.NULL}
    if kind == "AddExpression":
        if numbers:
            return clean_expr(left + right)
        if types <= {DataType.STRING, DataType.NULL}:
            return left + right
        raise UnsupportedError("addition of other than two numbers or two strings")
    if not numbers:
        raise UnsupportedError("arithmetic on values other than numbers")
    if kind == "SubtractExpression":
        return clean_expr(left - right)
    operator = _ARITHMETIC.get(node.type)
    if operator is None:
        raise UnsupportedError(f"arithmetic {node.type}")
    return operator(left, right)


def _nonzero(right: pl.Expr, value: pl.Expr) -> pl.Expr:
    # Division by zero is unknown, like arithmetic with null.
    return pl.when(right != 0).then(value)


def _quotient(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    return clean_expr(a / b)


# rule-engine computes with Decimal: `%` and `//` truncate toward zero, unlike Python
# floats, and the quotient is rounded first so that `0.3 // 0.1` is 3 (and the
# product before the subtraction, so that `0.3 % 0.1` is 0). The row-by-row
# twin of this table is `threevalued._NUMERIC`: the same operations in the same order.
_ARITHMETIC: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "mul": lambda a, b: clean_expr(a * b),
    "tdiv": lambda a, b: _nonzero(b, _quotient(a, b)),
    "fdiv": lambda a, b: _nonzero(b, truncate_expr(_quotient(a, b))),
    "mod": lambda a, b: _nonzero(b, clean_expr(a - clean_expr(b * truncate_expr(_quotient(a, b))))),
    "pow": lambda a, b: clean_expr(a.pow(b)),
}


def _contains(node: Any, columns: Mapping[str, pl.Expr]) -> pl.Expr:
    container, member = node.container, node.member
    if isinstance(container, ast.ArrayExpression):
        values = _same_kind(member, [_literal_value(item) for item in container.value])
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
    return literal_number(value) if isinstance(value, decimal.Decimal) else value


_PYTHON_TYPES = {"FLOAT": float, "STRING": str, "BOOLEAN": bool, "DATETIME": dt.datetime}


def _same_kind(member: Any, values: list[Any]) -> list[Any]:
    """The list's values that could equal `member`: `a in [1, 'one']` compares with 1 only."""
    wanted = _PYTHON_TYPES.get(getattr(member.result_type, "name", ""))
    if wanted is None:
        if len({type(v) for v in values if v is not None}) > 1:
            raise UnsupportedError("membership of a value of unknown type in a mixed list")
        return values
    # bool is an int subclass: compare types exactly so that `true` never equals 1.
    return [v for v in values if v is None or type(v) is wanted or (wanted is dt.datetime and isinstance(v, wanted))]


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
