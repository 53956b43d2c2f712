"""Lookup tables through the command: exact and keyword lookups, typing, and file:line errors (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from revrules.testing.harness import Cli

STATES = "state,territory,quota\nCA,West,100\nny,East,200\nTX,South,\n"
VERTICALS = ("keyword,vertical,priority\nhealth,Healthcare,2\nhospital,Healthcare Providers,1\n"
             "bank,Financial Services,1\n")
BOOK = """\
version: 1
lookups:
  states: {file: lookups/states.csv, key: state, types: {quota: number}}
  verticals: {file: lookups/verticals.csv, key: keyword, match: keyword, priority: priority}
derive:
  state_territory: {lookup: states, key: state, column: territory}
  state_quota: {lookup: states, key: state, column: quota}
  vertical: {lookup: verticals, key: name, column: vertical}
decisions:
  segment:
    rules:
      - {id: big-west, when: "state_territory == 'West' and state_quota > 50", then: West Big}
    default: Other
tests:
  - name: a lower-case state with spaces finds its row; the highest-priority keyword wins
    account: {state: " ca", name: "Mercy Hospital Health"}
    expect: {state_territory: West, segment: West Big, vertical: Healthcare Providers}
"""
CONFIG = """\
version: 1
crm: {kind: csv, path: accounts.csv, id_column: Id, output: out.csv}
fields:
  state: State
  name: Name
  employees: {source: Emp, type: number}
rules: [rules/]
outputs:
  state_territory: Territory__c
  vertical: Vertical__c
  segment: Segment__c
"""
ACCOUNTS = "Id,State,Name,Emp\nA1,CA,Mercy Hospital Health,5\nA2,NY,First Bank,5\nA3,WA,Acme,5\nA4,,,\n"


def _project(folder: Path, *, book: str = BOOK, states: str = STATES) -> Path:
    (folder / "rules" / "lookups").mkdir(parents=True)
    (folder / "rules" / "book.yaml").write_text(book, encoding="utf-8")
    (folder / "rules" / "lookups" / "states.csv").write_text(states, encoding="utf-8")
    (folder / "rules" / "lookups" / "verticals.csv").write_text(VERTICALS, encoding="utf-8")
    (folder / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    (folder / "revrules.yaml").write_text(CONFIG, encoding="utf-8")
    return folder / "revrules.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A CSV project with a state table (exact) and a keyword table (by priority)."""
    return _project(tmp_path)


def test_lookups_decide_outputs_and_a_missing_key_is_null(project: Path, cli: Cli) -> None:
    result = cli("plan", "-c", project, "--json")
    assert result.code == 0, result.err
    changes = {(c["id"], c["field"]): (c["after"], c["rule"]) for c in result.json()["changes"]}
    assert changes[("A1", "Territory__c")] == ("West", "states:2")
    assert changes[("A2", "Territory__c")] == ("East", "states:3")  # `ny` in the table, `NY` in the CRM
    assert changes[("A1", "Vertical__c")] == ("Healthcare Providers", "verticals:3")
    assert changes[("A2", "Vertical__c")] == ("Financial Services", "verticals:4")
    assert changes[("A1", "Segment__c")] == ("West Big", "big-west")  # a number column compares as a number
    assert ("A3", "Territory__c") not in changes  # WA is in no row
    assert ("A4", "Vertical__c") not in changes


def test_rulebook_tests_use_lookups(project: Path, cli: Cli) -> None:
    result = cli("test", "-c", project)
    assert result.code == 0, result.out + result.err
    assert "1 passed, 0 failed" in result.out


def test_explain_shows_the_row_that_matched(project: Path, cli: Cli) -> None:
    result = cli("explain", "A1", "-c", project)
    assert result.code == 0, result.err
    assert "state_territory = West    (lookup states.territory by state; reads state=CA; row states:2)" in result.out
    missing = cli("explain", "A3", "-c", project, "--json").json()
    assert missing["derived"][0]["row"] is None


@pytest.mark.parametrize(("book", "states", "expected"), [
    (BOOK.replace("lookups/states.csv", "lookups/nope.csv"), STATES,
     "rules/book.yaml:3:18: lookups.states.file: lookup file lookups/nope.csv not found"),
    (BOOK.replace("key: state, types", "key: State, types"), STATES,
     "rules/book.yaml:3:43: lookups.states.key: lookups/states.csv has no column 'State' (did you mean 'state'?)"),
    (BOOK, STATES + "CA,North,1\nny,East,2\n",
     "rules/lookups/states.csv:5:1: state: duplicate keys: 'ca' (lines 2, 5), 'ny' (lines 3, 6)"),
    (BOOK, STATES.replace("200", "lots"),
     "rules/lookups/states.csv:3:1: quota: 1 value(s) are not a number, the first on this line"),
    (BOOK.replace("column: quota", "column: quotas"), STATES,
     "rules/book.yaml:7:53: derive.state_quota.column: lookup 'states' has no column 'quotas' (did you mean 'quota'?)"),
    (BOOK.replace("{lookup: verticals,", "{lookup: vertical,"), STATES,
     "derive.vertical.lookup: unknown lookup 'vertical' (did you mean 'verticals'?)"),
    (BOOK.replace("key: name,", "key: employees,"), STATES,
     "derive.vertical.key: a lookup key is text, but this expression gives a number"),
    (BOOK.replace("key: state, column: territory", "key: stat, column: territory"), STATES,
     "derive.state_territory.key: unknown name 'stat' (did you mean 'state'?)"),
])
def test_lookup_problems_are_load_time_errors_with_file_and_line(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, book: str, states: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _project(tmp_path, book=book, states=states)
    result = cli("check", "-c", config)
    assert result.code == 2
    assert expected in result.err, result.err


def test_editing_a_table_changes_the_rulebook_hash(project: Path, cli: Cli) -> None:
    before = cli("plan", "-c", project, "--json").json()["meta"]["rulebook_hash"]
    states = project.parent / "rules" / "lookups" / "states.csv"
    states.write_text(STATES.replace("West", "Pacific"), encoding="utf-8")
    after = cli("plan", "-c", project, "--json").json()
    assert after["meta"]["rulebook_hash"] != before
    assert {c["after"] for c in after["changes"] if c["id"] == "A1" and c["field"] == "Territory__c"} == {"Pacific"}


def test_check_reports_table_rows_that_match_no_record(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.parent)
    result = cli("check", "-c", project)
    assert result.code == 0, result.err
    assert "note: lookup states (rules/lookups/states.csv): 1 of 3 row(s) match no record (lines 4)" in result.out
    assert "note: lookup verticals (rules/lookups/verticals.csv): 1 of 3 row(s) match no record (lines 2)" in result.out


@pytest.mark.parametrize("match", ["exact", "keyword"])
def test_a_lookup_table_with_no_rows_matches_nothing(tmp_path: Path, cli: Cli, match: str) -> None:
    """A header alone is an empty table: every record's value and row are null, and the run goes on."""
    book = BOOK.replace("key: state, types:", f"key: state, match: {match}, types:")
    config = _project(tmp_path, book=book.split("tests:")[0], states="state,territory,quota\n")
    result = cli("plan", "-c", config, "--json")
    assert result.code == 0, result.err
    changes = {(c["id"], c["field"]): c["after"] for c in result.json()["changes"]}
    assert not [key for key in changes if key[1] == "Territory__c"]
    assert changes[("A1", "Segment__c")] == "Other"
