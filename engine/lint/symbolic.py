"""The rulebook as z3 formulas under SPEC §3 three-valued logic, and witness records read from a model.

Everything the translation does not model (date arithmetic, list fields, unusual regexes)
becomes a fresh unconstrained value. That over-approximates what records can do, so an
"impossible" answer from the solver is sound; a "possible" answer is only trusted after
its witness record is evaluated for real (see `witness.py`).
"""

from __future__ import annotations

import decimal
import itertools
from dataclasses import dataclass, field
from typing import Any

import z3
from rule_engine import ast

from revrules.engine.convert import FieldType
from revrules.engine.definitions import Decision, Expression, Rulebook
from revrules.engine.lint.regex import RegexUnsupportedError, any_char, search_regex


@dataclass(frozen=True)
class Truth:
    """A three-valued condition: `true` and `false` are never both satisfied; neither is unknown."""

    true: Any
    false: Any


@dataclass(frozen=True)
class Value:
    """A number, string or boolean value that may be null."""

    value: Any
    null: Any
    sort: str


@dataclass(frozen=True)
class Collected:
    """A `collect` decision: each rule's condition and `then`."""

    items: tuple[tuple[Any, str], ...]


Term = Truth | Value | Collected


@dataclass
class _Input:
    name: str
    kind: FieldType
    value: Any
    null: Any
    direct: bool = False
    cased: dict[str, Any] = field(default_factory=dict)


_NUMERIC = (FieldType.NUMBER, FieldType.INTEGER)
# Converted text is trimmed and never empty ("" and blanks are null): a witness must survive that.
_SOLID = z3.Range("!", "\U0000ffff")
_TEXT = z3.Union(_SOLID, z3.Concat(_SOLID, z3.Star(z3.Union(_SOLID, z3.Re(" "))), _SOLID))


class Model:
    """z3 terms for every name a rulebook reads, built on demand."""

    def __init__(self, book: Rulebook, *, abstract: bool = False) -> None:
        """Build terms on demand.

        Args:
            book: The rulebook.
            abstract: Read other decisions as free values from their possible results instead
                of as functions of the fields: far cheaper for the solver, and still sound for
                "impossible" answers, but its models are not records.
        """
        self.book = book
        self.abstract = abstract
        self.inputs: dict[str, _Input] = {}
        self.constraints: list[Any] = []
        self._terms: dict[str, Term] = {}
        self._fresh = itertools.count()
        self._derives = {d.name: d for d in book.derives}
        self._decisions = {d.name: d for d in book.decisions}
        self._exprs: dict[int, Truth] = {}

    # -- names -------------------------------------------------------------

    def term(self, name: str) -> Term:
        """The term for a field, derived value, decision or territory output."""
        if name not in self._terms:
            self._terms[name] = self._build(name)
        return self._terms[name]

    def _build(self, name: str) -> Term:
        if name in self._decisions:
            decision = self._decisions[name]
            return self._free_decision(decision) if self.abstract else self.decision_term(decision)
        derive = self._derives.get(name)
        if derive is not None and derive.expression is not None:
            term = self.translate(derive.expression.rule.statement.expression)
            if not (isinstance(term, Value) and term.sort == "opaque"):
                return term
        if derive is not None:
            return self._input(name, derive.kind, buckets=derive.buckets or None)
        territories = self.book.territories
        if territories is not None and name == territories.output:
            return self._territory_term()
        kind = self.book.fields.get(name)
        if kind is None:
            return self._opaque()
        return self._input(name, kind)

    def _input(self, name: str, kind: FieldType, buckets: int | None = None) -> Term:
        null = z3.Bool(f"{name}.null")
        if kind in _NUMERIC:
            value: Any = z3.Real(name)
            if kind == FieldType.INTEGER or buckets:
                self.constraints.append(z3.Or(null, z3.IsInt(value)))
            if buckets:
                self.constraints.append(z3.Or(null, z3.And(value >= 1, value <= buckets)))
            sort = "num"
        elif kind == FieldType.STRING:
            value, sort = z3.String(name), "str"
            self.constraints.append(z3.InRe(value, _TEXT))
        elif kind == FieldType.BOOLEAN:
            value, sort = z3.Bool(name), "bool"
        else:
            return self._opaque()
        self.inputs[name] = _Input(name, kind, value, null)
        return Value(value, null, sort)

    def _opaque(self) -> Value:
        n = next(self._fresh)
        return Value(None, z3.Bool(f"opaque.{n}.null"), "opaque")

    def _unknown_truth(self) -> Truth:
        n = next(self._fresh)
        true, false = z3.Bool(f"opaque.{n}.t"), z3.Bool(f"opaque.{n}.f")
        self.constraints.append(z3.Not(z3.And(true, false)))
        return Truth(true, false)

    # -- decisions -----------------------------------------------------------

    def holds(self, expression: Expression) -> Any:
        """The formula for "this condition is true"."""
        return self.condition(expression).true

    def condition(self, expression: Expression) -> Truth:
        """The three-valued condition of a `when`."""
        key = id(expression)
        if key not in self._exprs:
            self._exprs[key] = self.truth(self.translate(expression.rule.statement.expression))
        return self._exprs[key]

    def decision_term(self, decision: Decision) -> Term:
        """The value of a decision as a function of its inputs."""
        holds = [self.holds(rule.when) for rule in decision.rules]
        if decision.hit == "any":
            return Truth(z3.Or(*holds) if holds else z3.BoolVal(False), z3.Not(z3.Or(*holds)) if holds else True)
        if decision.hit == "collect":
            return Collected(tuple((h, str(rule.then)) for h, rule in zip(holds, decision.rules, strict=True)))
        if decision.hit == "sum":
            total = sum((z3.If(h, _literal(r.then), z3.RealVal(0)) for h, r in zip(holds, decision.rules, strict=True)),
                        _literal(decision.default or 0))
            return Value(total, z3.BoolVal(False), "num")
        sort = {FieldType.STRING: "str", FieldType.BOOLEAN: "bool"}.get(decision.kind, "num")
        value: Any = _literal(decision.default) if decision.default is not None else _zero(sort)
        null: Any = z3.BoolVal(decision.default is None)
        for h, rule in reversed(list(zip(holds, decision.rules, strict=True))):
            value = z3.If(h, _literal(rule.then), value)
            null = z3.If(h, z3.BoolVal(rule.then is None), null)
        if decision.hit == "unique" and len(holds) > 1:
            conflict = z3.AtLeast(*holds, 2)
            null = z3.Or(null, conflict)
        return Value(value, null, sort)

    def _free_decision(self, decision: Decision) -> Term:
        n = next(self._fresh)
        if decision.hit == "any":
            return self.truth(Value(z3.Bool(f"{decision.name}.{n}"), z3.BoolVal(False), "bool"))
        if decision.hit == "collect":
            return Collected(tuple((z3.Bool(f"{decision.name}.{n}.{i}"), str(rule.then))
                                   for i, rule in enumerate(decision.rules)))
        sort = {FieldType.STRING: "str", FieldType.BOOLEAN: "bool"}.get(decision.kind, "num")
        value = {"str": z3.String, "bool": z3.Bool}.get(sort, z3.Real)(f"{decision.name}.{n}")
        null = z3.Bool(f"{decision.name}.{n}.null")
        if decision.hit != "sum":
            results = [rule.then for rule in decision.rules] + [decision.default]
            self.constraints.append(z3.Or(null, *[value == _literal(r) for r in results if r is not None]))
            if decision.default is not None and decision.hit == "first":
                self.constraints.append(z3.Not(null))
        else:
            self.constraints.append(z3.Not(null))
        return Value(value, null, sort)

    def leaf_holds(self, path: tuple[Any, ...]) -> Any:
        """A territory leaf's condition ANDed with its ancestors'."""
        return z3.And(*[self.holds(node.when) for node in path])

    def _territory_term(self) -> Value:
        assert self.book.territories is not None  # noqa: S101 -- only called for the territory output
        value: Any = z3.StringVal("")
        null: Any = z3.BoolVal(True)
        for path in reversed(self.book.territories.leaves()):
            held = self.leaf_holds(path)
            value = z3.If(held, z3.StringVal(path[-1].id), value)
            null = z3.If(held, z3.BoolVal(False), null)
        return Value(value, null, "str")

    # -- expressions ---------------------------------------------------------

    def truth(self, term: Term) -> Truth:
        """A term used as a condition."""
        if isinstance(term, Truth):
            return term
        if isinstance(term, Value) and term.sort == "bool":
            return Truth(z3.And(z3.Not(term.null), term.value), z3.And(z3.Not(term.null), z3.Not(term.value)))
        return self._unknown_truth()

    def translate(self, node: Any) -> Term:
        """The z3 term of one rule-engine AST node."""
        if isinstance(node, ast.SymbolExpression):
            if node.scope is not None:
                return self._opaque()
            term = self.term(node.name)
            if node.name in self.inputs:
                self.inputs[node.name].direct = True
            return term
        if isinstance(node, ast.NullExpression):
            return Value(z3.RealVal(0), z3.BoolVal(True), "null")
        if isinstance(node, ast.FloatExpression | ast.StringExpression | ast.BooleanExpression):
            sort = {ast.FloatExpression: "num", ast.StringExpression: "str"}.get(type(node), "bool")
            return Value(_literal(node.value), z3.BoolVal(False), sort)
        if isinstance(node, ast.LogicExpression):
            left, right = self.truth(self.translate(node.left)), self.truth(self.translate(node.right))
            if node.type == "and":
                return Truth(z3.And(left.true, right.true), z3.Or(left.false, right.false))
            return Truth(z3.Or(left.true, right.true), z3.And(left.false, right.false))
        if isinstance(node, ast.UnaryExpression):
            return self._unary(node)
        # The ordering and regex comparisons subclass ComparisonExpression: test them first.
        if isinstance(node, ast.ArithmeticComparisonExpression):
            return self._ordering(node)
        if isinstance(node, ast.FuzzyComparisonExpression):
            return self._regex(node)
        if isinstance(node, ast.ComparisonExpression):
            return self._equality(node)
        if isinstance(node, ast.AddExpression | ast.SubtractExpression | ast.ArithmeticExpression):
            return self._arithmetic(node)
        if isinstance(node, ast.ContainsExpression):
            return self._contains(node)
        if isinstance(node, ast.TernaryExpression):
            return self._ternary(node)
        if isinstance(node, ast.GetAttributeExpression):
            return self._attribute(node)
        if isinstance(node, ast.CoalesceExpression):
            first, second = self.translate(node.left), self.translate(node.right)
            if isinstance(first, Value) and isinstance(second, Value) and _same_sort(first, second):
                return Value(z3.If(first.null, second.value, first.value), z3.And(first.null, second.null), first.sort)
        return self._opaque()

    def _unary(self, node: Any) -> Term:
        inner = self.translate(node.right)
        if node.type == "not":
            truth = self.truth(inner)
            return Truth(truth.false, truth.true)
        if node.type == "uminus" and isinstance(inner, Value) and inner.sort == "num":
            return Value(-inner.value, inner.null, "num")
        return self._opaque()

    def _equality(self, node: Any) -> Term:
        left, right = self._valued(self.translate(node.left)), self._valued(self.translate(node.right))
        if left is None or right is None:
            return self._unknown_truth()
        equal = _equal(left, right)
        if equal is None:
            return self._unknown_truth()
        if node.type == "ne":
            equal = z3.Not(equal)
        return Truth(equal, z3.Not(equal))

    def _valued(self, term: Term) -> Value | None:
        if isinstance(term, Truth):
            return Value(term.true, z3.And(z3.Not(term.true), z3.Not(term.false)), "bool")
        if isinstance(term, Value) and term.sort != "opaque":
            return term
        return None

    def _ordering(self, node: Any) -> Term:
        left, right = self.translate(node.left), self.translate(node.right)
        if not (isinstance(left, Value) and isinstance(right, Value) and {left.sort, right.sort} <= {"num", "null"}):
            return self._unknown_truth()
        a, b = left.value, right.value
        compare = {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[node.type]
        known = z3.And(z3.Not(left.null), z3.Not(right.null))
        return Truth(z3.And(known, compare), z3.And(known, z3.Not(compare)))

    def _regex(self, node: Any) -> Term:
        subject = self.translate(node.left)
        if not (isinstance(node.right, ast.StringExpression) and isinstance(subject, Value) and subject.sort == "str"):
            return self._unknown_truth()
        try:
            language = search_regex(node.right.value, anchored=node.type.endswith("fzm"))
        except RegexUnsupportedError:
            return self._unknown_truth()
        matched = z3.InRe(subject.value, language)
        if node.type.startswith("ne"):
            matched = z3.Not(matched)
        known = z3.Not(subject.null)
        return Truth(z3.And(known, matched), z3.And(known, z3.Not(matched)))

    def _arithmetic(self, node: Any) -> Term:
        left, right = self.translate(node.left), self.translate(node.right)
        if not (isinstance(left, Value) and isinstance(right, Value) and left.sort == right.sort == "num"):
            return self._opaque()
        null = z3.Or(left.null, right.null)
        a, b = left.value, right.value
        if isinstance(node, ast.AddExpression):
            return Value(a + b, null, "num")
        if isinstance(node, ast.SubtractExpression):
            return Value(a - b, null, "num")
        if node.type == "mul":
            return Value(a * b, null, "num")
        if node.type == "tdiv":
            return Value(a / b, z3.Or(null, b == 0), "num")
        return self._opaque()

    def _contains(self, node: Any) -> Term:
        member = self.translate(node.member)
        if isinstance(node.container, ast.ArrayExpression):
            valued = self._valued(member)
            if valued is None:
                return self._unknown_truth()
            options = [_equal(valued, self.translate(item)) for item in node.container.value]
            if any(option is None for option in options):
                return self._unknown_truth()
            inside = z3.Or(*options) if options else z3.BoolVal(False)
            return Truth(inside, z3.Not(inside))
        container = self.translate(node.container)
        if isinstance(container, Collected) and isinstance(node.member, ast.StringExpression):
            inside = z3.Or(*[h for h, then in container.items if then == node.member.value] or [z3.BoolVal(False)])
            return Truth(inside, z3.Not(inside))
        if (isinstance(container, Value) and container.sort == "str"
                and isinstance(member, Value) and member.sort == "str"):
            inside = z3.And(z3.Not(container.null), z3.Not(member.null), z3.Contains(container.value, member.value))
            return Truth(inside, z3.Not(inside))
        return self._unknown_truth()

    def _ternary(self, node: Any) -> Term:
        condition = self.truth(self.translate(node.condition))
        yes, no = self.translate(node.case_true), self.translate(node.case_false)
        if isinstance(yes, Value) and isinstance(no, Value) and _same_sort(yes, no):
            sort = yes.sort if yes.sort != "null" else no.sort
            return Value(z3.If(condition.true, yes.value, no.value), z3.If(condition.true, yes.null, no.null), sort)
        return self._opaque()

    def _attribute(self, node: Any) -> Term:
        cased = node.name in ("as_lower", "as_upper") and isinstance(node.object, ast.SymbolExpression)
        # A cased read alone leaves the field's own text free: the witness takes the cased copy.
        owner = self.term(node.object.name) if cased and node.object.scope is None else self.translate(node.object)
        if isinstance(owner, Collected):
            if node.name == "is_empty":
                empty = z3.Not(z3.Or(*[h for h, _ in owner.items])) if owner.items else z3.BoolVal(True)
                return Truth(empty, z3.Not(empty))
            if node.name == "length":
                count = sum((z3.If(h, z3.RealVal(1), z3.RealVal(0)) for h, _ in owner.items), z3.RealVal(0))
                return Value(count, z3.BoolVal(False), "num")
            return self._opaque()
        if not (isinstance(owner, Value) and owner.sort == "str"):
            return self._opaque()
        if node.name in ("as_lower", "as_upper"):
            return self._cased(node, owner)
        if node.name == "length":
            return Value(z3.ToReal(z3.Length(owner.value)), owner.null, "num")
        if node.name == "is_empty":
            empty = z3.Length(owner.value) == 0
            known = z3.Not(owner.null)
            return Truth(z3.And(known, empty), z3.And(known, z3.Not(empty)))
        return self._opaque()

    def _cased(self, node: Any, owner: Value) -> Value:
        # z3 has no case mapping: a cased copy is a new string with the owner's nullness
        # and no letters of the other case. Witnesses use the copy as the field's text.
        source = self._symbol_input(node.object)
        key = node.name
        if source is not None and key in source.cased:
            return Value(source.cased[key], owner.null, "str")
        n = next(self._fresh)
        copy = z3.String(f"{source.name if source else 'opaque'}.{key}.{n}")
        other = z3.Range("A", "Z") if key == "as_lower" else z3.Range("a", "z")
        alphabet = z3.Intersect(any_char(), z3.Complement(other))
        self.constraints.append(z3.InRe(copy, z3.Intersect(z3.Star(alphabet), _TEXT)))
        if source is not None:
            source.cased[key] = copy
        return Value(copy, owner.null, "str")

    def _symbol_input(self, node: Any) -> _Input | None:
        if isinstance(node, ast.SymbolExpression):
            return self.inputs.get(node.name)
        return None

    # -- witnesses -----------------------------------------------------------

    def witness(self, model: z3.ModelRef) -> dict[str, Any]:
        """The record a model describes: every input the formulas read, as JSON-ready values."""
        record: dict[str, Any] = {}
        for name, item in self.inputs.items():
            if z3.is_true(model.eval(item.null, model_completion=True)):
                record[name] = None
                continue
            value = item.value
            if item.kind == FieldType.STRING and item.cased and not item.direct:
                value = next(iter(item.cased.values()))
            record[name] = _python(model.eval(value, model_completion=True), item.kind)
        return record


def _literal(value: Any) -> Any:
    if isinstance(value, bool):
        return z3.BoolVal(value)
    if isinstance(value, int | float | decimal.Decimal):
        return z3.RealVal(str(value))
    return z3.StringVal(str(value))


def _zero(sort: str) -> Any:
    return {"str": z3.StringVal(""), "bool": z3.BoolVal(False)}.get(sort, z3.RealVal(0))


def _same_sort(left: Value, right: Value) -> bool:
    return left.sort == right.sort or "null" in (left.sort, right.sort)


def _equal(left: Value, right: Term) -> Any:
    if not isinstance(right, Value):
        return None
    if left.sort == "null" or right.sort == "null":
        other = right if left.sort == "null" else left
        return other.null
    if left.sort != right.sort or left.sort == "opaque":
        return None
    both_null = z3.And(left.null, right.null)
    return z3.Or(both_null, z3.And(z3.Not(left.null), z3.Not(right.null), left.value == right.value))


def _python(value: Any, kind: FieldType) -> Any:
    if kind in _NUMERIC:
        fraction = value.as_fraction() if z3.is_rational_value(value) else None
        if fraction is None:
            return 0
        number = fraction.numerator / fraction.denominator
        return int(number) if number.is_integer() else number
    if kind == FieldType.BOOLEAN:
        return z3.is_true(value)
    return str(value.as_string())
