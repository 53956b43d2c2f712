"""A decided text compares with the CRM's trimmed, whichever way the plan takes to compare it."""

from __future__ import annotations

from pathlib import Path

import pytest

from revrules.testing.harness import Cli
from revrules.testing.projects import csv_config, write_project

RULES = """version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: big, when: "employees >= 1000", then: "%s"}
    default: SMB
"""


def _plan(tmp_path: Path, cli: Cli, enterprise: str, rows: str) -> list[dict[str, str]]:
    (tmp_path / "accounts.csv").write_text(f"Id,Emp,Segment__c\n{rows}")
    config = write_project(tmp_path, csv_config(rules="rules.yaml"), RULES % enterprise)
    done = cli("plan", "-c", config, "--json")
    assert done.code == 0, done.err
    return [{k: change[k] for k in ("id", "before", "after")} for change in done.json()["changes"]]


@pytest.mark.parametrize("enterprise", ["Enterprise", " Enterprise  "], ids=["trimmed", "padded"])
def test_a_text_the_crm_holds_trimmed_is_no_change(tmp_path: Path, cli: Cli, enterprise: str) -> None:
    """Padded or not, the decided value equals the CRM's: in every record alike, or next to a record that changes."""
    assert _plan(tmp_path, cli, enterprise, "1,5000,Enterprise\n2,10,SMB\n") == []
    assert _plan(tmp_path, cli, enterprise, "1,5000,Enterprise\n2,10,Other\n") == [
        {"id": "2", "before": "Other", "after": "SMB"}]


def test_a_cell_of_spaces_is_cleared_when_nothing_else_differs(tmp_path: Path, cli: Cli) -> None:
    """Blank (`"  "`) reads as empty; a decided null equals it, but the cell is junk and is written empty."""
    rules = RULES.replace("    default: SMB\n", "")
    (tmp_path / "accounts.csv").write_text('Id,Emp,Segment__c\n1,5000,Enterprise\n2,10,"  "\n')
    config = write_project(tmp_path, csv_config(rules="rules.yaml"), rules % "Enterprise")
    changes = cli("plan", "-c", config, "--json").json()["changes"]
    assert [(c["id"], c["before"], c["after"]) for c in changes] == [("2", "  ", None)]
