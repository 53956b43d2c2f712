"""Issue 18: read and evaluation must leave a plan room to diff; run on demand with `pytest -m benchmark`."""

from __future__ import annotations

import pytest

from tests.benchmarks.scripts import run_benchmark


@pytest.mark.benchmark
def test_reading_and_evaluating_200000_accounts_stays_under_the_plan_memory_target() -> None:
    """A whole `plan -o` of 200,000 accounts is to peak under 500 MB: read and evaluation alone must."""
    figures = run_benchmark("read", ["--records", "200000"])
    assert figures["evaluate"]["peak_rss_mb"] < 500


@pytest.mark.benchmark
def test_reading_and_evaluating_a_million_accounts_stays_under_the_plan_memory_target() -> None:
    """A whole `plan -o` of 1,000,000 accounts is to peak under 2 GB: read and evaluation alone must."""
    figures = run_benchmark("read", ["--records", "1000000"])
    assert figures["evaluate"]["peak_rss_mb"] < 2048
