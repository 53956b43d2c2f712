"""Expressions rule-engine accepts either evaluate or are refused at load time with file:line:col."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from revrules.engine.convert import FieldType
from revrules.engine.evaluate import evaluate
from revrules.engine.rulebook import load_rulebook
from revrules.errors import InvalidInputError

FIELDS = {"a": FieldType.NUMBER, "name": FieldType.STRING}


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "book.yaml").write_text("version: 1\n" + text)
    return tmp_path / "book.yaml"


def problems(tmp_path: Path, text: str) -> list[str]:
    path = _write(tmp_path, text)
    with pytest.raises(InvalidInputError) as caught:
        load_rulebook([path], FIELDS)
    return [str(p).replace(str(path), "book.yaml") for p in caught.value.problems]


def test_a_number_in_a_mixed_list_compares_with_the_numbers_only(tmp_path: Path) -> None:
    text = ("decisions:\n  one:\n    hit: any\n    rules:\n      - when: \"a in [1, 'one']\"\n"
            "  named:\n    hit: any\n    rules:\n      - when: \"name in [1, 'one']\"\n")
    book = load_rulebook([_write(tmp_path, text)], FIELDS)
    frame = pl.DataFrame({"__id": ["x", "y", "z"], "a": [1.0, 2.0, None], "name": ["one", "1", None]})
    out = evaluate(book, frame)
    assert out["one"].to_list() == [True, False, False]
    assert out["named"].to_list() == [True, False, False]


def test_a_derived_list_of_numbers_is_refused_at_load_time(tmp_path: Path) -> None:
    assert problems(tmp_path, 'derive:\n  pair: "[a, 1]"\n') == [
        "book.yaml:3:9: derive.pair: a derived list holds text only; this one holds numbers"
    ]


def test_a_derived_list_of_text_evaluates(tmp_path: Path) -> None:
    book = load_rulebook([_write(tmp_path, "derive:\n  names: \"[name, 'x']\"\n")], FIELDS)
    out = evaluate(book, pl.DataFrame({"__id": ["x", "y"], "a": [1.0, 2.0], "name": ["n", None]}))
    assert out["names"].to_list() == [["n", "x"], None]


@pytest.mark.parametrize(("call", "message"), [
    ("$round(a)", "unknown function '$round' (did you mean '$random'?)"),
    ("$abss(a)", "unknown function '$abss' (did you mean '$abs'?)"),
])
def test_an_unknown_function_is_named(tmp_path: Path, call: str, message: str) -> None:
    text = f"decisions:\n  big:\n    hit: any\n    rules:\n      - when: \"{call} > 1\"\n"
    assert problems(tmp_path, text) == [f"book.yaml:6:16: decisions.big.rules[0].when: {message}"]


def test_nan_and_infinite_results_are_null(tmp_path: Path) -> None:
    text = 'derive:\n  root: "a ** 0.5"\n  huge: "a * 1e308 * 10"\n'
    book = load_rulebook([_write(tmp_path, text)], FIELDS)
    out = evaluate(book, pl.DataFrame({"__id": ["x", "y"], "a": [-4.0, 4.0], "name": ["n", "m"]}))
    assert out["root"].to_list() == [None, 2.0]
    assert out["huge"].to_list() == [None, None]


def test_a_sum_decision_carries_no_binary_noise(tmp_path: Path) -> None:
    text = ("decisions:\n  score:\n    hit: sum\n    rules:\n      - {when: \"a > 0\", then: 0.1}\n"
            "      - {when: \"a > 0\", then: 0.2}\n")
    book = load_rulebook([_write(tmp_path, text)], FIELDS)
    out = evaluate(book, pl.DataFrame({"__id": ["x"], "a": [1.0], "name": ["n"]}))
    assert out["score"].to_list() == [0.3]
