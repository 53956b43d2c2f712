"""Balance what matters: --rebalance reports count and value balance, balances value with few moves, warns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from revrules.testing.harness import Result
from tests.people.test_away_and_gone import owner_changes, project

Cli = Callable[..., Result]

BIG_AND_SMALL = [("a00", "A", 10.0)] + [(f"a{i:02}", "A", 1.0) for i in range(1, 11)] + [("b00", "B", 1.0)]


def test_rebalance_by_value_moves_the_fewest_accounts(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path, "{id: A}, {id: B}", BIG_AND_SMALL)
    book = (tmp_path / "rules" / "book.yaml").read_text(encoding="utf-8")
    (tmp_path / "rules" / "book.yaml").write_text(
        book.replace("      owners: [{id: A}, {id: B}]", "      pool: team\n")
        + "pools:\n  team:\n    balance_by: arr\n    owners: [{id: A}, {id: B}]\n", encoding="utf-8")
    result = cli("plan", "-c", config, "--json", "--rebalance")
    assert result.code == 0, result.err
    assert owner_changes(result) == {"a00": ("B", "rebalance")}
    balance = {(b["pool"], b["measure"]): b for b in result.json()["balance"]}
    assert balance["team", "value"]["after"] < balance["team", "value"]["before"]
    assert balance["team", "value"]["balanced_by"] == "value"


def test_rebalance_reports_count_and_value_and_warns_when_value_stays_uneven(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path, "{id: A}, {id: B}", BIG_AND_SMALL)
    result = cli("plan", "-c", config, "--rebalance")
    assert result.code == 0, result.err
    assert "ALL by accounts: " in result.out and "ALL by value: " in result.out
    assert "Warning: pool ALL: balanced by account count, value is up to" in result.out
    balance = {b["measure"]: b for b in cli("plan", "-c", config, "--json", "--rebalance").json()["balance"]}
    assert balance["accounts"]["after"] <= 0.1 < balance["accounts"]["before"]


def test_a_plan_without_rebalance_has_no_balance_report(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path, "{id: A}, {id: B}", BIG_AND_SMALL)
    assert cli("plan", "-c", config, "--json").json()["balance"] == []
