"""`explain --why-not` and `explain --format markdown` through the `revrules` command."""

from __future__ import annotations

import json
from pathlib import Path

from revrules.testing.harness import Cli

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"
ACCOUNT = json.dumps({"employees": 1850, "country": "US", "industry": "Hospital"})


def test_why_not_names_the_smallest_change_with_its_bound(cli: Cli) -> None:
    result = cli("explain", "-c", EXAMPLE, "--account", ACCOUNT, "--why-not", "segment=Enterprise")
    assert result.code == 0, result.err
    assert "employees would need to be at least 2,000; it is 1,850" in result.out


def test_why_not_reaches_through_decisions_to_a_territory(cli: Cli) -> None:
    document = cli("explain", "-c", EXAMPLE, "--account", ACCOUNT, "--why-not", "territory=NA-ENT", "--json").json()
    assert document["why_not"]["changes"] == [{
        "field": "employees", "current": 1850, "example": 2000,
        "sentence": "employees would need to be at least 2,000; it is 1,850"}]
    changed = json.dumps({"employees": 2000, "country": "US", "industry": "Hospital"})
    assert cli("explain", "-c", EXAMPLE, "--account", changed, "--json").json()["territory"]["value"] == "NA-ENT"


def test_why_not_says_when_no_record_can_get_the_value(cli: Cli) -> None:
    result = cli("explain", "-c", EXAMPLE, "--account", ACCOUNT, "--why-not", "segment=Gigantic")
    assert "no record can get that value" in result.out


def test_why_not_rejects_an_unknown_decision(cli: Cli) -> None:
    result = cli("explain", "-c", EXAMPLE, "--account", ACCOUNT, "--why-not", "segmnt=Enterprise")
    assert result.code == 2
    assert "DECISION=VALUE" in result.err


def test_markdown_explains_each_result_with_the_values_read(cli: Cli) -> None:
    result = cli("explain", "-c", EXAMPLE, "--account", ACCOUNT, "--format", "markdown",
                 "--why-not", "segment=Enterprise")
    assert result.out.startswith("## How account account was classified")
    assert "- **segment: Mid-Market** — because `employees >= 200` (employees is 1,850)." in result.out
    assert "- employees would need to be at least 2,000; it is 1,850" in result.out
