"""Python regular expressions as z3 regular expressions, for the subset rulebooks use."""

from __future__ import annotations

import importlib
import re
from typing import Any

import z3

# The stdlib's own regex parser (private, untyped): the one pattern reader that agrees with `re`.
# tests/lint/test_regex_parser.py fails first, naming what changed, if a Python moves or reshapes it.
sre_c: Any = importlib.import_module("re._constants")
sre_parse: Any = importlib.import_module("re._parser")
_CHARSET = z3.ReSort(z3.StringSort())


class RegexUnsupportedError(Exception):
    """The pattern uses a construct the translation does not model (flags, look-arounds, back references)."""


def any_char() -> Any:
    """One character of any kind."""
    return z3.AllChar(_CHARSET)


def anything() -> Any:
    """Any string, including the empty one."""
    return z3.Full(_CHARSET)


def empty_string() -> Any:
    """Only the empty string."""
    return z3.Re("")


def search_regex(pattern: str, *, anchored: bool) -> Any:
    """The z3 language of strings that `re.match` (anchored) or `re.search` finds `pattern` in."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        raise RegexUnsupportedError(str(exc)) from exc
    if parsed.state.flags & ~(sre_c.SRE_FLAG_UNICODE):
        raise RegexUnsupportedError("inline flags")
    items = list(parsed)
    if items and items[0] == (sre_c.AT, sre_c.AT_BEGINNING):
        items, anchored = items[1:], True
    body = _sequence(items, anything())
    return body if anchored else z3.Concat(anything(), body)


def _sequence(items: list[Any], cont: Any) -> Any:
    """`items` followed by whatever `cont` accepts (continuation passing, so `$` can sit anywhere)."""
    result = cont
    for op, arg in reversed(items):
        result = _item(op, arg, result)
    return result


def _item(op: Any, arg: Any, cont: Any) -> Any:
    if op == sre_c.LITERAL:
        return z3.Concat(z3.Re(chr(arg)), cont)
    if op == sre_c.ANY:
        return z3.Concat(z3.Intersect(any_char(), z3.Complement(z3.Re("\n"))), cont)
    if op == sre_c.IN:
        return z3.Concat(_char_class(arg), cont)
    if op == sre_c.SUBPATTERN:
        return _sequence(list(arg[-1]), cont)
    if op == sre_c.BRANCH:
        return z3.Union(*[_sequence(list(branch), cont) for branch in arg[1]])
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
        low, high, sub = arg
        inner = _sequence(list(sub), empty_string())
        if high == sre_c.MAXREPEAT:
            repeated = z3.Concat(z3.Loop(inner, low, low), z3.Star(inner)) if low else z3.Star(inner)
        else:
            repeated = z3.Loop(inner, low, high)
        return z3.Concat(repeated, cont)
    if op == sre_c.AT and arg == sre_c.AT_END:
        # `$`: what follows must be the end of the string.
        return z3.Intersect(empty_string(), cont)
    if op == sre_c.AT and arg == sre_c.AT_END_STRING:
        return z3.Intersect(empty_string(), cont)
    raise RegexUnsupportedError(str(op))


_CATEGORIES = {
    sre_c.CATEGORY_DIGIT: [("0", "9")],
    sre_c.CATEGORY_WORD: [("a", "z"), ("A", "Z"), ("0", "9"), ("_", "_")],
    sre_c.CATEGORY_SPACE: [(" ", " "), ("\t", "\r")],
}


def _char_class(items: list[Any]) -> Any:
    negate = False
    parts = []
    for op, arg in items:
        if op == sre_c.NEGATE:
            negate = True
        elif op == sre_c.LITERAL:
            parts.append(z3.Re(chr(arg)))
        elif op == sre_c.RANGE:
            parts.append(z3.Range(chr(arg[0]), chr(arg[1])))
        elif op == sre_c.CATEGORY and arg in _CATEGORIES:
            parts.extend(z3.Range(lo, hi) for lo, hi in _CATEGORIES[arg])
        else:
            raise RegexUnsupportedError(str(op))
    chars = parts[0] if len(parts) == 1 else z3.Union(*parts)
    return z3.Intersect(any_char(), z3.Complement(chars)) if negate else chars
