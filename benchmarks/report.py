"""Benchmark: `revrules report` over 1,000,000 accounts, in CPU seconds (every thread counted).

Run with `python benchmarks/report.py [--records N]`. It resamples the bundled accounts to N
records with unique ids (as `benchmarks/engine.py` does), evaluates the shipped rulebook, then
times building the report (segments, KPIs, every significance test, value profile, coverage,
trend) and rendering the page. Evaluation is the engine's benchmark and is reported apart.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import polars as pl

from revrules.engine.convert import ID
from revrules.project import Project, load_project
from revrules.report.html import render_html
from revrules.report.measures import build_report, finite
from revrules.run.read import convert, read_all

ROOT = Path(__file__).resolve().parent.parent


def synthetic_accounts(project: Project, records: int) -> pl.DataFrame:
    """`records` raw accounts resampled from the bundled sample, each with a new id."""
    sample = read_all(project, project.connector()).raw
    frame = sample.sample(records, with_replacement=True, seed=7)
    return frame.with_columns(pl.format("001BENCH{}", pl.int_range(records).cast(pl.String).str.zfill(9)).alias(ID))


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--config", type=Path, default=ROOT / "config.example.yaml")
    args = parser.parse_args(argv)
    project = load_project(args.config)
    typed = convert(project, synthetic_accounts(project, args.records)).typed
    cpu, wall = time.process_time(), time.perf_counter()
    evaluated = project.evaluate(typed)
    evaluation_cpu = time.process_time() - cpu
    cpu, wall = time.process_time(), time.perf_counter()
    report = finite(build_report(project, evaluated, source="benchmark"))
    page = render_html(report)
    report_cpu, report_wall = time.process_time() - cpu, time.perf_counter() - wall
    figures = {
        "records": args.records,
        "report_cpu_seconds": round(report_cpu, 2),
        "report_wall_seconds": round(report_wall, 2),
        "evaluation_cpu_seconds": round(evaluation_cpu, 2),
        "page_kb": round(len(page) / 1024),
    }
    print(json.dumps(figures))
    print(f"report over {args.records:,} accounts: {report_cpu:.2f} s of CPU ({report_wall:.2f} s wall)",
          file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()
