"""Account hierarchies through the command: family values, parent values, broken trees (issue 21)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from revrules.testing.harness import Cli

BOOK = """\
version: 1
derive:
  arr: "mrr * 12"
  family_arr: {family: sum, of: arr}
  family_size: {family: count}
  family_customer: {family: any, of: "type == 'Customer'"}
  family_first: {family: min, of: mrr}
  parent_name: {parent: name}
  hq_country: {ultimate: country}
decisions:
  segment:
    rules:
      - {id: strategic, when: "family_arr >= 1000 and family_customer", then: Strategic}
    default: Other
tests:
  - name: without a hierarchy an account is a family of one
    account: {mrr: 100, type: Customer}
    expect: {family_arr: 1200, family_size: 1, segment: Strategic}
"""
ACCOUNTS = """\
Id,Name,Mrr,Type,Country,ParentId
P1,Globex HQ,50,Prospect,US,
C1,Globex UK,20,Customer,UK,P1
G1,Globex UK Sub,30,,UK,C1
S1,Solo,10,Customer,FR,
X1,Loop A,1,,DE,X2
X2,Loop B,1,,DE,X1
M1,Orphan,1,,DE,NOPE
"""
CONFIG = """\
version: 1
crm: {kind: csv, path: accounts.csv, id_column: Id, output: out.csv}
fields:
  name: Name
  mrr: {source: Mrr, type: number}
  type: Type
  country: Country
rules: [rules/]
hierarchy: {parent: ParentId}
outputs:
  segment: Segment__c
  family_arr: Family_ARR__c
  family_size: Family_Size__c
  hq_country: HQ_Country__c
  parent_name: Parent_Name__c
"""


def _project(folder: Path, *, book: str = BOOK, accounts: str = ACCOUNTS) -> Path:
    (folder / "rules").mkdir()
    (folder / "rules" / "book.yaml").write_text(book, encoding="utf-8")
    (folder / "accounts.csv").write_text(accounts, encoding="utf-8")
    (folder / "revrules.yaml").write_text(CONFIG, encoding="utf-8")
    return folder / "revrules.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A CSV project with a three-level family, a loner, a cycle and a missing parent."""
    return _project(tmp_path)


def _after(cli: Cli, config: Path) -> dict[tuple[str, str], str]:
    result = cli("plan", "-c", config, "--json")
    assert result.code == 0, result.err
    return {(c["id"], c["field"]): c["after"] for c in result.json()["changes"]}


def test_family_values_cover_the_ultimate_parents_whole_tree(project: Path, cli: Cli) -> None:
    after = _after(cli, project)
    for member in ("P1", "C1", "G1"):
        assert after[(member, "Family_ARR__c")] == "1200"
        assert after[(member, "Family_Size__c")] == "3"
        assert after[(member, "HQ_Country__c")] == "US"
        assert after[(member, "Segment__c")] == "Strategic"  # the customer is a child, the ARR spread out
    assert after[("S1", "Family_ARR__c")] == "120"
    assert after[("G1", "Parent_Name__c")] == "Globex UK"
    assert after[("C1", "Parent_Name__c")] == "Globex HQ"
    assert ("P1", "Parent_Name__c") not in after


def test_cycles_and_missing_parents_are_data_quality_lines_not_crashes(project: Path, cli: Cli) -> None:
    result = cli("plan", "-c", project)
    assert result.code == 0, result.err
    assert "parent not found (ParentId): 1 value(s), e.g. record M1" in result.out
    assert "hierarchy cycle (ParentId): 2 value(s), e.g. record X1" in result.out
    after = _after(cli, project)
    assert after[("X1", "Family_Size__c")] == "1"  # each record of a broken tree is its own family
    assert after[("M1", "Family_Size__c")] == "1"


def test_a_chain_deeper_than_the_limit_is_reported(tmp_path: Path, cli: Cli) -> None:
    rows = ["Id,Name,Mrr,Type,Country,ParentId", "N0,Root,1,,US,"]
    rows += [f"N{i},Level {i},1,,US,N{i - 1}" for i in range(1, 70)]
    config = _project(tmp_path, accounts="\n".join(rows) + "\n")
    result = cli("plan", "-c", config)
    assert result.code == 0, result.err
    assert "hierarchy deeper than 64 (ParentId): 5 value(s), e.g. record N65" in result.out


def test_explain_shows_the_path_to_the_ultimate_parent(project: Path, cli: Cli) -> None:
    result = cli("explain", "G1", "-c", project)
    assert result.code == 0, result.err
    assert "family: G1 -> C1 -> P1    (ultimate parent P1)" in result.out
    assert "family_arr = 1200    (family sum of arr; reads nothing)" in result.out
    assert "reads family_arr=1200, family_customer=True" in result.out


def test_rulebook_tests_treat_an_account_as_a_family_of_one(project: Path, cli: Cli) -> None:
    result = cli("test", "-c", project)
    assert result.code == 0, result.out + result.err
    assert "1 passed, 0 failed" in result.out


@pytest.mark.parametrize(("derive", "expected"), [
    ("{family: sum, of: name}", "rules/book.yaml:4:33: derive.family_arr.of: family sum needs a number, not a string"),
    ("{family: sum}", "rules/book.yaml:4:24: derive.family_arr.family: family sum needs `of:`"),
    ("{family: any, of: mrr}", "derive.family_arr.of: condition must be true or false, but gives a number"),
    ("{family: sum, of: arrr}", "derive.family_arr.of: unknown name 'arrr' (did you mean 'arr'?)"),
])
def test_family_derive_problems_have_file_line_and_column(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, derive: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _project(tmp_path, book=BOOK.replace("{family: sum, of: arr}", derive))
    result = cli("check", "-c", config)
    assert result.code == 2
    assert expected in result.err, result.err


ROUTED = """\
version: 1
derive:
  arr: "mrr * 12"
decisions:
  segment:
    rules:
      - {id: big, when: "arr >= 500", then: Big}
    default: Small
territories:
  output: territory
  owner_output: owner
  families: FAMILIES
  tree:
    - {id: US, when: "country == 'US'", owners: [{id: U1}, {id: U2}]}
    - {id: UK, when: "country == 'UK'", owners: [{id: K1}]}
    - {id: ROW, when: "true", owners: [{id: R1}]}
"""
ROUTED_CONFIG = CONFIG.replace("""  segment: Segment__c
  family_arr: Family_ARR__c
  family_size: Family_Size__c
  hq_country: HQ_Country__c
  parent_name: Parent_Name__c
""", """  territory: Territory__c
  owner: OwnerId
""")


@pytest.mark.parametrize(("families", "expected"), [
    ("separate", {"P1": ("US", "U1"), "C1": ("UK", "K1"), "G1": ("UK", "K1"), "S1": ("ROW", "R1")}),
    ("together", {"P1": ("US", "U1"), "C1": ("US", "U1"), "G1": ("US", "U1"), "S1": ("ROW", "R1")}),
])
def test_one_config_line_keeps_a_family_in_its_ultimate_parents_territory_and_owner(
    tmp_path: Path, cli: Cli, families: str, expected: dict[str, tuple[str, str]]
) -> None:
    header, *rows = ACCOUNTS.splitlines()
    accounts = "\n".join([f"{header},OwnerId", *(f"{row}," for row in rows)]) + "\n"
    config = _project(tmp_path, book=ROUTED.replace("FAMILIES", families), accounts=accounts)
    config.write_text(ROUTED_CONFIG, encoding="utf-8")
    after = _after(cli, config)
    got = {i: (after[(i, "Territory__c")], after[(i, "OwnerId")]) for i in expected}
    assert got == expected


def test_family_values_without_a_hierarchy_are_a_config_error(project: Path, cli: Cli) -> None:
    project.write_text(CONFIG.replace("hierarchy: {parent: ParentId}\n", ""), encoding="utf-8")
    result = cli("check", "-c", project)
    assert result.code == 2
    assert "rules: the rulebook reads family values (family_arr, family_size, " in result.err
    assert "but the config has no `hierarchy: {parent: FIELD}`" in result.err


def test_explain_shows_the_family_a_child_was_routed_with(tmp_path: Path, cli: Cli) -> None:
    header, *rows = ACCOUNTS.splitlines()
    accounts = "\n".join([f"{header},OwnerId", *(f"{row}," for row in rows)]) + "\n"
    config = _project(tmp_path, book=ROUTED.replace("FAMILIES", "together"), accounts=accounts)
    config.write_text(ROUTED_CONFIG, encoding="utf-8")
    result = cli("explain", "G1", "-c", config)
    assert result.code == 0, result.err
    assert "family: G1 -> C1 -> P1    (ultimate parent P1)" in result.out
    assert "territory = US    (with its family: ultimate parent P1's territory)" in result.out
    assert "because: goes with its family (families: together): the owner of ultimate parent P1" in result.out


def _routed(tmp_path: Path, *, book: str = ROUTED.replace("FAMILIES", "together"), extra: str = "",
            owners: dict[str, str] | None = None) -> Path:
    header, *rows = ACCOUNTS.splitlines()
    lines = [f"{header},OwnerId,Territory_Override__c,Owner_Override__c"]
    lines += [f"{row},{(owners or {}).get(row.split(',')[0], '')},," for row in rows]
    config = _project(tmp_path, book=book, accounts="\n".join(lines) + "\n")
    config.write_text(ROUTED_CONFIG + extra, encoding="utf-8")
    return config


def test_a_manual_territory_on_a_child_wins_over_its_family(tmp_path: Path, cli: Cli) -> None:
    config = _routed(tmp_path, extra="overrides: {territory: Territory_Override__c}\n")
    accounts = (tmp_path / "accounts.csv").read_text(encoding="utf-8").replace("C1,Globex UK,20,Customer,UK,P1,,,",
                                                                               "C1,Globex UK,20,Customer,UK,P1,,UK,")
    (tmp_path / "accounts.csv").write_text(accounts, encoding="utf-8")
    after = _after(cli, config)
    got = {i: (after[(i, "Territory__c")], after[(i, "OwnerId")]) for i in ("P1", "C1", "G1")}
    assert got == {"P1": ("US", "U1"), "C1": ("UK", "K1"), "G1": ("US", "U1")}


def test_a_manual_owner_on_a_child_wins_and_counts_against_capacity(tmp_path: Path, cli: Cli) -> None:
    book = ROUTED.replace("FAMILIES", "together").replace("owners: [{id: U1}, {id: U2}]",
                                                          "owners: [{id: U1, capacity: 3}, {id: U2}]")
    config = _routed(tmp_path, book=book, extra="overrides: {owner: Owner_Override__c}\n")
    accounts = (tmp_path / "accounts.csv").read_text(encoding="utf-8").replace("S1,Solo,10,Customer,FR,,,,",
                                                                               "S1,Solo,10,Customer,FR,,,,U1")
    (tmp_path / "accounts.csv").write_text(accounts, encoding="utf-8")
    result = cli("plan", "-c", config, "--json")
    assert result.code == 0, result.err
    changes = {(c["id"], c["field"]): (c["after"], c["rule"]) for c in result.json()["changes"]}
    assert changes[("S1", "OwnerId")] == ("U1", "override")  # the manual owner, outside its territory's pool
    assert changes[("S1", "Territory__c")][0] == "ROW"
    # U1 holds S1 by hand, so a family of three no longer fits under U1's capacity of three.
    assert {changes[(i, "OwnerId")][0] for i in ("P1", "C1", "G1")} == {"U2"}


def test_a_family_counts_against_capacity_with_every_member(tmp_path: Path, cli: Cli) -> None:
    book = ROUTED.replace("FAMILIES", "together").replace("owners: [{id: U1}, {id: U2}]",
                                                          "owners: [{id: U1, capacity: 2}, {id: U2}]")
    config = _routed(tmp_path, book=book)
    after = _after(cli, config)
    assert {after[(i, "OwnerId")] for i in ("P1", "C1", "G1")} == {"U2"}  # three accounts do not fit U1's two


def test_the_plan_shows_families_moved_and_the_hand_off_says_family_move(tmp_path: Path, cli: Cli) -> None:
    config = _routed(tmp_path, owners={"P1": "U2", "C1": "K1", "G1": "K1"})
    text = cli("plan", "-c", config)
    assert text.code == 0, text.err
    assert "Families moved as one unit: 1 (3 account(s))" in text.out, text.out
    assert "  P1: 3 account(s) -> US U2" in text.out
    saved = tmp_path / "plan.json"
    result = cli("plan", "-c", config, "-o", saved, "--json")
    assert result.json()["families_moved"] == [{"family": "P1", "accounts": 3, "territory": "US", "owner": "U2"}]
    handoff = cli("handoff", saved, "-c", config, "-o", tmp_path / "handoff")
    assert handoff.code == 0, handoff.err
    digest = (tmp_path / "handoff" / "U2.csv").read_text(encoding="utf-8")
    assert "gained,C1,K1,family move,(none) -> US" in digest
    assert "gained,G1,K1,family move,(none) -> US" in digest


PARENT_DECISIONS = """\
version: 1
derive:
  parent_segment: {parent: segment}
decisions:
  segment:
    rules:
      - {id: big, when: "mrr >= 40", then: Big}
    default: Small
  tier:
    rules:
      - {id: inherited, when: "parent_segment == 'Big'", then: Gold}
    default: Standard
"""


def test_rules_read_a_parents_decision(tmp_path: Path, cli: Cli) -> None:
    config = _project(tmp_path, book=PARENT_DECISIONS)
    config.write_text(CONFIG.split("outputs:", maxsplit=1)[0] + "outputs:\n  tier: Tier__c\n", encoding="utf-8")
    after = _after(cli, config)
    assert {i: after.get((i, "Tier__c")) for i in ("P1", "C1", "G1")} == {"P1": "Standard", "C1": "Gold",
                                                                           "G1": "Standard"}


def test_a_decision_reading_a_family_value_of_itself_is_a_cycle_error(tmp_path: Path, cli: Cli,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    book = PARENT_DECISIONS.replace('when: "mrr >= 40"', 'when: "mrr >= 40 or parent_segment == \'Big\'"')
    config = _project(tmp_path, book=book)
    result = cli("check", "-c", config)
    assert result.code == 2
    assert ("rules/book.yaml:6:5: decisions.segment: cycle between decisions: segment -> parent_segment -> segment "
            "(a decision cannot read a family value of itself") in result.err, result.err


ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_sample_routes_its_families_together_and_knows_its_named_accounts(
    tmp_path: Path, cli: Cli
) -> None:
    config = ROOT / "config.example.yaml"
    text = config.read_text(encoding="utf-8").replace("path: examples/accounts.csv",
                                                      f"path: {ROOT / 'examples' / 'accounts.csv'}")
    text = text.replace("output: out/accounts.csv", f"output: {tmp_path / 'out.csv'}")
    text = text.replace("lists_dir: out/lists", f"lists_dir: {tmp_path / 'lists'}")
    text = text.replace("  - rules/", f"  - {ROOT / 'rules'}").replace("state_dir: .revrules",
                                                                      f"state_dir: {tmp_path / 'state'}")
    (tmp_path / "revrules.yaml").write_text(text, encoding="utf-8")
    result = cli("plan", "-c", tmp_path / "revrules.yaml", "--json")
    assert result.code == 0, result.err
    plan = result.json()
    sample = pl.read_csv(ROOT / "examples" / "accounts.csv", infer_schema=False)
    parent_of = dict(sample.select("Id", "ParentId").iter_rows())
    now = dict(sample.select("Id", "OwnerId").iter_rows())
    after = {(c["id"], c["field"]): c["after"] for c in plan["changes"]}

    def ultimate(record: str) -> str:
        while parent_of.get(record):
            record = parent_of[record]
        return record

    def owner(record: str) -> str | None:
        return after.get((record, "OwnerId"), now[record])

    members = [i for i, parent in parent_of.items() if parent]
    assert len(members) >= 10
    for member in members:
        assert after[(member, "Territory__c")] == after[(ultimate(member), "Territory__c")]
        assert owner(member) == owner(ultimate(member))
    assert len(plan["families_moved"]) == 6
    named = {"0018c00000028RwAAI", "0018c000000BZZSAA4", "0018c000000CILfAAO", "0018c000000CNt2AAG"}
    assert {after[(i, "Segment__c")] for i in named} == {"Strategic"}
