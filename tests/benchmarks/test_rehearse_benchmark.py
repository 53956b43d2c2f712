"""Issue 20's target for a rehearsal: `snapshot` then `rehearse` of 50,000 records; run with `pytest -m benchmark`."""

from __future__ import annotations

import pytest

from tests.benchmarks.scripts import run_benchmark


@pytest.mark.benchmark
def test_a_rehearsal_of_50000_salesforce_records_takes_under_a_minute() -> None:
    figures = run_benchmark("rehearse", ["--records", "50000", "--crm", "salesforce"])
    assert figures["snapshot"]["exit"] == 0
    assert figures["rehearse"]["exit"] in (0, 1)  # 1: the report found something that would fail
    assert figures["rehearse"]["wall_s"] < 60


@pytest.mark.benchmark
def test_a_rehearsal_of_50000_hubspot_companies_takes_under_a_minute() -> None:
    figures = run_benchmark("rehearse", ["--records", "50000", "--crm", "hubspot"])
    assert figures["snapshot"]["exit"] == 0
    assert figures["rehearse"]["exit"] in (0, 1)
    assert figures["rehearse"]["wall_s"] < 60
