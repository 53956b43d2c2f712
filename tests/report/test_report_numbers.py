"""`revrules report --format json`: every number checked against a hand computation on 12 accounts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from revrules.config import load_config
from revrules.engine.rulebook import load_rulebook
from revrules.testing.harness import Cli


def _section(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    return next(item for item in items if item[key] == value)


def test_accounts_arr_and_shares_per_segment(report: dict[str, Any]) -> None:
    segment = _section(report["segments"], "decision", "segment")
    rows = {v["value"]: v for v in segment["values"]}
    assert list(rows) == ["Enterprise", "SMB", "Unclassified"]  # rule order, then the default
    assert [rows[v]["accounts"] for v in rows] == [4, 7, 1]
    assert rows["Enterprise"]["share"] == pytest.approx(4 / 12)
    # ARR = 12 x MRR: Enterprise 12 x (2000+1500+1000+1200), SMB 12 x (100+50+80+20+10+5+30).
    assert rows["Enterprise"]["arr"] == pytest.approx(68_400)
    assert rows["SMB"]["arr"] == pytest.approx(3_540)
    assert segment["total_arr"] == pytest.approx(71_940)
    assert rows["SMB"]["arr_share"] == pytest.approx(3_540 / 71_940)
    vertical = {v["value"]: v["accounts"] for v in _section(report["segments"], "decision", "vertical")["values"]}
    assert vertical == {"Healthcare": 3, "Technology": 3, "Other": 6}


def test_kpis_per_segment(report: dict[str, Any]) -> None:
    kpis = report["kpis"]
    assert kpis["decision"] == "segment"
    rows = {r["value"]: r for r in kpis["rows"]}
    assert rows["Enterprise"]["avg_ltv"] == pytest.approx(85_000)
    assert rows["SMB"]["churn_rate"] == pytest.approx(3 / 7)  # A06, A08, A10
    assert rows["Enterprise"]["churn_rate"] == pytest.approx(1 / 4)
    assert rows["SMB"]["avg_tickets"] == pytest.approx((1 + 7 + 0 + 2 + 1 + 0 + 3) / 7)
    # NPS: Enterprise 10, 9, 8, 6 -> 2 promoters, 1 detractor of 4.
    assert rows["Enterprise"]["nps_score"] == pytest.approx(100 * (2 - 1) / 4)
    # SMB: 9, 3, 7, 10, 5, 2, 8 -> 2 promoters, 3 detractors of 7: a negative score.
    assert rows["SMB"]["nps_score"] == pytest.approx(100 * (2 - 3) / 7)
    assert kpis["churn_measure"] == "churned (churned)"
    skipped = {s["kpi"] for s in report["measures"]["skipped"]}
    assert skipped == {"NRR", "win rate"}


def test_kruskal_wallis_on_ltv_matches_a_hand_computation(report: dict[str, Any]) -> None:
    test = _section(report["tests"], "decision", "segment")
    ltv = _section(test["metrics"], "metric", "ltv")
    # Unclassified has no LTV. SMB (7 values) all rank below Enterprise (4): ranks 1..7 and 8..11.
    n, r_smb, r_ent = 11, sum(range(1, 8)), sum(range(8, 12))
    h = 12 / (n * (n + 1)) * (r_ent**2 / 4 + r_smb**2 / 7) - 3 * (n + 1)
    assert h == pytest.approx(7.0)
    assert ltv["h"] == pytest.approx(h)
    assert ltv["df"] == 1
    assert ltv["epsilon_squared"] == pytest.approx(h / (n - 1))
    assert ltv["p"] == pytest.approx(math.erfc(math.sqrt(h / 2)))  # chi-square sf with 1 df
    assert ltv["verdict"].startswith("different")
    pair = ltv["pairs"][0]
    assert (pair["a"], pair["b"], pair["cliffs_delta"]) == ("Enterprise", "SMB", 1.0)


def test_indistinguishable_segments_are_named(report: dict[str, Any]) -> None:
    test = _section(report["tests"], "decision", "vertical")
    churn = _section(test["metrics"], "metric", "churn")
    # Healthcare 1/3 churned, Technology 0/3, Other 3/5: too few accounts to tell any pair apart.
    assert churn["verdict"].startswith("not distinguishable")
    assert ["Healthcare", "Technology"] in churn["indistinguishable"]


def test_rule_coverage_counts(report: dict[str, Any]) -> None:
    coverage = report["coverage"]
    segment = _section(coverage["decisions"], "decision", "segment")
    rules = {r["id"]: (r["matched"], r["decided"]) for r in segment["rules"]}
    assert rules == {"mega": (0, 0), "enterprise": (4, 4), "smb": (11, 7)}
    assert segment["default"] == 1
    assert {"decision": "segment", "rule": "mega"} in coverage["never_matched"]
    vertical = _section(coverage["decisions"], "decision", "vertical")
    assert vertical["default"] == 6
    tier = _section(coverage["decisions"], "decision", "tier")
    assert tier["conflicts"]["count"] == 1
    assert tier["conflicts"]["groups"] == [{"rules": "big-arr, many-tickets", "count": 1, "example_ids": ["A02"]}]
    assert tier["default"] == 7  # no rule for A05, A07, A08, A09, A10, A11, A12


def test_unmapped_industry_values_with_counts(report: dict[str, Any]) -> None:
    unmapped = _section(report["coverage"]["unmapped"], "decision", "vertical")
    assert unmapped["field"] == "industry"
    assert unmapped["values"] == [
        {"value": "Retail", "count": 3}, {"value": "Construction", "count": 2}, {"value": "(blank)", "count": 1}]
    # segment reads a number only: not a mapping of text values.
    assert {u["decision"] for u in report["coverage"]["unmapped"]} == {"vertical"}


def test_ltv_quintile_profile(report: dict[str, Any]) -> None:
    value = report["value"]
    # 11 LTVs: bucket 5 needs 5(r-1)/11 >= 4, i.e. rank 10 and 11; bucket 1 is rank 1..3.
    assert (value["with_ltv"], value["top_count"], value["bottom_count"]) == (11, 2, 3)
    assert value["top_min_ltv"] == 90_000
    assert value["bottom_max_ltv"] == 2_500
    segment = _section(value["dimensions"], "dimension", "segment")
    enterprise = _section(segment["values"], "value", "Enterprise")
    assert (enterprise["top"], enterprise["bottom"]) == (1.0, 0.0)
    assert enterprise["lift"] == pytest.approx(1 / (4 / 11))


def test_no_previous_run_then_transitions_of_the_last_apply(project: Path, cli: Cli,
                                                            report: dict[str, Any]) -> None:
    assert report["change"]["message"] == "no previous run"
    code, _, err = cli("apply", "-c", project, "--yes")
    assert code == 0, err
    code, out, _ = cli("report", "-c", project, "--json")
    change = json.loads(out)["change"]
    assert change["run"]["id"] == 1
    segment = change["fields"][0]
    assert (segment["field"], segment["name"], segment["total"]) == ("Segment__c", "segment", 12)
    pairs = {(t["before"], t["after"]): t["count"] for t in segment["transitions"]}
    assert pairs == {(None, "SMB"): 7, (None, "Enterprise"): 4, (None, "Unclassified"): 1}


def test_suggested_icp_compiles_in_the_project_rulebook(project: Path, cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli("report", "-c", project, "-o", tmp_path / "r.html", "--suggest-icp")
    assert code == 0, err
    snippet = out.split("\n", 2)[2]  # after "wrote ..." and a blank line
    assert "suggested_icp:" in snippet
    (tmp_path / "rules" / "suggested.yaml").write_text(snippet)
    config = load_config(project)
    book = load_rulebook(config.rule_sources(), config.field_types())
    assert book.decision("suggested_icp").hit == "any"
    (tmp_path / "rules" / "suggested.yaml").unlink()
    code, out, _ = cli("report", "-c", project, "--json", "--suggest-icp")
    icp = json.loads(out)["icp"]
    # The top quintile is A01 and A02. Conditions need 5+ accounts, so "segment == 'Enterprise'" (4) is out;
    # employees >= 500 holds for A01..A05: precision 2/5 over a base rate of 2/11.
    assert icp["compiled"] is True
    best = icp["signals"][0]
    assert (best["when"], best["matched"], best["support"]) == ("employees >= 500", 5, 1.0)
    assert best["lift"] == pytest.approx((2 / 5) / (2 / 11))
    # Adding nps >= 8 and not churned leaves A01, A02, A05.
    assert icp["combined"]["when"] == "employees >= 500 and nps >= 8 and not churned"
    assert icp["combined"]["lift"] == pytest.approx((2 / 3) / (2 / 11))
    assert "arr" not in " ".join(s["when"] for s in icp["signals"]).split()  # revenue is not an ICP


def test_json_to_a_file(project: Path, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "report.json"
    code, stdout, _ = cli("report", "-c", project, "--format", "json", "-o", out)
    assert code == 0
    assert stdout == ""
    assert json.loads(out.read_text())["meta"]["records"] == 12
