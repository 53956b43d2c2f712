"""What would have to change for a decision to take another value: the fewest input changes, with bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3

from revrules.engine.convert import FieldType
from revrules.engine.definitions import Rulebook
from revrules.engine.lint.symbolic import Collected, Model, Truth, Value, _literal

_NUMERIC = (FieldType.NUMBER, FieldType.INTEGER)


@dataclass(frozen=True)
class Change:
    """One input that has to change: its current value, an example new value, and a readable sentence."""

    field: str
    current: Any
    example: Any
    sentence: str


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
    for held in keep.values():
        optimizer.add_soft(held, 1)
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
