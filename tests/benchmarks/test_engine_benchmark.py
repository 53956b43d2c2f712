"""Issue targets for the engine on 1,000,000 accounts; run on demand with `pytest -m benchmark`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.benchmarks.scripts import run_benchmark


@pytest.mark.benchmark
def test_bulk_evaluation_of_a_million_accounts_meets_the_targets() -> None:
    figures = run_benchmark("engine", ["--records", "1000000", "--sample", "20000"])
    assert figures["bulk_seconds"] < 5
    assert figures["speedup"] >= 200
    assert figures["peak_rss_mb_during_evaluation"] < 2048


@pytest.fixture(scope="module")
def routing_figures() -> dict[str, Any]:
    """One run of the routing benchmark: every variant, best of three each."""
    figures: dict[str, Any] = run_benchmark("routing", ["--records", "1000000"])
    return figures


@pytest.mark.benchmark
def test_routing_a_million_accounts_adds_under_three_seconds(routing_figures: dict[str, Any]) -> None:
    assert routing_figures["routing_adds_s"] < 3


@pytest.mark.benchmark
def test_routing_by_value_with_rebalance_of_a_million_accounts_adds_under_one_and_a_half_seconds(
    routing_figures: dict[str, Any],
) -> None:
    """Issue 18: owner routing with `balance_by` and `--rebalance`, 1,000,000 accounts, 500 owners."""
    assert routing_figures["balance_by_and_rebalance_add_s"] < 1.5


@pytest.mark.benchmark
def test_families_and_a_zip_lookup_on_a_million_accounts_meet_the_targets() -> None:
    """Issue 21: 100,000 families add under 2 s to a plan; a 50,000-row ZIP table adds under 1 s."""
    figures = run_benchmark("families", ["--records", "1000000", "--families", "100000", "--zips", "50000"])
    assert figures["families_adds_s"] < 2
    assert figures["lookup_adds_s"] < 1
