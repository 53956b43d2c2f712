"""`lint`, `test --coverage`, `schema` and `--format` through the `revrules` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from revrules.testing.harness import Cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
STARTER = ROOT / "src" / "revrules" / "cli" / "starter"

SHADOWED = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: smb, when: "employees >= 1", then: SMB}
      - {id: mid-market, when: "employees >= 200", then: Mid-Market}
    default: Unclassified
tests:
  - name: a 5-person company is SMB
    account: {employees: 5}
    expect: {segment: SMB}
"""


def test_shipped_rulebook_passes_lint(cli: Cli) -> None:
    result = cli("lint", "-c", EXAMPLE, "--format", "json")
    assert result.code == 0, result.out
    assert json.loads(result.out)["open"] == 0


def test_shipped_rulebook_coverage_is_above_ninety_percent(cli: Cli) -> None:
    result = cli("test", "-c", EXAMPLE, "--coverage", "--fail-under", "90", "--json")
    assert result.code == 0, result.err
    coverage = json.loads(result.out)["coverage"]
    assert coverage["percent"] > 90
    assert set(coverage["groups"]) >= {"segment", "territories", "lists"}


def test_coverage_names_rules_no_test_makes_decide_and_fails_under_threshold(cli: Cli, project: Any) -> None:
    config = project(SHADOWED)
    result = cli("test", "-c", config, "--coverage", "--fail-under", "95")
    assert result.code == 1
    assert "rule mid-market: no test made it held, decided" in result.out
    assert "default default: no test made it decided" in result.out
    assert "coverage" in result.err and "under 95%" in result.err
    document = cli("test", "-c", config, "--coverage", "--format", "json").json()
    item = next(i for i in document["coverage"]["items"] if i["id"] == "smb")
    assert item["goals"] == {"held": True, "failed": False, "decided": True}


def test_coverage_reports_operands_exercised_both_ways(cli: Cli, project: Any) -> None:
    config = project("""\
version: 1
decisions:
  fit:
    hit: any
    rules:
      - {id: us-mid, when: "country == 'US' and employees >= 200"}
tests:
  - {name: a, account: {country: US, employees: 500}, expect: {fit: true}}
  - {name: b, account: {country: US, employees: 5}, expect: {fit: false}}
""")
    document = cli("test", "-c", config, "--coverage", "--json").json()
    item = next(i for i in document["coverage"]["items"] if i["id"] == "us-mid")
    assert item["operands"] == [
        {"source": "country == 'US'", "true": True, "false": False},
        {"source": "employees >= 200", "true": True, "false": True},
    ]
    assert "operand `country == 'US'` was never false" in cli("test", "-c", config, "--coverage").out


def test_lint_and_check_print_github_annotations(cli: Cli, project: Any) -> None:
    config = project(SHADOWED)
    for command in ("lint", "check"):
        result = cli(command, "-c", config, "--format", "github")
        assert result.code == 1
        line = next(x for x in result.out.splitlines() if x.startswith("::warning"))
        assert line.startswith("::warning file=rules/book.yaml,line=7,col=")
        assert "title=RR101 shadowed-rule::" in line


def test_check_json_lists_findings(cli: Cli, project: Any) -> None:
    document = cli("check", "-c", project(SHADOWED), "--format", "json").json()
    assert [f["code"] for f in document["findings"]] == ["RR101"]


def test_github_format_turns_rulebook_errors_into_error_annotations(cli: Cli, project: Any) -> None:
    config = project(SHADOWED.replace("employees >= 200", "employes >= 200"))
    result = cli("lint", "-c", config, "--format", "github")
    assert result.code == 2
    assert result.out.startswith("::error file=rules/book.yaml,line=7,")


def test_test_github_format_annotates_failures(cli: Cli, project: Any) -> None:
    config = project(SHADOWED.replace("expect: {segment: SMB}", "expect: {segment: Mid-Market}"))
    result = cli("test", "-c", config, "--format", "github")
    assert result.code == 1
    assert result.out.startswith("::error file=rules/book.yaml,line=")
    assert result.out.splitlines()[-1] == "0 passed, 1 failed"


def test_lint_text_shows_position_code_and_a_runnable_witness(cli: Cli, project: Any) -> None:
    result = cli("lint", "-c", project(SHADOWED))
    assert result.out.splitlines()[0].startswith("rules/book.yaml:7:")
    assert "RR101 shadowed-rule" in result.out
    assert "witness: revrules explain --account '{\"employees\": " in result.out
    assert result.out.splitlines()[-1] == "1 finding, 0 silenced"


def test_schema_prints_each_schema_and_the_starter_copies_match(cli: Cli, tmp_path: Path) -> None:
    everything = cli("schema").json()
    assert set(everything) == {"config", "rulebook", "tests"}
    assert "decisions" in everything["rulebook"]["properties"]
    assert "crm" in everything["config"]["properties"]
    for kind in ("config", "rulebook", "tests"):
        one = cli("schema", kind)
        assert one.code == 0
        assert one.out == (STARTER / "schemas" / f"{kind}.schema.json").read_text(), f"regenerate {kind}"
    assert cli("schema", "-o", tmp_path / "s").code == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "config.schema.json", "rulebook.schema.json", "tests.schema.json"]


def test_init_writes_schemas_the_starter_files_reference(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", tmp_path).code == 0
    for name in ("revrules.yaml", "rules/segments.yaml", "rules/tests/segments.yaml"):
        modeline = next(x for x in (tmp_path / name).read_text().splitlines()
                        if x.startswith("# yaml-language-server: $schema="))
        target = (tmp_path / name).parent / modeline.split("$schema=")[1]
        assert json.loads(target.read_text())["$schema"].startswith("https://json-schema.org/")
