"""Issue 17 through the `revrules` command: the plan shows SPEC §3 values; `check` names unknown functions."""

from __future__ import annotations

from pathlib import Path

from revrules.testing.harness import Cli
from tests.cli.projects import write_project

RULES = """\
version: 1
derive:
  arr: "mrr * 3.1"
decisions:
  segment:
    hit: first
    rules:
      - {id: decimal, when: "mrr * 1.1 <= 110 and mrr >= 100", then: Decimal}
      - {id: known, when: "employees > 100000 or $today > d'2000-01-01'", then: Known}
    default: Small
  anti_icp:
    hit: collect
    rules:
      - {id: not-acme, when: "domain !~ '(?=acme)'", then: Not Acme}
  disqualified:
    hit: any
    rules:
      - {id: root, when: "employees ** 0.5 > 1"}
  score:
    hit: sum
    rules:
      - {id: tenth, when: "true", then: 0.1}
      - {id: fifth, when: "true", then: 0.2}
"""
ACCOUNTS = "Id,Emp,Mrr,Domain\nr1,-4,100,\nr2,,13,acme.com\nr3,nan,inf,x.org\n"


def test_plan_shows_decimal_three_valued_values_on_both_paths(tmp_path: Path, cli: Cli) -> None:
    config = write_project(tmp_path, ACCOUNTS, rules=RULES)
    result = cli("plan", "-c", config, "--json")
    assert result.code == 0, result.err
    after = {(c["id"], c["field"]): c["after"] for c in result.json()["changes"]}
    # 100 * 3.1 is 310 and 13 * 3.1 is 40.3, not 310.00000000000006 and 40.300000000000004.
    assert after[("r1", "Arr__c")] == "310"
    assert after[("r2", "Arr__c")] == "40.3"
    assert ("r3", "Arr__c") not in after  # `inf` is no number: arr stays empty
    # 100 * 1.1 <= 110 holds, as in rule-engine's decimal arithmetic.
    assert after[("r1", "Segment__c")] == "Decimal"
    # Row by row (`$today`): unknown OR true is true.
    assert after[("r2", "Segment__c")] == "Known"
    # (-4) ** 0.5 is null, not NaN above every number; a null domain is unknown, not "no match".
    assert after[("r1", "Dq__c")] == "false"
    assert ("r1", "Anti__c") not in after
    assert after[("r3", "Anti__c")] == "Not Acme"
    assert {after[(r, "Score__c")] for r in ("r1", "r2", "r3")} == {"0.3"}


def test_check_names_an_unknown_function_with_its_place(tmp_path: Path, cli: Cli) -> None:
    rules = RULES.replace("employees ** 0.5 > 1", "$round(employees) > 1")
    config = write_project(tmp_path, ACCOUNTS, rules=rules)
    result = cli("check", "-c", config)
    assert result.code == 2
    assert "book.yaml:18:27: decisions.disqualified.rules[0].when: unknown function '$round'" in result.err + result.out


def test_check_refuses_a_derived_list_of_numbers(tmp_path: Path, cli: Cli) -> None:
    rules = RULES.replace('arr: "mrr * 3.1"', 'arr: "mrr * 3.1"\n  pair: "[mrr, 1]"')
    config = write_project(tmp_path, ACCOUNTS, rules=rules)
    result = cli("check", "-c", config)
    assert result.code == 2
    assert "book.yaml:4:9: derive.pair: a derived list holds text only; this one holds numbers" in (
        result.err + result.out)
