"""Benchmark: what owner routing adds to evaluation for 1,000,000 accounts, 200 territories, 500 owners.

Run with `python benchmarks/routing.py [--records N]`. It writes a rulebook with 200
leaf territories sharing 100 pools of 5 owners (mixed weights, some capacities),
makes accounts whose current owners are partly in their pool, partly elsewhere
and partly missing, and times `evaluate` with and without owner routing, and with
routing that balances by a value (`balance_by: arr`) and rebalances (`--rebalance`).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from revrules.engine.convert import FieldType
from revrules.engine.evaluate import evaluate
from revrules.engine.rulebook import load_rulebook

TERRITORIES, POOLS, PER_POOL = 200, 100, 5


def rulebook_text(*, route_owners: bool, balance_by: str | None = None) -> str:
    rnd = random.Random(11)
    lines = ["version: 1", "pools:"]
    for p in range(POOLS):
        owners = ", ".join(
            f"{{id: U{p * PER_POOL + i:04d}, weight: {rnd.choice([1, 1, 2])}"
            + (f", capacity: {rnd.choice([4000, 6000])}" if rnd.random() < 0.3 else "") + "}"
            for i in range(PER_POOL)
        )
        lines += [f"  P{p:03d}:", f"    owners: [{owners}]"]
        if balance_by:
            lines.append(f"    balance_by: {balance_by}")
    lines += ["territories:", "  output: territory", f"  owner_output: {'owner' if route_owners else 'null'}",
              "  tree:"]
    for t in range(TERRITORIES):
        lines.append(f"    - {{id: T{t:03d}, when: \"region == 'R{t:03d}'\", pool: P{t % POOLS:03d}, "
                     f"overflow: {{owner: QUEUE}}}}")
    return "\n".join(lines) + "\n"


def accounts(records: int) -> pl.DataFrame:
    rng = np.random.default_rng(5)
    region = rng.integers(0, TERRITORIES, records)
    pool = region % POOLS
    own = pool * PER_POOL + rng.integers(0, PER_POOL, records)
    other = rng.integers(0, POOLS * PER_POOL, records)
    pick = rng.random(records)
    owner = np.where(pick < 0.6, own, other)
    return pl.DataFrame({
        "__id": [f"001R{i:09d}" for i in range(records)],
        "region": pl.Series([f"R{r:03d}" for r in region]),
        "current": pl.Series([f"U{o:04d}" for o in owner]).scatter(np.flatnonzero(pick > 0.9), None),
        "arr": pl.Series(np.round(rng.lognormal(9, 1.2, records), 2)),
    })


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant; the best counts")
    args = parser.parse_args(argv)
    frame = accounts(args.records)
    timings = {}
    with tempfile.TemporaryDirectory() as folder:
        variants = {"without_routing": (False, None, None), "with_routing": (True, None, None),
                    "balanced": (True, "arr", 0.1)}
        for name, (routed, balance_by, rebalance) in variants.items():
            path = Path(folder) / "book.yaml"
            path.write_text(rulebook_text(route_owners=routed, balance_by=balance_by))
            book = load_rulebook([path], {"region": FieldType.STRING, "arr": FieldType.NUMBER})
            best = float("inf")
            for _ in range(args.repeat):
                started = time.perf_counter()
                evaluated = evaluate(book, frame, current_owner="current", rebalance=rebalance)
                best = min(best, time.perf_counter() - started)
            timings[name] = best
            if name == "with_routing":
                reasons = evaluated["owner#rule"].value_counts().sort("owner#rule").rows()
    figures = {
        "records": args.records, "territories": TERRITORIES, "owners": POOLS * PER_POOL,
        "evaluate_without_routing_s": round(timings["without_routing"], 3),
        "evaluate_with_routing_s": round(timings["with_routing"], 3),
        "routing_adds_s": round(timings["with_routing"] - timings["without_routing"], 3),
        "evaluate_balanced_rebalanced_s": round(timings["balanced"], 3),
        "balance_by_and_rebalance_add_s": round(timings["balanced"] - timings["without_routing"], 3),
        "reasons": dict(reasons),
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
