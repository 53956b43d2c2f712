"""Hand-off digests through the command: per owner, accounts gained and lost with the reason."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from revrules.testing.harness import Result
from tests.people.test_away_and_gone import project

Cli = Callable[..., Result]

GONE_BOOK = [("g1", "G", 1), ("g2", "G", 1), ("g3", "G", 1), ("g4", "G", 1), ("a1", "A", 1), ("b1", "B", 1),
             ("n1", "", 1)]


def test_handoff_of_a_plan_writes_a_digest_per_owner_and_a_summary(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path / "p", "{id: G, active: false}, {id: A}, {id: B}", GONE_BOOK)
    assert cli("plan", "-c", config, "-o", tmp_path / "plan.json").code == 0
    result = cli("handoff", tmp_path / "plan.json", "-c", config, "-o", tmp_path / "out")
    assert result.code == 0, result.err
    assert "G: +0 -4" in result.out
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["A.csv", "A.md", "B.csv", "B.md", "G.csv", "G.md", "summary.csv", "summary.md"]
    with (tmp_path / "out" / "G.csv").open(encoding="utf-8") as handle:
        lost = list(csv.DictReader(handle))
    assert [(r["change"], r["id"], r["reason"]) for r in lost] == [("lost", f"g{i}", "owner gone") for i in range(1, 5)]
    received = (tmp_path / "out" / "A.md").read_text(encoding="utf-8")
    assert "## Accounts you gain" in received and "| G | owner gone |" in received
    assert "new owner" in (tmp_path / "out" / "A.md").read_text(encoding="utf-8") + (
        tmp_path / "out" / "B.md").read_text(encoding="utf-8")


def test_apply_with_handoff_writes_the_digests_of_its_run(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path / "p", "{id: G, active: false}, {id: A}, {id: B}", GONE_BOOK)
    result = cli("apply", "-c", config, "--yes", "--handoff", tmp_path / "out")
    assert result.code == 0, result.err
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "# Hand-off: run 1" in summary and "| G | 0 | 4 |" in summary
    again = cli("handoff", "--run", "1", "-c", config, "-o", tmp_path / "again")
    assert again.code == 0, again.err
    assert (tmp_path / "again" / "G.csv").read_text() == (tmp_path / "out" / "G.csv").read_text()


def test_a_rebalance_is_named_as_the_reason(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path / "p", "{id: A}, {id: B}", [(f"a{i}", "A", 1) for i in range(4)])
    cli("plan", "-c", config, "--rebalance", "-o", tmp_path / "plan.json")
    assert cli("handoff", tmp_path / "plan.json", "-c", config, "-o", tmp_path / "out").code == 0
    assert "| A | rebalance |" in (tmp_path / "out" / "B.md").read_text(encoding="utf-8")


def test_handoff_needs_a_plan_or_a_run(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path / "p", "{id: A}", [("a1", "A", 1)])
    assert cli("handoff", "-c", config).code == 2
    missing = cli("handoff", "--run", "7", "-c", config)
    assert missing.code == 2 and "no run 7" in missing.err
