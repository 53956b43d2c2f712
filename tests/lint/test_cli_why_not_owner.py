"""`explain ID --why-not owner=USERID`: why a person was not chosen, through the `revrules` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from revrules.testing.harness import Cli

RULES = """\
version: 1
territories:
  output: territory
  owner_output: owner
  tree:
    - id: NA
      when: "country == 'US'"
      owners:
        - {id: ann, active: false}
        - {id: bob, away: {until: 2999-01-01}}
        - {id: cat, capacity: 1}
        - {id: dan}
        - {id: eve}
    - id: EMEA
      when: "country == 'DE'"
      owners: [{id: fay}, {id: eve}]
"""

CONFIG = """\
version: 1
crm: {kind: csv, path: accounts.csv, id_column: Id}
fields:
  country: Country
rules: [rules.yaml]
outputs: {territory: Territory, owner: Owner}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Five US accounts: 1 stays with dan; 2 fills cat's capacity; 3 eve, 4 dan (tied with eve, listed first), 5 eve."""
    (tmp_path / "accounts.csv").write_text(
        "Id,Country,Territory,Owner\n1,US,NA,dan\n2,US,,\n3,US,,\n4,US,,\n5,US,,\n6,DE,,\n")
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "revrules.yaml").write_text(CONFIG)
    return tmp_path / "revrules.yaml"


def reasons(cli: Cli, config: Path, record: str, person: str) -> list[tuple[str, str]]:
    result = cli("explain", "-c", config, record, "--why-not", f"owner={person}", "--json")
    assert result.code == 0, result.err
    return [(r["code"], r["sentence"]) for r in result.json()["why_not"]["reasons"]]


def test_why_not_owner_names_each_reason(cli: Cli, config: Path) -> None:
    assert reasons(cli, config, "4", "fay") == [
        ("not-in-pool", "fay is not in pool NA of territory NA; fay is in pool EMEA (territories EMEA)")]
    assert reasons(cli, config, "4", "ann")[0] == ("gone", "ann is gone (active: false in pool NA): keeps nothing")
    assert reasons(cli, config, "4", "bob")[0] == (
        "away", "bob is away until 2999-01-01: keeps their book, gets no new accounts")
    assert reasons(cli, config, "4", "cat") == [("at-capacity", "cat is at capacity: holds 1 accounts of 1")]
    assert reasons(cli, config, "1", "eve")[0][0] == "kept"
    assert reasons(cli, config, "4", "dan") == [("chosen", "dan is the owner (least-loaded)")]
    code, sentence = reasons(cli, config, "4", "eve")[0]
    assert code == "higher-load"
    assert "ties to the one listed first" in sentence
    assert "eve held 1 accounts / weight 1 = 1, dan 1 / 1 = 1; after the run: 2 and 2" in sentence


def test_why_not_owner_as_text_and_markdown(cli: Cli, config: Path) -> None:
    text = cli("explain", "-c", config, "4", "--why-not", "owner=fay")
    markdown = cli("explain", "-c", config, "4", "--why-not", "owner=fay", "--format", "markdown")

    assert "why not owner = fay?\n  fay is not in pool NA" in text.out
    assert "### Why fay is not the owner\n\n- fay is not in pool NA of territory NA" in markdown.out


def test_why_not_owner_needs_a_record_id(cli: Cli, config: Path) -> None:
    result = cli("explain", "-c", config, "--account", '{"country": "US"}', "--why-not", "owner=eve")

    assert result.code == 2
    assert "give a record id" in result.err
