"""Away versus gone through the command: away keeps and catches up, gone is redistributed, unknown is unknown."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from revrules.testing.harness import Result

Cli = Callable[..., Result]

CONFIG = """\
version: 1
crm: {kind: csv, path: accounts.csv, id_column: Id, output: out.csv}
fields:
  country: Country
  arr: {source: Arr, type: number}
rules: [rules/]
outputs:
  territory: Territory
  owner: OwnerId
"""

RULES = """\
version: 1
territories:
  output: territory
  owner_output: owner
  value: arr
  tree:
    - id: ALL
      when: "true"
      owners: [{owners}]
"""

PAST, FUTURE = "2000-01-01", "2999-01-01"


def project(folder: Path, owners: str, rows: Sequence[tuple[str, str, float]]) -> Path:
    """A CSV project with one territory routed through `owners`; rows are (id, current owner, arr)."""
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    (folder / "rules" / "book.yaml").write_text(RULES.format(owners=owners), encoding="utf-8")
    lines = ["Id,Country,Arr,Territory,OwnerId"] + [f"{i},US,{arr},ALL,{owner}" for i, owner, arr in rows]
    (folder / "accounts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = folder / "revrules.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def owner_changes(result: Result) -> dict[str, tuple[str, str]]:
    """Record id -> (new owner, reason) for every owner change of a `plan --json`."""
    return {c["id"]: (c["after"], c["rule"]) for c in result.json()["changes"] if c["field"] == "OwnerId"}


def books(result: Result) -> dict[str, dict[str, object]]:
    return {b["owner"]: b for b in result.json()["owner_books"]}


def test_an_away_owner_keeps_the_book_and_gets_no_new_accounts(tmp_path: Path, cli: Cli) -> None:
    rows = [("a1", "A", 1), ("a2", "A", 1), ("n1", "", 1), ("n2", "", 1), ("n3", "", 1)]
    config = project(tmp_path, f"{{id: A, away: {{until: {FUTURE}}}}}, {{id: B}}", rows)
    result = cli("plan", "-c", config, "--json")
    assert result.code == 0, result.err
    assert owner_changes(result) == {"n1": ("B", "least-loaded"), "n2": ("B", "least-loaded"),
                                     "n3": ("B", "least-loaded")}
    assert books(result)["A"]["status"] == f"away until {FUTURE}"
    text = cli("plan", "-c", config).out
    assert f"A [away until {FUTURE}]" not in text  # A's book does not change, so it is not among the moves
    assert f"Away (keep their book, get no new accounts):\n  A: away until {FUTURE}, 2 account(s)" in text
    trace = cli("explain", "a1", "-c", config, "--json").json()["owner"]
    assert trace["value"] == "A" and trace["why"] == "kept" and "away until" in trace["because"]


def test_an_away_owner_is_never_rebalanced(tmp_path: Path, cli: Cli) -> None:
    rows = [(f"a{i}", "A", 1) for i in range(6)] + [("b1", "B", 1)]
    config = project(tmp_path, f"{{id: A, away: {{until: {FUTURE}}}}}, {{id: B}}", rows)
    assert owner_changes(cli("plan", "-c", config, "--json", "--rebalance")) == {}


def test_a_returned_owner_catches_up_fairly(tmp_path: Path, cli: Cli) -> None:
    rows = [("b1", "B", 1), ("b2", "B", 1), ("b3", "B", 1), ("n1", "", 1), ("n2", "", 1), ("n3", "", 1)]
    config = project(tmp_path, f"{{id: A, away: {{until: {PAST}, catch_up: fair}}}}, {{id: B}}", rows)
    changes = owner_changes(cli("plan", "-c", config, "--json"))
    assert [changes[i][0] for i in ("n1", "n2", "n3")] == ["A", "A", "A"]


def test_a_returned_owner_without_catch_up_takes_turns(tmp_path: Path, cli: Cli) -> None:
    rows = [("b1", "B", 1), ("b2", "B", 1), ("b3", "B", 1), ("n1", "", 1), ("n2", "", 1), ("n3", "", 1),
            ("n4", "", 1)]
    config = project(tmp_path, f"{{id: A, away: {{until: {PAST}, catch_up: none}}}}, {{id: B}}", rows)
    changes = owner_changes(cli("plan", "-c", config, "--json"))
    assert [changes[i][0] for i in ("n1", "n2", "n3", "n4")] == ["A", "B", "A", "B"]


def test_a_gone_owner_has_the_book_redistributed_and_explain_names_them(tmp_path: Path, cli: Cli) -> None:
    rows = [("g1", "G", 1), ("g2", "G", 1), ("g3", "G", 1), ("g4", "G", 1), ("a1", "A", 1), ("b1", "B", 1)]
    config = project(tmp_path, "{id: G, active: false}, {id: A}, {id: B}", rows)
    result = cli("plan", "-c", config, "--json")
    changes = owner_changes(result)
    assert sorted(changes) == ["g1", "g2", "g3", "g4"]
    assert {why for _owner, why in changes.values()} == {"owner-gone"}
    assert sorted(owner for owner, _why in changes.values()) == ["A", "A", "B", "B"]
    assert books(result)["G"]["status"] == "gone" and books(result)["G"]["accounts_after"] == 0
    assert "G [gone]: 4 -> 0" in cli("plan", "-c", config).out
    trace = cli("explain", "g1", "-c", config, "--json").json()["owner"]
    assert trace["previous"] == "G" and trace["previous_status"] == "gone" and trace["why"] == "owner-gone"
    assert "G is gone" in trace["because"]
    text = cli("explain", "g1", "-c", config).out
    assert "previous owner: G (gone)" in text and "because: G is gone" in text


def test_a_pool_with_nobody_available_is_not_reported_as_full(tmp_path: Path, cli: Cli) -> None:
    rows = [("n1", "", 1), ("a1", "A", 1)]
    config = project(tmp_path, f"{{id: A, away: {{until: {FUTURE}}}}}", rows)
    result = cli("plan", "-c", config)
    assert "no pool member can receive accounts" in result.out
    assert "at capacity" not in result.out
    unassigned = cli("plan", "-c", config, "--json").json()["unassigned_owners"]
    assert unassigned == [{"id": "n1", "territory": "ALL", "reason": "no-available-owner"}]


def test_the_away_key_is_validated_with_its_place(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path, "{id: A, away: {until: 2026-01-01, catch_up: later}}", [("a1", "A", 1)])
    result = cli("check", "-c", config)
    assert result.code == 2
    assert "book.yaml:" in result.err and "catch_up" in result.err


def test_the_same_people_in_any_order_give_the_same_plan(tmp_path: Path, cli: Cli) -> None:
    rows = [(f"r{i:02}", ("G", "A", "B", "C", "")[i % 5], float(i % 7)) for i in range(40)]
    owners = f"{{id: G, active: false}}, {{id: A, away: {{until: {FUTURE}}}}}, " \
             f"{{id: B, away: {{until: {PAST}, catch_up: none}}}}, {{id: C, weight: 2}}"
    forward = cli("plan", "-c", project(tmp_path / "f", owners, rows), "--json", "--rebalance").json()
    backward = cli("plan", "-c", project(tmp_path / "b", owners, rows[::-1]), "--json", "--rebalance").json()
    assert forward["changes"] == backward["changes"] and forward["changes"]
    assert forward["owner_books"] == backward["owner_books"]
