"""Every load-time error class, located at the exact file:line:col with a readable message."""

from __future__ import annotations

from pathlib import Path

import pytest

from revrules.engine.convert import FieldType
from revrules.engine.rulebook import load_rulebook
from revrules.errors import InvalidInputError

FIELDS = {"employees": FieldType.NUMBER, "industry": FieldType.STRING, "country": FieldType.STRING,
          "domain": FieldType.STRING}


def problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "book.yaml").write_text(text)
    with pytest.raises(InvalidInputError) as caught:
        load_rulebook([tmp_path / "book.yaml"], FIELDS)
    prefix = str(tmp_path / "book.yaml")
    return [str(p).replace(prefix, "book.yaml") for p in caught.value.problems]


def test_unknown_name_points_at_the_name_and_suggests_the_closest(tmp_path: Path) -> None:
    text = 'version: 1\ndecisions:\n  segment:\n    rules:\n      - {id: big, when: "employes >= 2000", then: Big}\n'
    assert problems(tmp_path, text) == [
        "book.yaml:5:26: decisions.segment.rules[0].when: unknown name 'employes' (did you mean 'employees'?)"
    ]


def test_positions_count_characters_after_non_ascii_text(tmp_path: Path) -> None:
    """libyaml scans the file; its marks count characters, as Python's string indices do, so a
    position after `Zürich` or `日本` still points at the right column of the right line."""
    text = ('version: 1\n# Zürich, 日本\ndecisions:\n  segment:\n    rules:\n'
            '      - {id: dach, when: "country == \'Zürich\' and employes >= 2", then: Big}\n')
    assert problems(tmp_path, text) == [
        "book.yaml:6:51: decisions.segment.rules[0].when: unknown name 'employes' (did you mean 'employees'?)"
    ]


def test_type_mismatch_is_a_load_error(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  segment:\n    rules:\n      - {when: \"employees == 'many'\", then: Big}\n"
    assert problems(tmp_path, text) == [
        "book.yaml:5:16: decisions.segment.rules[0].when: type mismatch: cannot compare number with string"
    ]


def test_ordering_a_string_against_a_number_is_a_type_mismatch(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  segment:\n    rules:\n      - {when: \"industry > 5\", then: Big}\n"
    assert problems(tmp_path, text) == [
        "book.yaml:5:16: decisions.segment.rules[0].when: type mismatch: data type mismatch"
    ]


def test_bad_regex_points_at_the_pattern(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  edu:\n    hit: any\n    rules:\n      - when: \"domain =~ '[a-'\"\n"
    assert problems(tmp_path, text) == [
        "book.yaml:6:27: decisions.edu.rules[0].when: bad regular expression: "
        "unterminated character set at position 0"
    ]


def test_syntax_error_points_at_the_token(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  segment:\n    rules:\n      - {when: employees >= >= 1, then: Big}\n"
    assert problems(tmp_path, text) == [
        "book.yaml:5:29: decisions.segment.rules[0].when: syntax error at '>='"
    ]


def test_unfinished_expression_is_a_syntax_error(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  segment:\n    rules:\n      - {when: \"employees >=\", then: Big}\n"
    assert problems(tmp_path, text) == [
        "book.yaml:5:29: decisions.segment.rules[0].when: syntax error: the expression ends too early"
    ]


def test_cycle_between_decisions_names_the_cycle(tmp_path: Path) -> None:
    text = (
        "version: 1\ndecisions:\n"
        "  a:\n    rules:\n      - {when: \"b == 'x'\", then: x}\n"
        "  b:\n    rules:\n      - {when: \"a == 'x'\", then: x}\n"
    )
    assert problems(tmp_path, text) == ["book.yaml:4:5: decisions.a: cycle between decisions: a -> b -> a"]


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  segment:\n    hits: first\n    rules:\n      - {when: \"true\", then: x}\n"
    assert problems(tmp_path, text) == [
        "book.yaml:4:5: decisions.segment.hits: unknown key 'hits' (did you mean 'hit'?)"
    ]


def test_unknown_hit_policy_lists_the_allowed_ones(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  segment:\n    hit: all\n    rules:\n      - {when: \"true\", then: x}\n"
    assert problems(tmp_path, text) == [
        "book.yaml:4:10: decisions.segment.hit: must be 'first', 'unique', 'collect', 'sum' or 'any'"
    ]


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  segment:\n    rules: []\n  segment:\n    rules: []\n"
    assert problems(tmp_path, text) == ["book.yaml:5:3: decisions: duplicate key 'segment'"]


def test_condition_must_be_boolean(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  segment:\n    rules:\n      - {when: \"employees + 1\", then: x}\n"
    assert problems(tmp_path, text) == [
        "book.yaml:5:16: decisions.segment.rules[0].when: condition must be true or false, but gives a number"
    ]


def test_invalid_yaml_reports_the_parser_position(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  segment: [\n"
    [problem] = problems(tmp_path, text)
    assert problem.startswith("book.yaml:4:1: invalid YAML: ")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        "version: 1\ndecisions:\n  segment:\n    rules:\n"
        "      - {when: \"employes > 1\", then: x}\n"
        "      - {when: \"country =~ '('\", then: y}\n"
        "  tier:\n    hit: sum\n    rules:\n      - {when: \"true\", then: high}\n"
    )
    found = problems(tmp_path, text)
    assert len(found) == 3
    assert any("unknown name 'employes'" in p for p in found)
    assert any("bad regular expression" in p for p in found)
    assert any("a 'sum' decision needs a number in 'then'" in p for p in found)


def test_mixed_then_types_are_an_error(tmp_path: Path) -> None:
    text = "version: 1\ndecisions:\n  tier:\n    rules:\n      - {when: \"true\", then: 1}\n    default: none\n"
    assert problems(tmp_path, text) == [
        "book.yaml:4:5: decisions.tier: the values in 'then' and 'default' must all have one type"
    ]


def test_rule_ids_are_unique_across_the_rulebook(tmp_path: Path) -> None:
    text = (
        "version: 1\ndecisions:\n"
        "  a:\n    rules:\n      - {id: same, when: \"true\", then: x}\n"
        "  b:\n    rules:\n      - {id: same, when: \"true\", then: x}\n"
    )
    assert problems(tmp_path, text) == [
        "book.yaml:8:14: decisions.b.rules[0].id: rule id 'same' is used twice; rule ids are unique in a rulebook"
    ]


def test_a_name_used_twice_is_an_error(tmp_path: Path) -> None:
    text = "version: 1\nderive:\n  employees: \"1\"\ndecisions:\n  a:\n    rules:\n      - {when: \"true\", then: x}\n"
    assert problems(tmp_path, text) == ["book.yaml:3:14: derive.employees: 'employees' is already a field"]


def test_test_cases_name_known_fields_and_results(tmp_path: Path) -> None:
    text = (
        "version: 1\ndecisions:\n  segment:\n    rules:\n      - {when: \"true\", then: x}\n"
        "tests:\n  - name: t\n    account: {employes: 5}\n    expect: {segmnt: x}\n"
    )
    assert problems(tmp_path, text) == [
        "book.yaml:8:15: tests[0].account.employes: unknown field 'employes' (did you mean 'employees'?)",
        "book.yaml:9:14: tests[0].expect.segmnt: unknown result 'segmnt' (did you mean 'segment'?)",
    ]


def test_quantile_needs_a_numeric_source(tmp_path: Path) -> None:
    text = "version: 1\nderive:\n  q: {quantile: industry}\n"
    assert problems(tmp_path, text) == [
        "book.yaml:3:17: derive.q.quantile: quantile needs a numeric field or derived value, not 'industry'"
    ]


def test_country_code_no_stays_a_string(tmp_path: Path) -> None:
    (tmp_path / "book.yaml").write_text(
        "version: 1\ndecisions:\n  nordic:\n    hit: any\n    rules:\n      - when: \"country in [NO, 'SE']\"\n"
        "tests:\n  - name: Norway\n    account: {country: NO}\n    expect: {nordic: true}\n"
    )
    with pytest.raises(InvalidInputError, match="unknown name 'NO'"):
        load_rulebook([tmp_path / "book.yaml"], FIELDS)
    (tmp_path / "book.yaml").write_text(
        "version: 1\ndecisions:\n  nordic:\n    hit: any\n    rules:\n      - when: \"country in ['NO', 'SE']\"\n"
        "tests:\n  - name: Norway\n    account: {country: NO}\n    expect: {nordic: true}\n"
    )
    book = load_rulebook([tmp_path / "book.yaml"], FIELDS)
    assert book.tests[0].account == {"country": "NO"}
