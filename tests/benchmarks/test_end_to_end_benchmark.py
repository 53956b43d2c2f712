"""Issue 18 targets for the commands end to end, next to a hand-written polars floor; run with `pytest -m benchmark`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The assertions are the targets as written; the README says which are met.


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_end_to_end", ROOT / "benchmarks" / "end_to_end.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.benchmark
def test_plan_and_apply_of_200000_accounts_stay_near_the_floor() -> None:
    figures = _bench().main(["--records", "200000"])
    assert figures["plan"]["x_floor"] <= 2
    assert figures["plan"]["peak_rss_mb"] < 500
    assert figures["apply"]["x_floor"] <= 4
    assert figures["apply"]["peak_rss_mb"] < 1024
    assert figures["import_help_s"] < 0.8
    assert figures["import_plan_1000_s"] < 0.8


@pytest.mark.benchmark
def test_plan_and_apply_of_a_million_accounts_meet_the_targets() -> None:
    figures = _bench().main(["--records", "1000000", "--only", "plan,json,apply,replan"])
    assert figures["plan"]["wall_s"] < 15
    assert figures["plan"]["peak_rss_mb"] < 2048
    assert figures["plan_json"]["wall_s"] <= 1.2 * figures["plan"]["wall_s"]
    assert figures["apply"]["wall_s"] < 60
    assert figures["replan"]["wall_s"] < 8
