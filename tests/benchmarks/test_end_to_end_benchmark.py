"""Issue 18 targets for the commands end to end, next to a hand-written polars floor; run with `pytest -m benchmark`."""

from __future__ import annotations

import pytest

from tests.benchmarks.scripts import run_benchmark

# The assertions are the targets as written; the README says which are met.


@pytest.mark.benchmark
def test_plan_and_apply_of_200000_accounts_stay_near_the_floor() -> None:
    figures = run_benchmark("end_to_end", ["--records", "200000", "--runs", "3"])
    assert figures["plan"]["x_floor"] <= 2
    assert figures["plan"]["peak_rss_mb"] < 500
    assert figures["apply"]["x_floor"] <= 4
    assert figures["apply"]["peak_rss_mb"] < 1024
    assert figures["import_help_s"] < 0.8
    assert figures["import_plan_1000_s"] < 0.8


@pytest.mark.benchmark
def test_plan_and_apply_of_a_million_accounts_meet_the_targets() -> None:
    figures = run_benchmark("end_to_end", ["--records", "1000000", "--runs", "3",
                                           "--only", "plan,json,apply,replan,rollback"])
    assert figures["plan"]["wall_s"] < 15
    assert figures["plan"]["peak_rss_mb"] < 2048
    assert figures["plan_json"]["wall_s"] <= 1.2 * figures["plan"]["wall_s"]
    assert figures["apply"]["wall_s"] < 60
    assert figures["replan"]["wall_s"] < 8
