"""The report's issue target on 1,000,000 accounts; run on demand with `pytest -m benchmark`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.benchmark
def test_the_report_on_a_million_accounts_takes_under_ten_cpu_seconds() -> None:
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "benchmarks" / "report.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = bench.main(["--records", "1000000"])
    assert figures["report_cpu_seconds"] < 10
