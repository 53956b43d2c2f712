"""Per-field write policies through the command: `if_blank`, `never_overwrite`, `on_null` (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from revrules.testing.harness import Cli, by_id
from tests.cli.projects import write_project

ACCOUNTS = """\
Id,Emp,Mrr,Domain,Segment__c,Score__c,Anti__c,Arr__c
A1,200,10,a.com,,,,
A2,200,10,b.com,Small,,,
A3,50,10,c.com,,99,Zeta,
A4,50,,d.com,,,,1200
"""

POLICIES = """\
version: 1
crm: {kind: csv, path: accounts.csv, id_column: Id, output: out.csv}
fields:
  employees: {source: Emp, type: number}
  mrr: {source: Mrr, type: number}
  domain: Domain
rules: [rules/]
outputs:
  segment: {field: Segment__c, write: if_blank}
  score: {field: Score__c, never_overwrite: ["99"]}
  anti_icp: Anti__c
  arr: {field: Arr__c, on_null: clear}
  disqualified: Dq__c
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A CSV project whose outputs carry every kind of write policy."""
    config = write_project(tmp_path, ACCOUNTS)
    config.write_text(POLICIES, encoding="utf-8")
    return config


def _changes(cli: Cli, config: Path) -> tuple[set[tuple[str, str]], dict[tuple[str, str], str]]:
    result = cli("plan", "-c", config, "--json")
    assert result.code == 0, result.err
    plan = result.json()
    held = {(h["id"], h["field"]): h["policy"] for h in plan["held_by_policy"]}
    return {(c["id"], c["field"]) for c in plan["changes"]}, held


def test_plan_holds_back_what_each_policy_protects(project: Path, cli: Cli) -> None:
    changes, held = _changes(cli, project)
    assert held == {
        ("A2", "Segment__c"): "if_blank",       # a person filled it in
        ("A3", "Score__c"): "never_overwrite",  # 99 is protected
        ("A3", "Anti__c"): "on_null: keep",     # no reason now, but the CRM's is kept
    }
    assert ("A1", "Segment__c") in changes    # blank: filled
    assert ("A4", "Arr__c") in changes        # on_null: clear empties it
    assert not set(held) & changes


def test_plan_and_explain_say_what_a_policy_held(project: Path, cli: Cli) -> None:
    text = cli("plan", "-c", project)
    assert text.code == 0, text.err
    assert "Held by policy, not sent (3):" in text.out
    assert "Segment__c (if_blank): 1 change(s), e.g. record A2" in text.out
    explained = cli("explain", "A2", "-c", project)
    assert explained.code == 0, explained.err
    assert "Held by policy (not written):" in explained.out
    assert "Segment__c: Small -> Big    [if_blank]" in explained.out
    document = cli("explain", "A2", "-c", project, "--json").json()
    assert document["held"] == [{"field": "Segment__c", "before": "Small", "after": "Big", "rule": "big",
                                 "policy": "if_blank"}]


def test_apply_writes_around_the_policies_and_replans_empty(project: Path, cli: Cli) -> None:
    assert cli("apply", "-c", project, "--yes").code == 0
    rows = by_id(project.parent / "out.csv")
    assert rows["A1"]["Segment__c"] == "Big"
    assert rows["A2"]["Segment__c"] == "Small"
    assert rows["A3"]["Score__c"] == "99"
    assert rows["A3"]["Anti__c"] == "Zeta"
    assert rows["A4"]["Arr__c"] == ""
    # The next plan reads what was written: nothing left to change, the same changes held.
    project.write_text(POLICIES.replace("path: accounts.csv", "path: out.csv"), encoding="utf-8")
    changes, held = _changes(cli, project)
    assert changes == set()
    assert set(held) == {("A2", "Segment__c"), ("A3", "Score__c"), ("A3", "Anti__c")}


def test_rollback_restores_only_what_was_written_and_leaves_held_values(project: Path, cli: Cli) -> None:
    assert cli("apply", "-c", project, "--yes").code == 0
    result = cli("rollback", "1", "-c", project, "--yes")
    assert result.code == 0, result.err
    rows = by_id(project.parent / "out.csv")
    assert rows["A1"]["Segment__c"] == ""
    assert rows["A2"]["Segment__c"] == "Small"
    assert rows["A3"]["Score__c"] == "99"
    assert rows["A4"]["Arr__c"] == "1200"


def test_an_unknown_policy_is_a_config_error_with_its_line(project: Path, cli: Cli) -> None:
    project.write_text(POLICIES.replace("write: if_blank", "write: sometimes"), encoding="utf-8")
    result = cli("check", "-c", project)
    assert result.code == 2
    assert "revrules.yaml:9:" in result.err and "outputs.segment.write" in result.err
