r"""Translate Python `re` patterns (rule-engine's dialect) to Rust regexes with the same meaning.

A pattern is parsed with Python's own parser and written out again for Rust's
engine, which polars uses. Where the two differ the output spells Python's meaning
out: `\w` is a letter, a number or `_` (Rust adds combining marks), `\s` also
matches the separators `\x1c`-`\x1f`, `$` also matches before a final newline,
and a `[` inside a class is a literal, never a POSIX class such as `[[:alpha:]]`.
A construct without a faithful translation (word boundaries, look-around, back
references, ASCII or locale flags) raises `UntranslatableError`; the caller then
runs the pattern with Python's `re`, row by row.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# The parser module is private and ships without type stubs; the public
# `sre_parse` alias warns that it is deprecated. tests/lint/test_regex_parser.py guards its shape.
_parser: Any = importlib.import_module("re._parser")

_WORD = r"\p{L}\p{N}_"  # CPython's \w: str.isalnum() or '_'
_SPACE = r"\s\x{1c}-\x{1f}"  # CPython's \s: str.isspace(); Rust's \s lacks the four separators
_CATEGORIES = {
    "CATEGORY_DIGIT": r"\p{Nd}",
    "CATEGORY_NOT_DIGIT": r"\P{Nd}",
    "CATEGORY_SPACE": f"[{_SPACE}]",
    "CATEGORY_NOT_SPACE": f"[^{_SPACE}]",
    "CATEGORY_WORD": f"[{_WORD}]",
    "CATEGORY_NOT_WORD": f"[^{_WORD}]",
}
_FLAGS = {re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s"}
_REFUSED_FLAGS = re.ASCII | re.LOCALE


class UntranslatableError(Exception):
    """The pattern has no Rust equivalent with the same meaning."""


def to_rust(pattern: str, *, anchored: bool) -> str:
    """The Rust regex that matches exactly where Python's `re` does.

    Args:
        pattern: A Python regular expression.
        anchored: Match at the start only (`re.match`) instead of anywhere (`re.search`).

    Raises:
        UntranslatableError: The pattern uses a construct Rust cannot express the same way.
        re.error: The pattern is not a valid Python regular expression.
    """
    parsed = _parser.parse(pattern, 0)
    flags = int(parsed.state.flags)
    if flags & _REFUSED_FLAGS:
        raise UntranslatableError("ASCII or locale flag")
    body = _sequence(list(parsed), flags, at_end=True)
    prefix = "".join(letter for flag, letter in _FLAGS.items() if flags & flag)
    text = f"(?{prefix}){body}" if prefix else body
    return rf"\A(?:{text})" if anchored else text


def _sequence(items: list[tuple[Any, Any]], flags: int, *, at_end: bool) -> str:
    last = len(items) - 1
    return "".join(_item(op, av, flags, at_end=at_end and i == last) for i, (op, av) in enumerate(items))


def _item(op: Any, av: Any, flags: int, *, at_end: bool) -> str:
    name = str(op)
    if name == "LITERAL":
        return _char(av)
    if name == "NOT_LITERAL":
        return f"[^{_char(av)}]"
    if name == "ANY":
        return "."
    if name == "IN":
        return _class(av)
    if name == "BRANCH":
        return "(?:" + "|".join(_sequence(list(b), flags, at_end=at_end) for b in av[1]) + ")"
    if name == "SUBPATTERN":
        _group, add, remove, inner = av
        if (add | remove) & _REFUSED_FLAGS:
            raise UntranslatableError("ASCII or locale flag")
        on = "".join(letter for flag, letter in _FLAGS.items() if add & flag)
        off = "".join(letter for flag, letter in _FLAGS.items() if remove & flag)
        scoped = on + (f"-{off}" if off else "")
        inner_flags = (flags | add) & ~remove
        return f"(?{scoped}:" + _sequence(list(inner), inner_flags, at_end=at_end) + ")"
    if name in ("MAX_REPEAT", "MIN_REPEAT"):
        low, high, inner = av
        bound = f"{{{low},}}" if high == _parser.MAXREPEAT else f"{{{low},{high}}}"
        lazy = "?" if name == "MIN_REPEAT" else ""
        return "(?:" + _sequence(list(inner), flags, at_end=False) + ")" + bound + lazy
    if name == "AT":
        return _at(str(av), flags, at_end=at_end)
    if name == "CATEGORY":
        return _CATEGORIES[str(av)]
    raise UntranslatableError(name.lower().replace("_", " "))


def _at(where: str, flags: int, *, at_end: bool) -> str:
    if where == "AT_BEGINNING":
        return "^"
    if where == "AT_BEGINNING_STRING":
        return r"\A"
    if where == "AT_END_STRING":
        return r"\z"
    if where == "AT_END":
        if flags & re.MULTILINE:
            return "$"
        if at_end:
            # Python's `$` also holds before a final newline. Consuming that newline is
            # harmless only where nothing follows, which `at_end` guarantees.
            return r"(?:\n?\z)"
    raise UntranslatableError(where.lower())


def _class(items: list[tuple[Any, Any]]) -> str:
    parts = []
    negate = False
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            parts.append(_char(av))
        elif name == "RANGE":
            parts.append(f"{_char(av[0])}-{_char(av[1])}")
        elif name == "CATEGORY":
            parts.append(_CATEGORIES[str(av)])
        else:
            raise UntranslatableError(name.lower())
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _char(code: int) -> str:
    character = chr(code)
    if character.isascii() and character.isalnum():
        return character
    if 0xD800 <= code <= 0xDFFF:
        raise UntranslatableError("surrogate code point")
    return f"\\x{{{code:x}}}"
