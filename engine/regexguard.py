"""Refusing regular expressions whose backtracking grows exponentially with the text (`(a+)+$`)."""

# Python's `re` backtracks: a pattern that can match the same text in many ways takes time
# exponential in the length of a non-matching text, holding the interpreter the whole time
# (no signal handler runs). The compiled path runs regexes in Rust's linear-time engine; the
# row-by-row fallback runs them in `re`, so the loader checks those patterns here. The check
# is the classic static one: inside an unbounded repetition, a variable repetition can match
# what follows it (`(a+)+`, `(.*a)+`, `(\w+\s?)+`), or two alternatives can match the same
# text (`(a|a)+`).

from __future__ import annotations

import importlib
import re
from typing import Any

import polars as pl

from revrules.engine.limits import regex_literals

# The stdlib's own regex parser (no public API); tests/lint/test_regex_parser.py guards its shape.
_parser: Any = importlib.import_module("re._parser")
_ANY = "any"
_CATEGORY_CLASS = {"CATEGORY_DIGIT": r"\d", "CATEGORY_WORD": r"\w", "CATEGORY_SPACE": r"\s"}
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT")
_ZERO_WIDTH = ("AT", "ASSERT", "ASSERT_NOT")

Items = list[tuple[Any, Any]]


def backtracking_problem(pattern: str) -> str | None:
    """Why `pattern` can take exponential time in Python's `re`, or None when it cannot.

    A pattern `re` cannot parse gives None: reporting invalid patterns is the loader's job.
    """
    try:
        tree = list(_parser.parse(pattern))
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    return _check(tree)


def _check(items: Items) -> str | None:
    for op, av in items:
        name = str(op)
        if name in _REPEATS:
            _low, high, body = av
            body = list(body)
            if high == _parser.MAXREPEAT:
                found = _ambiguous_loop(body)
                if found:
                    return found
            children = [body]
        else:
            children = _children(name, av)
        for child in children:
            found = _check(child)
            if found:
                return found
    return None


def _children(name: str, av: Any) -> list[Items]:
    """The sub-patterns of one item that backtracking can enter (atomic and possessive ones cannot)."""
    if name == "SUBPATTERN":
        return [list(av[3])]
    if name == "BRANCH":
        return [list(branch) for branch in av[1]]
    if name in ("ASSERT", "ASSERT_NOT"):
        return [list(av[1])]
    if name == "GROUPREF_EXISTS":
        return [list(part) for part in av[1:] if part is not None]
    return []


def _ambiguous_loop(body: Items) -> str | None:
    """Whether one pass of an unbounded loop over `body` can split the same text in several ways."""
    starts = _first(body)
    flat = _flatten(body)
    for index, (op, av) in enumerate(flat):
        if str(op) in _REPEATS and av[1] != av[0]:
            rest = flat[index + 1:]
            follows = _first(rest) | (starts if _nullable(rest) else set())
            if _overlap(_first(list(av[2])), follows):
                return "a repetition inside a repeated group can match what follows it, like (a+)+ or " \
                       "(.*a)+; remove the nesting or make the end of the repetition unambiguous"
    for inner in _tail_repeats(body):
        if _overlap(_first(inner), starts):
            return "a repeated group ends in a repetition that can match what the group starts with, " \
                   "like (a+)+ or (\\w+\\s?)+; remove the nesting or make the group's end unambiguous"
    for branches in _top_branches(body):
        firsts = [_first(branch) for branch in branches]
        empty = [_nullable(branch) for branch in branches]
        for i, one in enumerate(firsts):
            if any(_overlap(one, other) or (empty[i] and empty[j])
                   for j, other in enumerate(firsts) if j > i):
                return "a repeated group has alternatives that can match the same text, like (a|a)+ or " \
                       "(ab|a.)+; make the alternatives start differently"
    return None


def _flatten(items: Items) -> Items:
    """The items in sequence, with plain groups opened (their items match in the same order)."""
    flat: Items = []
    for op, av in items:
        if str(op) == "SUBPATTERN":
            flat += _flatten(list(av[3]))
        else:
            flat.append((op, av))
    return flat


def _tail_repeats(items: Items) -> list[Items]:
    """Bodies of variable repetitions that only empty-matching items follow, looking into groups."""
    found: list[Items] = []
    for index in range(len(items) - 1, -1, -1):
        op, av = items[index]
        name = str(op)
        if name in _REPEATS and av[1] != av[0]:
            found.append(list(av[2]))
        elif name == "SUBPATTERN":
            found += _tail_repeats(list(av[3]))
        elif name == "BRANCH":
            for branch in av[1]:
                found += _tail_repeats(list(branch))
        if not _nullable([items[index]]):
            break
    return found


def _top_branches(items: Items) -> list[list[Items]]:
    branches: list[list[Items]] = []
    for op, av in items:
        name = str(op)
        if name == "BRANCH":
            branches.append([list(branch) for branch in av[1]])
        elif name == "SUBPATTERN":
            branches += _top_branches(list(av[3]))
    return branches


def _nullable(items: Items) -> bool:
    """Whether the items can match the empty string."""
    for op, av in items:
        name = str(op)
        if name in _ZERO_WIDTH:
            continue
        if name in _REPEATS or name == "POSSESSIVE_REPEAT":
            if av[0] == 0 or _nullable(list(av[2])):
                continue
            return False
        if name == "SUBPATTERN" and _nullable(list(av[3])):
            continue
        if name == "BRANCH" and any(_nullable(list(branch)) for branch in av[1]):
            continue
        return False
    return True


def _first(items: Items) -> set[str]:
    """The characters (or character classes) a match of the items can start with."""
    found: set[str] = set()
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            found.add(chr(av))
        elif name == "IN":
            found |= _set_first(av)
        elif name in _REPEATS or name == "POSSESSIVE_REPEAT":
            found |= _first(list(av[2]))
        elif name == "SUBPATTERN":
            found |= _first(list(av[3]))
        elif name == "BRANCH":
            for branch in av[1]:
                found |= _first(list(branch))
        elif name not in _ZERO_WIDTH:
            found.add(_ANY)
        if not _nullable([(op, av)]):
            break
    return found


def _set_first(members: Any) -> set[str]:
    found: set[str] = set()
    for op, av in members:
        name = str(op)
        if name == "LITERAL":
            found.add(chr(av))
        elif name == "RANGE" and av[1] - av[0] < 256:
            found |= {chr(code) for code in range(av[0], av[1] + 1)}
        elif name == "CATEGORY" and str(av) in _CATEGORY_CLASS:
            found.add(str(av))
        else:  # a negated set, a wide range or a negated category: assume it overlaps anything
            return {_ANY}
    return found


def _overlap(one: set[str], other: set[str]) -> bool:
    if not one or not other:
        return False
    if _ANY in one or _ANY in other or one & other:
        return True
    for a in one:
        for b in other:
            if a in _CATEGORY_CLASS and b in _CATEGORY_CLASS:
                if {a, b} != {"CATEGORY_WORD", "CATEGORY_SPACE"} and {a, b} != {"CATEGORY_DIGIT", "CATEGORY_SPACE"}:
                    return True
            elif a in _CATEGORY_CLASS or b in _CATEGORY_CLASS:
                category, char = (a, b) if a in _CATEGORY_CLASS else (b, a)
                if re.fullmatch(_CATEGORY_CLASS[category], char):
                    return True
    return False


def rust_regex_compiles(pattern: str) -> bool:
    """Whether the compiled path's engine (Rust `regex`, through polars) accepts the pattern."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.PolarsError:
        return False
    return True


def backtracking_in(expression: Any, *, fallback: bool) -> str | None:
    """Why a regex of this expression could hang Python's `re`, when `re` is what runs it.

    Args:
        expression: A rule-engine syntax tree.
        fallback: Whether the expression runs row by row (all its patterns run in `re`);
            otherwise only patterns Rust cannot compile do.
    """
    for pattern in regex_literals(expression):
        if fallback or not rust_regex_compiles(pattern):
            problem = backtracking_problem(pattern)
            if problem is not None:
                return f"regex {pattern!r} can take exponential time on non-matching text: {problem}"
    return None
