"""CSV list files and the `safety.max_list_change` guard, through `revrules apply`."""

from __future__ import annotations

from pathlib import Path

from revrules.testing.harness import Cli, ledger_rows
from revrules.testing.projects import csv_config, list_rules, write_project

CONFIG = csv_config(fields={"employees": "{source: Employees, type: number}"}, rules="rules.yaml", outputs={},
                    extra='safety: {max_list_change: "20%"}\n', lists_dir="lists")


def project(folder: Path, threshold: int) -> Path:
    rows = "\n".join(f"{i},{i * 10}" for i in range(1, 21))
    (folder / "accounts.csv").write_text(f"Id,Employees\n{rows}\n")
    return write_project(folder, CONFIG, list_rules(threshold, name="Big"))


def members(config: Path) -> list[str]:
    return (config.parent / "lists" / "big.csv").read_text().split()[1:]


def test_a_new_list_is_not_limited_by_a_percentage_but_emptying_it_is(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path, 0)
    assert cli("apply", "-c", config, "--yes").code == 0
    assert len(members(config)) == 20

    (tmp_path / "rules.yaml").write_text(list_rules(1000, name="Big"))
    refused = cli("apply", "-c", config, "--yes")
    assert refused.code == 3
    assert "removes 20 member(s) of list big (20 now)" in refused.err
    assert len(members(config)) == 20
    assert ledger_rows(
        config.parent / ".revrules", "SELECT status FROM runs ORDER BY id DESC LIMIT 1") == [("refused",)]

    (tmp_path / "rules.yaml").write_text(list_rules(30, name="Big"))  # removes 2 of 20: within 20%
    assert cli("apply", "-c", config, "--yes").code == 0
    assert len(members(config)) == 18
    assert cli("plan", "-c", config, "--json").json()["list_changes"] == []
