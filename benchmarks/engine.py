"""Benchmark: bulk evaluation of the shipped rulebook against rule-engine record by record.

Run with `python benchmarks/engine.py [--records N] [--sample N]`. It resamples the
bundled accounts to N records (default 1,000,000) with unique ids, converts them,
times `Project.evaluate`, then evaluates the same rules record by record with
rule-engine's `Rule.matches` on a sample (default 20,000) and scales that up.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from revrules.connectors.base import ID
from revrules.connectors.csvfile import CsvConnector
from revrules.engine.definitions import Rulebook
from revrules.project import Project, load_project
from revrules.run.read import convert, read_all

ROOT = Path(__file__).resolve().parent.parent


def synthetic_accounts(project: Project, records: int) -> pl.DataFrame:
    """`records` raw accounts resampled from the bundled sample as shipped, each with a new id.

    The sample is read with no output file beside it: an `out/accounts.csv` that a quick start
    left in this checkout would otherwise be read over it as the CRM's current values.
    """
    with tempfile.TemporaryDirectory() as folder:
        connector = CsvConnector(ROOT / "examples" / "accounts.csv", "Id", output=Path(folder) / "unwritten.csv",
                                 write_fields=project.write_fields())
        sample = read_all(project, connector).raw
    picks = pl.int_range(records, eager=True) % sample.height
    frame = sample[picks.to_list()] if records <= sample.height else sample.sample(
        records, with_replacement=True, seed=7
    )
    return frame.with_columns(pl.format("001BENCH{}", pl.int_range(records).cast(pl.String).str.zfill(9)).alias(ID))


def record_by_record(book: Rulebook, rows: list[dict[str, Any]]) -> int:
    """Evaluate every derive, decision, territory and list with `Rule.matches`, one record at a time."""
    matched = 0
    for row in rows:
        for derive in book.derives:
            if derive.expression is not None:
                row[derive.name] = _value(derive.expression.rule, row)
            else:
                row[derive.name] = None
        for decision in book.decisions:
            hits = [rule for rule in decision.rules if _matches(rule.when.rule, row)]
            if decision.hit in ("first", "unique"):
                row[decision.name] = hits[0].then if hits else decision.default
            elif decision.hit == "collect":
                row[decision.name] = tuple(r.then for r in hits)
            elif decision.hit == "sum":
                row[decision.name] = sum(float(r.then) for r in hits) + float(decision.default)
            else:
                row[decision.name] = bool(hits)
            matched += len(hits)
        if book.territories:
            for path in book.territories.leaves():
                if all(_matches(node.when.rule, row) for node in path):
                    row[book.territories.output] = path[-1].id
                    break
        for item in book.lists:
            matched += _matches(item.when.rule, row)
    return matched


def _matches(rule: Any, row: dict[str, Any]) -> bool:
    try:
        return bool(rule.matches(row))
    except Exception:  # noqa: BLE001  # rule-engine raises on null in comparisons: the rule does not hold
        return False


def _value(rule: Any, row: dict[str, Any]) -> Any:
    try:
        return rule.evaluate(row)
    except Exception:  # noqa: BLE001  # as above: an error is no value
        return None


def _reset_peak_rss() -> None:
    """Reset the kernel's high-water mark so the peak measures the evaluation alone."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb(key: str = "VmHWM") -> float:
    """The process's peak (VmHWM) or current (VmRSS) resident memory."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith(key))) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--config", type=Path, default=ROOT / "config.example.yaml")
    args = parser.parse_args(argv)
    project = load_project(args.config)
    rules = sum(len(d.rules) for d in project.book.decisions) + len(project.book.derives) + len(project.book.lists)
    typed = convert(project, synthetic_accounts(project, args.records)).typed
    gc.collect()
    _reset_peak_rss()
    before_mb = _peak_rss_mb("VmRSS")

    started = time.perf_counter()
    evaluated = project.evaluate(typed)
    bulk = time.perf_counter() - started
    peak_mb = _peak_rss_mb()

    columns = [c for c in typed.columns if c != ID and not c.startswith("__")]
    rows = typed.head(args.sample).select(columns).to_dicts()
    started = time.perf_counter()
    record_by_record(project.book, rows)
    per_record = (time.perf_counter() - started) / len(rows)
    scaled = per_record * args.records
    figures = {
        "records": args.records,
        "rules": rules,
        "bulk_seconds": round(bulk, 3),
        "record_by_record_seconds_scaled": round(scaled, 1),
        "speedup": round(scaled / bulk, 1),
        "rss_mb_before_evaluation": round(before_mb),
        "peak_rss_mb_during_evaluation": round(peak_mb),
        "evaluated_columns": len(evaluated.columns),
    }
    print(json.dumps(figures))
    print(f"bulk evaluation of {args.records:,} accounts: {bulk:.2f} s; record by record (scaled from "
          f"{args.sample:,}): {scaled:.0f} s; {scaled / bulk:.0f}x faster; peak RSS {peak_mb:.0f} MB", file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()
