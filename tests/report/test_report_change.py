"""`revrules report --compare REF`, the trend from the ledger, and `--format csv`, through the command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl

from revrules.testing.harness import Cli

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


def _raise_enterprise_bar(project: Path) -> None:
    book = project.parent / "rules" / "book.yaml"
    book.write_text(book.read_text().replace('"employees >= 1000", then: Enterprise', '"employees >= 2500", '
                                                                                      "then: Enterprise"))


def test_compare_with_a_folder_shows_migration_and_kpis(project: Path, cli: Cli, tmp_path: Path) -> None:
    old = tmp_path / "old-rules"
    old.mkdir()
    (old / "book.yaml").write_text((tmp_path / "rules" / "book.yaml").read_text())
    _raise_enterprise_bar(project)  # A03 (2,000) and A04 (1,500) leave Enterprise
    result = cli("report", "-c", project, "--json", "--compare", old)
    assert result.code == 0, result.err
    compare = result.json()["compare"]
    cells = {(c["before"], c["after"]): c["count"] for c in compare["migration"]}
    assert cells == {("Enterprise", "SMB"): 2, ("Enterprise", "Enterprise"): 2, ("SMB", "SMB"): 7,
                     ("Unclassified", "Unclassified"): 1}
    assert (compare["moved"], compare["records"]) == (2, 12)
    kpis = {k["value"]: k for k in compare["kpis"]}
    assert (kpis["Enterprise"]["accounts_before"], kpis["Enterprise"]["accounts_after"]) == (4, 2)
    assert kpis["Enterprise"]["avg_ltv_before"] == 85_000
    assert kpis["Enterprise"]["avg_ltv_after"] == 95_000


def test_compare_with_a_git_ref_reads_the_rules_at_that_commit(project: Path, cli: Cli, tmp_path: Path) -> None:
    subprocess.run([*GIT, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*GIT, "add", "rules"], cwd=tmp_path, check=True)
    subprocess.run([*GIT, "commit", "-qm", "rules"], cwd=tmp_path, check=True)
    _raise_enterprise_bar(project)
    result = cli("report", "-c", project, "-o", tmp_path / "r.html", "--compare", "HEAD")
    assert result.code == 0, result.err
    page = (tmp_path / "r.html").read_text()
    assert "What-if: the rule change" in page
    assert "2 record(s) (16.7%) change <code>segment</code>" in page
    bad = cli("report", "-c", project, "--json", "--compare", "no-such-ref")
    assert bad.code == 2
    assert "--compare" in bad.err


def test_trend_rebuilds_segment_sizes_per_apply_run(project: Path, cli: Cli, tmp_path: Path) -> None:
    # Rewrite the export in place, as a CRM keeps what was written.
    project.write_text(project.read_text().replace(", output: out/accounts.csv", ""))
    assert cli("apply", "-c", project, "--yes").code == 0
    accounts = tmp_path / "accounts.csv"
    frame = pl.read_csv(accounts, infer_schema=False)
    frame.with_columns(pl.when(pl.col("Id") == "A05").then(pl.lit("1500")).otherwise(pl.col("Employees"))
                       .alias("Employees")).write_csv(accounts)
    assert cli("apply", "-c", project, "--yes").code == 0
    result = cli("report", "-c", project, "--json")
    trend = result.json()["trend"]
    assert trend["baseline"] == {"(none)": 12}
    first, second = trend["runs"]
    assert first["sizes"] == {"SMB": 7, "Enterprise": 4, "Unclassified": 1}
    assert second["sizes"] == {"SMB": 6, "Enterprise": 5, "Unclassified": 1}
    assert second["transitions"] == [{"before": "SMB", "after": "Enterprise", "count": 1}]


def test_csv_export_writes_every_table(project: Path, cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "tables"
    result = cli("report", "-c", project, "--format", "csv", "-o", folder)
    assert result.code == 0, result.err
    names = sorted(p.name for p in folder.iterdir())
    assert {"segments.csv", "kpis.csv", "tests.csv", "pairs.csv", "value_profile.csv", "rules.csv",
            "unmapped.csv"} <= set(names)
    kpis = pl.read_csv(folder / "kpis.csv")
    enterprise = kpis.filter(pl.col("value") == "Enterprise").row(0, named=True)
    assert enterprise["accounts"] == 4
    assert enterprise["nrr"] == 54_000 / 44_000
    pairs = pl.read_csv(folder / "pairs.csv")
    assert {"decision", "outcome", "a", "b", "p", "p_adjusted", "method"} <= set(pairs.columns)
