"""Issue 15's ledger speed target; run on demand with `pytest -m benchmark -s`.

`revrules apply` of 200,000 CSV records (400,000 field writes) must not spend most of its
time in the ledger: one bulk insert per batch and one update per landed batch, not one
statement per field (issue 15, "Ledger speed"). The figures are printed, so that the
closing note can quote them.
"""

from __future__ import annotations

import pytest

from tests.benchmarks.scripts import run_benchmark


@pytest.mark.benchmark
def test_the_ledger_is_not_the_largest_cost_of_applying_200000_csv_records(capsys: pytest.CaptureFixture[str]) -> None:
    figures = run_benchmark("ledger", ["--records", "200000"])
    with capsys.disabled():
        print(f"\napply of {figures['records']:,} CSV records: {figures['apply_seconds']} s, "
              f"{figures['ledger_seconds']} s in the ledger ({figures['ledger_share']:.0%})")
    assert figures["exit"] == 0
    assert figures["ledger_share"] < 0.5
