"""The report's issue target on 1,000,000 accounts; run on demand with `pytest -m benchmark`."""

from __future__ import annotations

import pytest

from tests.benchmarks.scripts import run_benchmark


@pytest.mark.benchmark
def test_the_report_on_a_million_accounts_takes_under_ten_cpu_seconds() -> None:
    figures = run_benchmark("report", ["--records", "1000000"])
    assert figures["report_cpu_seconds"] < 10
