"""`revrules report --format json`: every number checked against a hand computation (or scipy) on 12 accounts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from revrules.testing.harness import Cli

ENTERPRISE_LTV = [100_000, 90_000, 80_000, 70_000]
SMB_LTV = [5_000, 4_000, 6_000, 3_000, 2_000, 1_000, 2_500]


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


def test_nrr_is_arr_weighted_and_grr_caps_expansion(report: dict[str, Any]) -> None:
    rows = {r["value"]: r for r in report["kpis"]["rows"]}
    # Enterprise: ARR now 24,000 + 18,000 + 12,000 over 12,000 + 20,000 + 12,000 at the start (A04 unknown).
    assert rows["Enterprise"]["nrr"] == pytest.approx(54_000 / 44_000)
    assert rows["Enterprise"]["grr"] == pytest.approx((12_000 + 18_000 + 12_000) / 44_000)
    # SMB: 1,200 + 600 + 960 over 100 + 1,200 + 1,000. The mean of per-account ratios would be
    # (12 + 0.5 + 0.96) / 3 = 4.49, ranking SMB far above Enterprise (1.3); weighted, it is below.
    assert rows["SMB"]["nrr"] == pytest.approx(2_760 / 2_300)
    assert rows["SMB"]["nrr"] < rows["Enterprise"]["nrr"]
    assert rows["SMB"]["grr"] == pytest.approx((100 + 600 + 960) / 2_300)
    assert rows["Unclassified"]["nrr"] is None
    assert report["kpis"]["total"]["nrr"] == pytest.approx(56_760 / 46_300)


def test_win_rate_cac_and_ltv_to_cac_per_segment(report: dict[str, Any]) -> None:
    rows = {r["value"]: r for r in report["kpis"]["rows"]}
    assert rows["Enterprise"]["win_rate"] == pytest.approx(6 / 12)
    assert rows["SMB"]["win_rate"] == pytest.approx(2 / 5)
    assert rows["Enterprise"]["cac"] == pytest.approx(20_000)
    assert rows["Enterprise"]["ltv_cac"] == pytest.approx(260_000 / 60_000)  # A03 has no CAC
    assert rows["SMB"]["ltv_cac"] == pytest.approx((5_000 + 4_000) / (1_000 + 2_000))
    assert rows["Unclassified"]["win_rate"] is None


def test_kpis_say_where_each_field_came_from(report: dict[str, Any]) -> None:
    kpis = report["kpis"]
    rows = {r["value"]: r for r in kpis["rows"]}
    assert rows["Enterprise"]["avg_ltv"] == pytest.approx(85_000)
    assert rows["SMB"]["churn_rate"] == pytest.approx(3 / 7)  # A06, A08, A10
    assert rows["SMB"]["nps_score"] == pytest.approx(100 * (2 - 3) / 7)
    found = report["measures"]["found"]
    assert found["ltv"] == "ltv (report.kpis)"
    assert found["nrr_start_arr"] == "start_arr (report.kpis)"
    assert found["arr"] == "arr (guessed by name)"  # the rulebook derives arr = mrr * 12
    assert found["nps"] == "nps (guessed by name)"
    assert kpis["churn_measure"] == "churned (churned)"


def test_ltv_tests_match_scipy(report: dict[str, Any]) -> None:
    ltv = _section(_section(report["tests"], "decision", "segment")["metrics"], "metric", "ltv")
    h, p = stats.kruskal(ENTERPRISE_LTV, SMB_LTV)
    assert h == pytest.approx(7.0)  # by hand: ranks 8..11 against 1..7
    assert (ltv["statistic"], ltv["p"]) == (pytest.approx(h, abs=1e-12), pytest.approx(p, abs=1e-12))
    assert ltv["effect"] == pytest.approx(h / 10)
    pair = ltv["pairs"][0]
    exact = stats.mannwhitneyu(ENTERPRISE_LTV, SMB_LTV, method="exact")
    assert pair["p"] == pytest.approx(exact.pvalue, abs=1e-12)
    assert pair["p"] == pytest.approx(2 / 330)  # the one most extreme ordering, both ways, of C(11, 4)
    assert (pair["a"], pair["b"], pair["cliffs_delta"], pair["distinguishable"]) == ("Enterprise", "SMB", 1.0, True)


def test_churn_is_tested_as_a_proportion_with_fisher_for_small_counts(report: dict[str, Any]) -> None:
    churn = _section(_section(report["tests"], "decision", "segment")["metrics"], "metric", "churn")
    assert churn["kind"] == "binary"
    pair = churn["pairs"][0]
    assert pair["method"] == "Fisher exact"
    assert pair["p"] == pytest.approx(stats.fisher_exact([[1, 3], [3, 4]]).pvalue, abs=1e-12)
    assert pair["risk_ratio"] == pytest.approx((1 / 4) / (3 / 7))
    assert pair["risk_difference"] == pytest.approx(1 / 4 - 3 / 7)


def test_holm_correction_runs_over_the_pairs_of_a_decision(report: dict[str, Any]) -> None:
    churn = _section(_section(report["tests"], "decision", "vertical")["metrics"], "metric", "churn")
    # Healthcare 1/3 churned, Technology 0/3, Other 3/5.
    tables = {("Healthcare", "Technology"): [[1, 2], [0, 3]], ("Healthcare", "Other"): [[1, 2], [3, 2]],
              ("Technology", "Other"): [[0, 3], [3, 2]]}
    raw = {pair: stats.fisher_exact(table).pvalue for pair, table in tables.items()}
    ordered = sorted(raw.values())
    holm = [min(1.0, max(3 * ordered[0], 2 * ordered[1] if i >= 1 else 0, ordered[2] if i >= 2 else 0))
            for i in range(3)]
    expected = {pair: holm[ordered.index(p)] for pair, p in raw.items()}
    for pair in churn["pairs"]:
        assert pair["p_adjusted"] == pytest.approx(expected[(pair["a"], pair["b"])], abs=1e-12)
    assert churn["verdict"].startswith("not distinguishable")


def test_an_outcome_the_decision_is_computed_from_is_circular_and_not_tested(report: dict[str, Any]) -> None:
    churn = _section(_section(report["tests"], "decision", "health")["metrics"], "metric", "churn")
    assert churn["circular"] == "health is computed from churned"
    assert churn["verdict"].startswith("not tested: circular")
    assert churn["pairs"] == []
    ltv = _section(_section(report["tests"], "decision", "health")["metrics"], "metric", "ltv")
    assert ltv["circular"] is None


def test_rules_that_never_decide_include_shadowed_rules(report: dict[str, Any]) -> None:
    coverage = report["coverage"]
    segment = _section(coverage["decisions"], "decision", "segment")
    rules = {r["id"]: (r["matched"], r["decided"]) for r in segment["rules"]}
    assert rules == {"mega": (0, 0), "enterprise": (4, 4), "large": (1, 0), "smb": (11, 7)}
    never = {(n["decision"], n["rule"]): n["why"] for n in report["summary"]["never_decide"]}
    assert never[("segment", "mega")] == "never matches"
    assert never[("segment", "large")] == "shadowed: earlier rules decide every match"
    tier = _section(coverage["decisions"], "decision", "tier")
    assert tier["conflicts"]["groups"] == [{"rules": "big-arr, many-tickets", "count": 1, "example_ids": ["A02"]}]


def test_summary_names_the_largest_differences_and_unmapped_values(report: dict[str, Any]) -> None:
    summary = report["summary"]
    first = summary["largest_differences"][0]
    assert (first["decision"], first["metric"], first["a"], first["b"]) == ("segment", "LTV", "Enterprise", "SMB")
    unmapped = _section(summary["unmapped"], "decision", "vertical")
    assert (unmapped["field"], unmapped["records"], unmapped["top"]) == (
        "industry", 6, ["Retail", "Construction", "(blank)"])


def test_ltv_quintile_profile_states_its_real_share(report: dict[str, Any]) -> None:
    value = report["value"]
    # 11 LTVs: bucket 5 needs 5(r-1)/11 >= 4, i.e. rank 10 and 11; bucket 1 is rank 1..3.
    assert (value["with_ltv"], value["top_count"], value["bottom_count"]) == (11, 2, 3)
    assert value["top_share"] == pytest.approx(2 / 11)  # not "20%"
    segment = _section(value["dimensions"], "dimension", "segment")
    assert _section(segment["values"], "value", "Enterprise")["lift"] == pytest.approx(1 / (4 / 11))


def test_unknown_kpi_field_in_the_config_is_an_input_error(project: Path, cli: Cli) -> None:
    project.write_text(project.read_text().replace("ltv: ltv, churned", "ltv: ltvv, churned"))
    code, _, err = cli("report", "-c", project, "--json")
    assert code == 2
    assert "report.kpis.ltv: no field, derive or decision named ltvv (did you mean ltv?)" in err


def test_no_previous_run_then_transitions_of_the_last_apply(project: Path, cli: Cli,
                                                            report: dict[str, Any]) -> None:
    assert report["change"]["message"] == "no previous run"
    code, _, err = cli("apply", "-c", project, "--yes")
    assert code == 0, err
    code, out, _ = cli("report", "-c", project, "--json")
    change = json.loads(out)["change"]
    segment = change["fields"][0]
    assert (segment["field"], segment["name"], segment["total"]) == ("Segment__c", "segment", 12)
    pairs = {(t["before"], t["after"]): t["count"] for t in segment["transitions"]}
    assert pairs == {(None, "SMB"): 7, (None, "Enterprise"): 4, (None, "Unclassified"): 1}


def test_too_few_accounts_for_an_icp_says_so(project: Path, cli: Cli) -> None:
    code, out, _ = cli("report", "-c", project, "--json", "--suggest-icp")
    assert code == 0
    assert json.loads(out)["icp"]["error"] == "too few accounts with an LTV (11) to learn and check an ICP"


def test_json_to_a_file(project: Path, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "report.json"
    code, stdout, _ = cli("report", "-c", project, "--format", "json", "-o", out)
    assert code == 0
    assert stdout == ""
    assert json.loads(out.read_text())["meta"]["records"] == 12
