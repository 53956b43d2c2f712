"""`revrules report --suggest-icp` on the bundled 5,000-account sample: pre-sale traits, held-out checks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from revrules.config import load_config
from revrules.engine.rulebook import load_rulebook
from revrules.testing.harness import Cli

ROOT = Path(__file__).resolve().parents[2]
POST_SALE = {"mrr", "ltv", "nps", "logins_30d", "seats_used", "seats_purchased", "tickets_90d"}


def _sample(folder: Path, edit: Any = None, config_extra: str = "") -> Path:
    """The shipped config, rulebook and sample under `folder`, the accounts passed through `edit`."""
    shutil.copytree(ROOT / "rules", folder / "rules")
    (folder / "examples").mkdir()
    accounts = pl.read_csv(ROOT / "examples" / "accounts.csv", infer_schema=False)
    (edit(accounts) if edit else accounts).write_csv(folder / "examples" / "accounts.csv")
    config = folder / "revrules.yaml"
    text = (ROOT / "config.example.yaml").read_text()
    config.write_text(text.replace("fields:\n", "fields:\n" + config_extra, 1))
    return config


def _names(when: str) -> set[str]:
    """The names a condition reads (quoted values and keywords removed)."""
    bare = re.sub(r"'[^']*'|\"[^\"]*\"", "", when)
    return set(re.findall(r"[a-z_][a-z0-9_]*", bare)) - {"and", "or", "not", "in"}


def _icp(cli: Cli, config: Path) -> dict[str, Any]:
    result = cli("report", "-c", config, "--json", "--suggest-icp")
    assert result.code == 0, result.err
    icp: dict[str, Any] = result.json()["icp"]
    return icp


def test_the_bundled_sample_gets_a_pre_sale_icp_with_a_held_out_interval(cli: Cli, tmp_path: Path) -> None:
    icp = _icp(cli, _sample(tmp_path))
    assert icp["reliable"] is True
    held = icp["combined"]["holdout"]
    assert 1 < held["ci_low"] <= held["lift"] <= held["ci_high"]
    assert held["accounts"] == icp["holdout"] > 0
    read = set().union(*(_names(s["when"]) for s in [icp["combined"], *icp["signals"]]))
    assert read <= set(icp["traits"])
    assert not read & POST_SALE
    assert not set(icp["traits"]) & (POST_SALE | {"arr", "usage_level", "icp_score", "icp_tier", "churn_risk",
                                                 "value_tier", "territory", "owner"})
    excluded = {e["name"]: e["reason"] for e in icp["excluded"]}
    assert excluded["seats_purchased"] == "post-sale (config: stage: post_sale)"
    assert excluded["owner"] == "routing or owner"
    assert excluded["icp_score"].startswith("computed from")


def test_the_proposal_compiles_in_the_project_rulebook(cli: Cli, tmp_path: Path) -> None:
    config = _sample(tmp_path)
    result = cli("report", "-c", config, "-o", tmp_path / "r.html", "--suggest-icp")
    assert result.code == 0, result.err
    snippet = result.out.split("\n", 2)[2]  # after "wrote ..." and a blank line
    (tmp_path / "rules" / "suggested.yaml").write_text(snippet)
    loaded = load_config(config)
    book = load_rulebook(loaded.rule_sources(), loaded.field_types())
    assert book.decision("suggested_icp").hit == "any"


def test_shuffled_ltv_has_no_reliable_signal(cli: Cli, tmp_path: Path) -> None:
    icp = _icp(cli, _sample(tmp_path, lambda f: f.with_columns(pl.col("LTV__c").shuffle(seed=11))))
    assert icp["reliable"] is False
    assert icp["verdict"] == "no reliable signal: the held-out lift interval includes 1"
    held = icp["combined"]["holdout"]
    assert held["ci_low"] <= 1 <= held["ci_high"]
    result = cli("report", "-c", tmp_path / "revrules.yaml", "-o", tmp_path / "r.html", "--suggest-icp")
    assert result.out.splitlines()[-1] == "ICP: no reliable signal: the held-out lift interval includes 1"


@pytest.mark.parametrize("stage", ["", ", stage: pre_sale"])
def test_an_unmarked_revenue_field_is_excluded_as_a_proxy(cli: Cli, tmp_path: Path, stage: str) -> None:
    # A HubSpot-style total_revenue: our revenue from the customer, named like a firmographic.
    def add_revenue(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns((pl.col("LTV__c").cast(pl.Float64) * 0.9).alias("Total_Revenue"))

    extra = f"  total_revenue: {{source: Total_Revenue, type: number{stage}}}\n"
    icp = _icp(cli, _sample(tmp_path, add_revenue, extra))
    excluded = {e["name"]: e["reason"] for e in icp["excluded"]}
    if stage:
        assert excluded["total_revenue"].endswith("kept: the config marks it stage: pre_sale")
    else:
        assert excluded["total_revenue"].startswith("a revenue proxy: rank correlation 1.00")
        assert "total_revenue" not in icp["combined"]["when"]
