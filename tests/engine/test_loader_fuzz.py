"""Random YAML documents and expressions reach the loader: only the project's own errors come out."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revrules.engine.convert import FieldType
from revrules.engine.rulebook import load_rulebook
from revrules.engine.yamlstrict import load_yaml_text
from revrules.errors import InvalidInputError

FIELDS = {"employees": FieldType.NUMBER, "industry": FieldType.STRING, "tags": FieldType.LIST}
TOKENS = ["employees", "industry", "tags", "segment", "1", "2.5", "'x'", "null", "true", "and", "or", "not",
          "==", "!=", ">=", "<", "=~", "=~~", "in", "[", "]", "(", ")", ",", "+", "*", "/", "?", ":", "??",
          ".", "is_empty", "length", "as_lower", "$now", "'['", "r'\\d'", "{", "}", "&", "|", "d'2024-01-01'"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(["version", "decisions", "derive", "rules", "when",
                                                             "then", "hit", "territories", "tree", "lists", "id",
                                                             "tests", "expect", "account", "owners", "x"]),
                                            inner, max_size=5)),
    max_leaves=20,
)
expressions = st.lists(st.sampled_from(TOKENS), min_size=0, max_size=8).map(" ".join)


def _load(tmp: Path, text: str) -> None:
    path = tmp / "book.yaml"
    path.write_text(text)
    try:
        load_rulebook([path], FIELDS)
    except InvalidInputError as exc:
        assert exc.problems or str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_random_documents_raise_only_invalid_input(tmp_path: Path, document: object) -> None:
    _load(tmp_path, yaml.safe_dump(document))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expressions, st.sampled_from(["first", "unique", "collect", "sum", "any"]))
def test_random_expressions_raise_only_invalid_input(tmp_path: Path, expression: str, hit: str) -> None:
    text = (
        "version: 1\ndecisions:\n  segment:\n"
        f"    hit: {hit}\n    rules:\n      - when: {yaml.safe_dump(expression).strip().removesuffix('...').strip()}\n"
        "        then: 1\n"
    )
    _load(tmp_path, text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_raises_only_invalid_input(text: str) -> None:
    with contextlib.suppress(InvalidInputError):
        load_yaml_text(text, "random.yaml")


def test_yaml_keeps_no_yes_on_off_as_strings() -> None:
    doc = load_yaml_text("a: NO\nb: yes\nc: off\nd: On\ne: true\nf: 1:20\ng: 012\nh: 2024-01-31\n", "f.yaml")
    assert doc.data == {"a": "NO", "b": "yes", "c": "off", "d": "On", "e": True, "f": "1:20", "g": 12,
                        "h": "2024-01-31"}


def test_yaml_duplicate_keys_are_reported_with_their_position() -> None:
    try:
        load_yaml_text("a: 1\nb:\n  c: 1\n  c: 2\n", "f.yaml")
    except InvalidInputError as exc:
        assert [str(p) for p in exc.problems] == ["f.yaml:4:3: b: duplicate key 'c'"]
    else:
        raise AssertionError("duplicate key accepted")


HOSTILE_PIECES = ["&a ", "*a", "*b", "&b ", "!!python/object:os.system ", "!!set ", "!!python/tuple ", "!custom ",
                  "[", "]", "{", "}", "- ", "\n  ", "\n", "a: ", "when: ", "'(a+)+$'", "\"", "'", "? ", ": ", ",",
                  "version: 1\n", "decisions:\n", "%TAG ! tag:x,2000:\n", "---\n", "...\n", "\t", "#", "|\n", ">-\n"]


def _bounded_load(tmp: Path, data: bytes) -> None:
    """Load a rulebook of arbitrary bytes: only InvalidInputError, and well within a generous bound."""
    path = tmp / "book.yaml"
    path.write_bytes(data)
    started = time.monotonic()
    try:
        load_rulebook([path], FIELDS)
    except InvalidInputError as exc:
        assert str(exc)
    assert time.monotonic() - started < 30  # a hang is minutes or forever; a busy machine is seconds


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_invalid_input(tmp_path: Path, data: bytes) -> None:
    _bounded_load(tmp_path, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(HOSTILE_PIECES), max_size=40), st.integers(0, 3))
def test_aliases_tags_and_nesting_raise_only_invalid_input(tmp_path: Path, pieces: list[str], repeat: int) -> None:
    _bounded_load(tmp_path, ("".join(pieces) * (1 + repeat * 50)).encode())


@pytest.mark.parametrize("depth", [99, 101, 1_000, 100_000])
@pytest.mark.parametrize("shape", ["[{}]", "{{a: {}}}", "({})"])
def test_deep_nesting_of_yaml_and_expressions_raises_only_invalid_input(tmp_path: Path, depth: int,
                                                                         shape: str) -> None:
    if shape == "({})":  # an expression: parentheses, then a chain of as many terms
        nested = "(" * depth + "employees > 1" + ")" * depth
        chain = " or ".join(["employees > 1"] * min(depth, 5_000))
        for when in (nested, chain):
            _bounded_load(tmp_path, ("version: 1\ndecisions:\n  d:\n    hit: any\n    rules:\n"
                                     f"      - when: \"{when}\"\n").encode())
        return
    text = "x"
    for _ in range(depth):
        text = shape.format(text)
    _bounded_load(tmp_path, f"version: 1\nderive: {text}\n".encode())
