"""Benchmark: what a plan holds before it diffs, phase by phase: the CRM read, type conversion, evaluation.

Run with `python benchmarks/read.py [--records N | --config PATH] [--live]`. Without
`--config` it writes N accounts (default 200,000) the way `end_to_end.py` does, every
output field empty. The phases run in a process of their own, which prints after each
one its seconds and its resident memory (now, and the peak so far). With `--live`,
polars' allocator hands freed memory back at once, so the resident figures show what
is alive rather than what the allocator keeps for later.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
LIVE = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"}


def resident_mb() -> int:
    """This process's resident memory now, in MB (Linux; 0 where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE") >> 20


def phases(config: Path) -> dict[str, Any]:
    """Read, convert and evaluate as `plan` does; seconds and memory after each phase."""
    started = time.perf_counter()
    figures: dict[str, Any] = {}

    def mark(phase: str) -> None:
        figures[phase] = {"s": round(time.perf_counter() - started, 2), "rss_mb": resident_mb(),
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10}

    from revrules.project import load_project
    from revrules.run.read import convert, read_ancestors

    mark("import")
    project = load_project(config)
    connector = project.connector()
    raw = connector.read(project.read_fields())
    mark("read")
    snapshot = convert(project, raw, read_ancestors(project, connector, raw))
    del raw
    mark("convert")
    evaluated = project.evaluate(snapshot.typed, unavailable_owners=project.unavailable_owners(connector))
    mark("evaluate")
    figures["records"] = evaluated.height
    return figures


def prepared(folder: Path, records: int) -> Path:
    """A config over `records` accounts written by `end_to_end.py` (every output field empty)."""
    spec = importlib.util.spec_from_file_location("bench_end_to_end", ROOT / "benchmarks" / "end_to_end.py")
    if spec is None or spec.loader is None:
        raise ImportError("benchmarks/end_to_end.py")
    end_to_end = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(end_to_end)
    config: Path = end_to_end.prepare(folder, records)
    return config


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--config", type=Path, help="an existing project instead of generated accounts")
    parser.add_argument("--live", action="store_true", help="freed memory is handed back at once")
    parser.add_argument("--phases", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phases:
        print(json.dumps(phases(args.config)))
        return {}
    with tempfile.TemporaryDirectory(prefix="revrules-read-") as tmp:
        config = args.config or prepared(Path(tmp), args.records)
        env = {**os.environ, **(LIVE if args.live else {})}
        done = subprocess.run([sys.executable, str(SCRIPT), "--phases", "--config", str(config)],
                              capture_output=True, text=True, check=True, env=env)
    figures: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    print(json.dumps(figures))
    for name, value in figures.items():
        print(f"{name:>10}: {value}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()
