"""Issue 20's target for a rehearsal: `snapshot` then `rehearse` of 50,000 records; run with `pytest -m benchmark`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_rehearse", ROOT / "benchmarks" / "rehearse.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.benchmark
def test_a_rehearsal_of_50000_salesforce_records_takes_under_a_minute() -> None:
    figures = _bench().main(["--records", "50000", "--crm", "salesforce"])
    assert figures["snapshot"]["exit"] == 0
    assert figures["rehearse"]["exit"] in (0, 1)  # 1: the report found something that would fail
    assert figures["rehearse"]["wall_s"] < 60


@pytest.mark.benchmark
def test_a_rehearsal_of_50000_hubspot_companies_takes_under_a_minute() -> None:
    figures = _bench().main(["--records", "50000", "--crm", "hubspot"])
    assert figures["snapshot"]["exit"] == 0
    assert figures["rehearse"]["exit"] in (0, 1)
    assert figures["rehearse"]["wall_s"] < 60
