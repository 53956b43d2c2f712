"""Benchmark: what account hierarchies and a ZIP lookup table add to a plan of 1,000,000 accounts.

Run with `python benchmarks/families.py [--records N] [--families N] [--zips N]`. It
resamples the bundled accounts (as `benchmarks/engine.py` does), gives them parent ids
in families of ten (three children under the head, six grandchildren under those), and
times one plan (convert the raw records, evaluate, diff) of the shipped project three
ways: as shipped; with `hierarchy:`, five family values (a family sum, count and any,
the ultimate parent's country, the parent's segment decision) and `families: together`;
and with a lookup of a `--zips`-row ZIP -> territory table. Each figure is the best of
`--repeat` runs, in wall seconds and in CPU seconds of the process (all threads).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from revrules.connectors.base import ID
from revrules.project import Project, load_project
from revrules.run.plan import build_plan
from revrules.run.read import convert

ROOT = Path(__file__).resolve().parent.parent

FAMILY_RULES = """\
version: 1
derive:
  family_mrr: {family: sum, of: mrr}
  family_size: {family: count}
  family_customer: {family: any, of: "account_type == 'Customer'"}
  hq_country: {ultimate: country}
  parent_segment: {parent: segment}
decisions:
  family_tier:
    rules:
      - {id: big-family, when: "family_mrr >= 50000 and family_customer", then: Key}
      - {id: enterprise-parent, when: "parent_segment == 'Enterprise'", then: Key}
    default: Standard
"""
LOOKUP_RULES = """\
version: 1
lookups:
  zips: {file: zips.csv, key: zip}
derive:
  zip_territory: {lookup: zips, key: postal_code, column: territory}
"""


def _synthetic(project: Project, records: int) -> pl.DataFrame:
    spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "benchmarks" / "engine.py")
    if spec is None or spec.loader is None:
        raise ImportError("benchmarks/engine.py")
    engine = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(engine)
    frame: pl.DataFrame = engine.synthetic_accounts(project, records)
    return frame


def with_families(raw: pl.DataFrame, size: int) -> pl.DataFrame:
    """Parent ids: in each family of `size`, three children under the head and the rest under those children."""
    row = np.arange(raw.height)
    head = row - row % size
    place = row % size
    parent = np.where(place == 0, -1, np.where(place <= 3, head, head + 1 + (place - 4) % 3))
    ids = raw[ID]
    parents = ids.gather(pl.Series(np.where(parent < 0, 0, parent))).scatter(np.flatnonzero(parent < 0), None)
    return raw.with_columns(parents.alias("ParentId"))


def with_postal_codes(raw: pl.DataFrame) -> pl.DataFrame:
    codes = np.random.default_rng(3).integers(0, 100_000, raw.height)
    return raw.with_columns(pl.Series("BillingPostalCode", [f"{c:05d}" for c in codes]))


def variant(folder: Path, name: str, *, families: bool, zips: int) -> Project:
    """A copy of the shipped project in `folder/name`, with families or a ZIP lookup added."""
    target = folder / name
    shutil.copytree(ROOT / "rules", target / "rules", ignore=shutil.ignore_patterns("tests"))
    config = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    config = config.replace("path: examples/accounts.csv", f"path: {ROOT / 'examples' / 'accounts.csv'}")
    config = config.replace("  created: {source: CreatedDate, type: datetime}\n",
                            "  created: {source: CreatedDate, type: datetime}\n  postal_code: BillingPostalCode\n")
    # The baseline has no hierarchy at all, whatever the shipped files enable.
    config = re.sub(r"(?m)^#? ?hierarchy: .*$", "", config)
    routing = target / "rules" / "routing.yaml"
    text = re.sub(r"(?m)^  families: .*\n", "", routing.read_text(encoding="utf-8"))
    if families:
        config += "\nhierarchy: {parent: ParentId}\n"
        (target / "rules" / "families.yaml").write_text(FAMILY_RULES, encoding="utf-8")
        text = text.replace("territories:\n  output: territory\n",
                            "territories:\n  output: territory\n  families: together\n", 1)
    routing.write_text(text, encoding="utf-8")
    if zips:
        rng = np.random.default_rng(9)
        codes = rng.choice(100_000, zips, replace=False)
        table = pl.DataFrame({"zip": [f"{c:05d}" for c in codes],
                              "territory": [f"T{t:03d}" for t in rng.integers(0, 300, zips)]})
        table.write_csv(target / "rules" / "zips.csv")
        (target / "rules" / "zip_lookup.yaml").write_text(LOOKUP_RULES, encoding="utf-8")
    (target / "revrules.yaml").write_text(config, encoding="utf-8")
    return load_project(target / "revrules.yaml")


def plan_seconds(project: Project, raw: pl.DataFrame) -> tuple[float, float]:
    """Wall and CPU seconds of convert + evaluate + diff (the plan without the CRM read)."""
    wall, cpu = time.perf_counter(), time.process_time()
    snapshot = convert(project, raw)
    evaluated = project.evaluate(snapshot.typed)
    build_plan(project, snapshot, evaluated)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--families", type=int, default=100_000)
    parser.add_argument("--zips", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        shipped = variant(Path(folder), "shipped", families=False, zips=0)
        raw = with_postal_codes(with_families(_synthetic(load_project(ROOT / "config.example.yaml"), args.records),
                                              args.records // args.families))
        plan_seconds(shipped, raw.head(10_000))  # warm-up: first calls compile and cache
        projects = {"shipped": shipped, "families": variant(Path(folder), "families", families=True, zips=0),
                    "lookup": variant(Path(folder), "lookup", families=False, zips=args.zips)}
        timings = {name: (float("inf"), float("inf")) for name in projects}
        # Rounds interleave the variants, so a busy spell on a shared machine hits them alike; best of each.
        for _ in range(args.repeat):
            for name, project in projects.items():
                wall, cpu = plan_seconds(project, raw)
                timings[name] = (min(timings[name][0], wall), min(timings[name][1], cpu))
    figures = {
        "records": args.records, "families": args.families, "zip_rows": args.zips,
        "plan_s": round(timings["shipped"][0], 3), "plan_cpu_s": round(timings["shipped"][1], 3),
        "families_adds_s": round(timings["families"][0] - timings["shipped"][0], 3),
        "families_adds_cpu_s": round(timings["families"][1] - timings["shipped"][1], 3),
        "lookup_adds_s": round(timings["lookup"][0] - timings["shipped"][0], 3),
        "lookup_adds_cpu_s": round(timings["lookup"][1] - timings["shipped"][1], 3),
    }
    print(json.dumps(figures))
    print(f"plan of {args.records:,} accounts: {figures['plan_s']:.2f} s; hierarchies ({args.families:,} families) "
          f"add {figures['families_adds_s']:.2f} s; a {args.zips:,}-row ZIP lookup adds "
          f"{figures['lookup_adds_s']:.2f} s", file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()
