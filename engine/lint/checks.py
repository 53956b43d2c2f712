"""Static checks of a rulebook with the z3 solver: shadowed rules, overlaps, gaps, dead conditions."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import z3

from revrules.engine.definitions import Decision, Expression, Rulebook
from revrules.engine.lint.findings import Finding, location
from revrules.engine.lint.symbolic import Model

_TIMEOUT_MS = 3000


Question = Callable[[Model], Any]
"""Builds one formula from a model: the same question is asked of the abstract and the concrete model."""


class _Solver:
    """A solver over one model's background constraints; each question is asked in its own scope."""

    def __init__(self, model: Model, timeout_ms: int) -> None:
        self.model = model
        self.solver = z3.Solver()
        self.solver.set(timeout=timeout_ms)
        self._added = 0

    def check(self, questions: tuple[Question, ...]) -> tuple[Any, z3.ModelRef | None]:
        formulas = [question(self.model) for question in questions]
        # Translating new expressions adds background constraints (fresh values, string shapes).
        pending = self.model.constraints[self._added:]
        if pending:
            self.solver.add(*pending)
            self._added += len(pending)
        self.solver.push()
        try:
            self.solver.add(*formulas)
            answer = self.solver.check()
            return answer, self.solver.model() if answer == z3.sat else None
        finally:
            self.solver.pop()


class _Ask:
    """Proofs from the abstract model (fast, sound); witness records from the concrete one."""

    def __init__(self, book: Rulebook, timeout_ms: int) -> None:
        self.abstract = _Solver(Model(book, abstract=True), timeout_ms)
        self.concrete = _Solver(Model(book), timeout_ms)

    def impossible(self, *questions: Question) -> bool:
        """True only when the solver proves that no record satisfies every question."""
        return bool(self.abstract.check(questions)[0] == z3.unsat)

    def example(self, *questions: Question, prefer: Question | None = None) -> dict[str, Any] | None:
        """A record satisfying the questions (and `prefer`, when it can), or None when none is found."""
        if self.impossible(*questions):
            return None
        for extra in ((prefer,), ()) if prefer else ((),):
            _, model = self.concrete.check((*questions, *extra))
            if model is not None:
                witness: dict[str, Any] = self.concrete.model.witness(model)
                return witness
        return None


@dataclass(frozen=True)
class Picklist:
    """The CRM field a result is written to and the options it offers (`--online`)."""

    field: str
    options: frozenset[str]

    def refuses(self, value: str) -> bool:
        """True when `value` is not an option; a `;`-joined value (multi-select) needs each part to be one."""
        return value not in self.options and any(p.strip() not in self.options for p in value.split(";"))


def check_values(book: Rulebook, picklists: Mapping[str, Picklist], *, timeout_ms: int = _TIMEOUT_MS) -> list[Finding]:
    """RR108: `then` values, defaults and territory leaf ids that are not options of their output's picklist.

    Args:
        book: The rulebook.
        picklists: Result name (decision or territory output) -> its CRM field's options.
        timeout_ms: The solver's time per question.

    Returns:
        Findings with a witness record that gets the value, unverified.
    """
    ask = _Ask(book, timeout_ms)
    findings: list[Finding] = []
    for decision in book.decisions:
        picklist = picklists.get(decision.name)
        if picklist is None or decision.hit not in ("first", "unique", "collect"):
            continue
        holds = [_holds(rule.when) for rule in decision.rules]
        for i, rule in enumerate(decision.rules):
            value = _text(rule.then)
            if value is None or not picklist.refuses(value):
                continue
            # Under `unique` a rule decides only when no other rule holds.
            others = holds[:i] if decision.hit == "first" else holds[:i] + holds[i + 1:]
            findings.append(_value_finding(
                picklist, value, f"rule '{rule.id}' of {decision.name}", location(rule.when.where),
                f"decision {decision.name}", rule.id, ask.example(holds[i], _none_of(others)),
                {"decider": [decision.name, rule.id]}))
        value = _text(decision.default)
        if value is not None and decision.hit != "collect" and picklist.refuses(value):
            where = _default_line(decision.rules[-1].when.where) if decision.rules else None
            findings.append(_value_finding(
                picklist, value, f"the default of {decision.name}", where or (str(book.files[0]), 1, 1),
                f"decision {decision.name}", "default", ask.example(_none_of(holds), prefer=_tidy(known=True)),
                {"decider": [decision.name, "default"]}))
    territories = book.territories
    picklist = picklists.get(territories.output) if territories is not None else None
    if territories is not None and picklist is not None:
        earlier: list[Question] = []
        for path in territories.leaves():
            leaf = path[-1]
            reached = _all([_holds(node.when) for node in path])
            if picklist.refuses(leaf.id):
                findings.append(_value_finding(
                    picklist, leaf.id, f"territory '{leaf.id}'", location(leaf.when.where), f"territory {leaf.id}",
                    leaf.id, ask.example(reached, _none_of(earlier)), {"territory": leaf.id}))
            earlier.append(reached)
    return findings


def _text(value: Any) -> str | None:
    """A fixed result as the CRM receives it; None for blanks and list values."""
    if value is None or value == "" or isinstance(value, list):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def _default_line(after: str) -> tuple[str, int, int] | None:
    """Where the `default:` key after the decision's last rule is (the loader keeps no position for it)."""
    file, line, _col = location(after)
    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for number in range(line, len(lines)):
        text = lines[number]
        if text.strip().startswith("default:"):
            return file, number + 1, len(text) - len(text.lstrip()) + 1
    return None


def _value_finding(picklist: Picklist, value: str, what: str, where: tuple[str, int, int],  # noqa: PLR0917
                   subject: str, target: str, witness: dict[str, Any] | None, claim: dict[str, Any]) -> Finding:
    listed = ", ".join(repr(o) for o in sorted(picklist.options)[:12])
    more = f", ... ({len(picklist.options) - 12} more)" if len(picklist.options) > 12 else ""
    message = (f"{what} writes {value!r} to {picklist.field}, which is not an active option of its picklist "
               f"(options: {listed or 'none'}{more})")
    return Finding("RR108", *where, subject, target, message, witness, claim)


def _holds(when: Expression) -> Question:
    return lambda m: m.holds(when)


def _not(question: Question) -> Question:
    return lambda m: z3.Not(question(m))


def _none_of(questions: list[Question]) -> Question:
    return lambda m: z3.Not(z3.Or(*[q(m) for q in questions])) if questions else z3.BoolVal(True)


def _all(questions: list[Question]) -> Question:
    return lambda m: z3.And(*[q(m) for q in questions])


def check_rulebook(book: Rulebook, *, timeout_ms: int = _TIMEOUT_MS) -> list[Finding]:
    """Every solver finding of `book`, in rulebook order, with unverified witnesses."""
    ask = _Ask(book, timeout_ms)
    findings: list[Finding] = []
    for decision in book.decisions:
        findings += _decision_findings(decision, ask)
    findings += _territory_findings(book, ask)
    for item in book.lists:
        held = _holds(item.when)
        if ask.impossible(held):
            findings.append(_finding("RR105", item.when, f"list {item.id}", item.id,
                                     f"list '{item.id}' can have no members: its condition never holds",
                                     ask.example(_not(held)), {"not_member": [item.id]}))
    return findings


def _decision_findings(decision: Decision, ask: _Ask) -> Iterator[Finding]:
    holds = [_holds(rule.when) for rule in decision.rules]
    subject = f"decision {decision.name}"
    for i, rule in enumerate(decision.rules):
        pair = [decision.name, rule.id]
        if ask.impossible(holds[i]):
            yield _finding("RR107", rule.when, subject, rule.id, f"rule '{rule.id}' never holds: `{rule.when.source}`",
                           ask.example(_not(holds[i])), {"not_true": [pair]})
            continue
        if rule.when.source.strip() != "true" and ask.impossible(_not(holds[i])):
            yield _finding("RR106", rule.when, subject, rule.id, f"rule '{rule.id}' always holds: `{rule.when.source}`",
                           ask.example(holds[i]), {"true": [pair]})
        if decision.hit == "first" and i and ask.impossible(holds[i], _none_of(holds[:i])):
            implied = [r.id for r, h in zip(decision.rules[:i], holds[:i], strict=True)
                       if ask.impossible(holds[i], _not(h))]
            cover = f"'{implied[0]}'" if implied else "the earlier rules together"
            message = (f"rule '{rule.id}' never decides {decision.name}: whenever `{rule.when.source}` holds, "
                       f"{cover} already decided")
            yield _finding("RR101", rule.when, subject, rule.id, message, ask.example(holds[i]),
                           {"true": [pair], "decider_not": pair})
    if decision.hit == "unique":
        for i, j in ((a, b) for a in range(len(holds)) for b in range(a + 1, len(holds))):
            both = ask.example(holds[i], holds[j], prefer=_tidy())
            if both is not None:
                a, b = decision.rules[i], decision.rules[j]
                yield _finding("RR102", b.when, subject, b.id,
                               f"rules '{a.id}' and '{b.id}' both hold for some records: a unique conflict",
                               both, {"true": [[decision.name, a.id], [decision.name, b.id]]})
    if decision.default is None and decision.hit in ("first", "unique") and decision.rules:
        witness = ask.example(_none_of(holds), prefer=_tidy(known=True))
        if witness is not None:
            message = f"{decision.name} has no default and no rule covers some records"
            yield _finding("RR103", decision.rules[0].when, subject, decision.name, message, witness,
                           {"decider": [decision.name, "default"]})


def _territory_findings(book: Rulebook, ask: _Ask) -> Iterator[Finding]:
    if book.territories is None:
        return
    earlier: list[Question] = []
    for path in book.territories.leaves():
        leaf = path[-1]
        reached = _all([_holds(node.when) for node in path])
        if ask.impossible(reached, _none_of(earlier)):
            example = ask.example(reached) or ask.example(lambda _m: z3.BoolVal(True))
            yield _finding("RR104", leaf.when, f"territory {leaf.id}", leaf.id,
                           f"territory '{leaf.id}' is unreachable: earlier leaves or its own conditions take "
                           "every record it could match", example, {"territory_not": leaf.id})
        earlier.append(reached)


def _tidy(*, known: bool = False) -> Question:
    """Preferences that make a witness easier to read: whole numbers and, when asked, no blanks."""

    def prefer(model: Model) -> Any:
        prefs = [z3.IsInt(i.value) for i in model.inputs.values() if z3.is_real(i.value)]
        if known:
            prefs += [z3.Not(i.null) for i in model.inputs.values()]
        return z3.And(*prefs)

    return prefer


def _finding(code: str, where: Expression, subject: str, target: str, message: str, witness: dict[str, Any] | None,  # noqa: PLR0917
             claim: dict[str, Any]) -> Finding:
    file, line, col = location(where.where)
    return Finding(code, file, line, col, subject, target, message, witness, claim)
