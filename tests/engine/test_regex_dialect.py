"""Compiled regexes mean what Python's `re` means (rule-engine's dialect), on any Unicode text."""

from __future__ import annotations

import re
import unicodedata

import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from revrules.engine.regex_dialect import UntranslatableError, to_rust

# `[[:alpha:]]` is on purpose: Python warns that it may one day read it as a POSIX class.
pytestmark = pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")

# Characters where Python's and Rust's engines used to disagree, and their neighbours.
TRICKY = ["a", "b", "A", "_", "0", "9", " ", "\n", "\t", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "é",
          "e\u0301", "\u0301", "٣", "½", "Ⅻ", "\u212a", "k", "K", "ſ", "s", "ß", "中", "[", ":", "]", "-", "$", "İ"]
# Assigned in Python's Unicode tables, so that a newer Unicode version in Rust cannot disagree.
assigned = st.characters(codec="utf-8").filter(lambda c: unicodedata.category(c) not in ("Cn", "Cs"))
texts = st.lists(st.one_of(st.sampled_from(TRICKY), assigned), max_size=6).map("".join)
ATOMS = [r"\w", r"\W", r"\s", r"\S", r"\d", r"\D", ".", "a", "k", "ß", "é", r"[[:alpha:]]", r"[\w-]", r"[^\s\d]",
         r"[a-z]", r"[^a]", r"\n", "^", "$", r"\A", r"\Z", "(?:a|b)", r"[\u0300-\u036f]", "_"]


def _pattern(parts: list[tuple[str, str]]) -> str:
    return "".join(atom + quantifier for atom, quantifier in parts)


patterns = st.tuples(
    st.sampled_from(["", "(?i)", "(?m)", "(?s)"]),
    st.lists(st.tuples(st.sampled_from(ATOMS), st.sampled_from(["", "", "*", "+", "?", "{2}", "+?"])),
             min_size=1, max_size=4).map(_pattern),
).map("".join)


def rust_matches(pattern: str, strings: list[str], *, anchored: bool) -> list[bool]:
    return pl.Series(strings, dtype=pl.String).str.contains(to_rust(pattern, anchored=anchored)).to_list()


@settings(max_examples=300)
@given(patterns, st.lists(texts, min_size=1, max_size=8), st.booleans())
def test_translated_pattern_matches_where_python_re_matches(pattern: str, strings: list[str], anchored: bool) -> None:
    try:
        compiled = re.compile(pattern)
        translated = rust_matches(pattern, strings, anchored=anchored)
    except (re.error, UntranslatableError):
        assume(False)
        return
    search = compiled.match if anchored else compiled.search
    assert translated == [search(s) is not None for s in strings]


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    (r"^\w+$", "e\u0301", False),  # a combining accent is no word character in Python
    (r"[[:alpha:]]", "alpha", False),  # Python reads `[[:alpha:]` as a set, then `]`
    (r"[[:alpha:]]", "a]", True),
    (r"\s", "\x1c", True),
    (r"b$", "ab\n", True),  # `$` also holds before a final newline
    (r"b\Z", "ab\n", False),
])
def test_python_meanings_that_rust_spells_differently(pattern: str, text: str, expected: bool) -> None:
    assert rust_matches(pattern, [text], anchored=False) == [expected]
    assert (re.search(pattern, text) is not None) is expected


@pytest.mark.parametrize("pattern", [r"\bword", "(?=a)", r"(a)\1", "(?a)\\w", "a$b", "(?<!x)y", "(?>a)"])
def test_patterns_without_a_faithful_translation_are_refused(pattern: str) -> None:
    with pytest.raises(UntranslatableError):
        to_rust(pattern, anchored=False)
