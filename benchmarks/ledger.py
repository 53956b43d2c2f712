"""Benchmark: `revrules apply` of N CSV records, and the share of it spent in the ledger.

Run with `python benchmarks/ledger.py [--records N]` (default 200,000). It writes a
small CSV project where every record changes two fields, runs `revrules apply --yes`
in-process, and times every `Ledger` method the apply called.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from revrules.cli.main import main as revrules_main
from revrules.state.ledger import Ledger
from revrules.testing import projects

RULES = projects.SEGMENT_RULES + """\
  tier:
    hit: first
    rules:
      - {id: gold, when: "employees >= 1000", then: Gold}
    default: Silver
"""
CONFIG = projects.csv_config(outputs={"segment": "Segment__c", "tier": "Tier__c"},
                             extra="safety: {max_changed_records: 100%}\n")


def write_project(folder: Path, records: int) -> Path:
    """A CSV project of `records` accounts, every one of which gets two new values."""
    config = projects.write_project(folder, CONFIG, RULES, at="rules/book.yaml")
    pl.DataFrame({
        "Id": [f"A{n:09d}" for n in range(records)],
        "Emp": [n % 5000 for n in range(records)],
    }).write_csv(folder / "accounts.csv")
    return config


def timed_ledger() -> dict[str, float]:
    """Wrap every public `Ledger` method so that its time is added up by name."""
    spent: dict[str, float] = {}
    for name in [n for n in vars(Ledger) if not n.startswith("_") and callable(getattr(Ledger, n))]:
        method = getattr(Ledger, name)

        def wrapper(*args: Any, __method: Callable[..., Any] = method, __name: str = name, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return __method(*args, **kwargs)
            finally:
                spent[__name] = spent.get(__name, 0.0) + time.perf_counter() - start

        setattr(Ledger, name, functools.wraps(method)(wrapper))
    return spent


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print and return its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        config = write_project(Path(tmp), args.records)
        spent = timed_ledger()
        start = time.perf_counter()
        code = revrules_main(["apply", "-c", str(config), "--yes", "--json"])
        total = time.perf_counter() - start
    ledger = sum(spent.values())
    figures = {"records": args.records, "fields": 2 * args.records, "exit": code,
               "apply_seconds": round(total, 2), "ledger_seconds": round(ledger, 2),
               "ledger_share": round(ledger / total, 3),
               "by_method": {k: round(v, 3) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}}
    print(json.dumps(figures, indent=2), file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()
