"""`revrules explain` for a record or a given account, and `revrules history`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from revrules.testing.harness import Cli
from tests.cli.projects import write_project


def _decision(trace: dict[str, Any], name: str) -> dict[str, Any]:
    return next(d for d in trace["decisions"] if d["name"] == name)


def test_explain_id_shows_the_deciding_rule_and_each_outcome_with_values(
    starter: Path, cli: Cli
) -> None:
    result = cli("explain", "0015e000001A003", "-c", starter)
    assert result.code == 0, result.err
    out = result.out
    assert out.startswith("Record 0015e000001A003")
    assert "segment = Mid-Market    [hit: first, decided by: mid-market]" in out
    assert re.search(r"false\s+enterprise: employees >= 2000\s+reads employees=1200", out)
    assert re.search(r"true\s+mid-market: employees >= 200\s+reads employees=1200", out)
    assert "territory = NA-COMM" in out
    assert re.search(r"true\s+NA: .*reads country=USA", out)


def test_explain_id_json_has_outcomes_and_values_read(starter: Path, cli: Cli) -> None:
    trace = cli("explain", "0015e000001A003", "-c", starter, "--json").json()
    segment = _decision(trace, "segment")
    assert (segment["value"], segment["rule"]) == ("Mid-Market", "mid-market")
    assert [(r["id"], r["outcome"]) for r in segment["rules"]] == [
        ("enterprise", "false"),
        ("mid-market", "true"),
        ("smb", "true"),
    ]
    assert segment["rules"][0]["reads"] == {"employees": 1200}
    assert trace["territory"]["value"] == "NA-COMM"
    assert trace["owner"] == {"value": "0055e000001CCCC", "why": "kept", "pool": "NA-COMM", "overflow": None,
                              "previous": "0055e000001CCCC", "previous_status": "active",
                              "because": "kept by 0055e000001CCCC, a member of pool NA-COMM"}


def test_explain_shows_unknown_for_a_null_input(starter: Path, cli: Cli) -> None:
    trace = cli("explain", "0015e000001A007", "-c", starter, "--json").json()
    segment = _decision(trace, "segment")
    assert segment["value"] == "Unclassified"
    assert segment["rule"] == "default"
    assert {r["outcome"] for r in segment["rules"]} == {"unknown"}
    assert segment["rules"][0]["reads"] == {"employees": None}


def test_explain_shows_an_override_as_the_deciding_rule(starter: Path, cli: Cli) -> None:
    trace = cli("explain", "0015e000001A005", "-c", starter, "--json").json()
    segment = _decision(trace, "segment")
    assert (segment["value"], segment["rule"]) == ("Strategic", "override")


def test_explain_account_json(starter: Path, cli: Cli) -> None:
    result = cli(
        "explain", "--account", '{"employees": 2500, "country": "US"}', "-c", starter, "--json"
    )
    assert result.code == 0, result.err
    trace = result.json()
    segment = _decision(trace, "segment")
    assert (segment["value"], segment["rule"]) == ("Enterprise", "enterprise")
    assert [r["outcome"] for r in segment["rules"]] == ["true", "true", "true"]
    assert segment["rules"][0]["reads"] == {"employees": 2500}
    assert trace["territory"]["value"] == "NA-ENT"
    assert [m["member"] for m in trace["lists"]] == [True]


def test_explain_account_text(starter: Path, cli: Cli) -> None:
    result = cli("explain", "--account", '{"employees": "1,999", "country": "NO"}', "-c", starter)
    assert result.code == 0
    assert "segment = Mid-Market    [hit: first, decided by: mid-market]" in result.out
    assert re.search(r"false\s+enterprise: employees >= 2000\s+reads employees=1999", result.out)
    assert "territory = ROW" in result.out


def test_explain_derived_values_and_collect(tmp_path: Path, cli: Cli) -> None:
    config = write_project(tmp_path, "Id,Emp,Mrr,Domain\nA1,2,100,x.edu\n")
    trace = cli("explain", "A1", "-c", config, "--json").json()
    assert trace["derived"] == [
        {"name": "arr", "value": 1200, "how": "mrr * 12", "reads": {"mrr": 100}}
    ]
    anti = _decision(trace, "anti_icp")
    assert anti["value"] == ["Zeta", "Alpha"]
    assert [(r["id"], r["outcome"]) for r in anti["rules"]] == [("zeta", "true"), ("alpha", "true")]


def test_explain_unknown_id_is_exit_2(starter: Path, cli: Cli) -> None:
    result = cli("explain", "NO-SUCH-ID", "-c", starter)
    assert result.code == 2
    assert result.err.strip() == "error: record NO-SUCH-ID not found in csv (accounts.csv)"


def test_explain_bad_account_json_or_unknown_field_is_exit_2(starter: Path, cli: Cli) -> None:
    for account, message in (
        ("{not json", "not valid JSON"),
        ("[1]", "expected a JSON object"),
        ('{"employes": 3}', "unknown field(s): employes"),
    ):
        result = cli("explain", "--account", account, "-c", starter)
        assert result.code == 2
        assert message in result.err
        assert "Traceback" not in result.err


def test_explain_without_id_or_account_is_exit_2(starter: Path, cli: Cli) -> None:
    assert cli("explain", "-c", starter).code == 2


def test_history_json_lists_runs_newest_first(starter: Path, cli: Cli) -> None:
    assert cli("history", "-c", starter, "--json").json() == {"runs": []}
    assert cli("history", "-c", starter).out.strip() == "No runs yet."
    assert cli("apply", "-c", starter).code == 2  # refused: no --yes
    assert cli("apply", "-c", starter, "--yes").code == 0
    assert cli("rollback", "2", "-c", starter, "--yes").code == 0
    runs = cli("history", "-c", starter, "--json").json()["runs"]
    assert [(r["id"], r["command"], r["status"]) for r in runs] == [
        (3, "rollback", "succeeded"),
        (2, "apply", "succeeded"),
        (1, "apply", "refused"),
    ]
    keys = {
        "id",
        "command",
        "started_at",
        "finished_at",
        "status",
        "written",
        "failed",
        "skipped",
        "rulebook_hash",
    }
    assert all(keys <= set(r) for r in runs)
    apply_run = runs[1]
    assert (apply_run["written"], apply_run["failed"], apply_run["skipped"]) == (29, 0, 0)
    assert apply_run["started_at"] <= apply_run["finished_at"]
    assert (
        apply_run["rulebook_hash"]
        == cli("plan", "-c", starter, "--json").json()["meta"]["rulebook_hash"]
    )
    assert runs[0]["written"] == 29


def test_history_text_is_a_table(starter: Path, cli: Cli) -> None:
    assert cli("apply", "-c", starter, "--yes").code == 0
    lines = cli("history", "-c", starter).out.splitlines()
    assert lines[0].split()[:3] == ["run", "command", "status"]
    assert lines[1].split()[:3] == ["1", "apply", "succeeded"]
