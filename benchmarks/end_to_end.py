"""Benchmark: the commands a user runs (plan, plan --json, apply, re-plan, rollback, start-up) against a floor.

Run with `python benchmarks/end_to_end.py [--records N] [--runs K] [--only plan,json,apply,replan,rollback,startup]`.
It resamples the bundled accounts to N records (default 200,000) into a CSV whose
output fields are all empty, so every record changes, and times each command as a
separate process (wall seconds, CPU seconds, peak RSS), with revrules' modules
byte-compiled first as an installed copy has them. In the same run it times the
floor: a hand-written polars script doing the same work with nothing in between
(read the CSV, evaluate the rulebook, diff with one unpivot, write the changes as
JSON; for apply, also write the CSV once and insert the changes into SQLite). The rollback
is that apply's, shown as a JSON plan (`--dry-run --json`): it reads every write back from
the ledger and every record from the CRM; it has no floor. With `--runs K` each command that
changes nothing (the floors' plan, plan, plan --json, re-plan, rollback) is timed K times and
its median run reported.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from revrules.testing.timing import timed

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
STEPS = ("plan", "json", "apply", "replan", "rollback", "startup")


def prepare(folder: Path, records: int) -> Path:
    """Write `records` accounts (resampled, unique ids, empty outputs) and a config; return the config."""
    sample = pl.read_csv(ROOT / "examples" / "accounts.csv", infer_schema=False)
    frame = sample.sample(records, with_replacement=True, seed=7) if records > sample.height else sample.head(records)
    ids = pl.format("001BENCH{}", pl.int_range(records).cast(pl.String).str.zfill(9))
    config = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    # The CRM has every output field, empty: every record changes.
    fields = [o["field"] if isinstance(o, dict) else o for o in config["outputs"].values()]
    empty = [pl.lit(None, pl.String).alias(f) for f in [*fields, config["provenance"]] if f not in frame.columns]
    frame.with_columns(ids.alias("Id"), *empty).write_csv(folder / "accounts.csv")
    config["crm"].update(path=str(folder / "accounts.csv"), output=str(folder / "out" / "accounts.csv"),
                         lists_dir=str(folder / "out" / "lists"))
    config["rules"] = [str(ROOT / "rules")]
    config["state_dir"] = str(folder / "state")
    path = folder / "revrules.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def byte_compile() -> None:
    """Byte-compile revrules' modules, as installing it from a wheel does.

    Under PYTHONDONTWRITEBYTECODE (set where this project is built and tested) an editable
    install never caches its bytecode, so every timed process would compile every module
    again (about 0.25 s), which no installed copy does. Python reads the cache all the same.
    """
    import compileall

    import revrules
    import revrules.connectors
    import revrules.engine

    for package in (revrules, revrules.engine, revrules.connectors):
        for folder in package.__path__:
            compileall.compile_dir(folder, quiet=1)


def reset(folder: Path) -> None:
    """Forget every earlier apply: no output file, no ledger."""
    for name in ("out", "state"):
        shutil.rmtree(folder / name, ignore_errors=True)


def median_run(runs: int, command: list[str], stdout: Path | None = None) -> dict[str, Any]:
    """`timed` `runs` times: the figures of the run of median wall time, and every run's wall seconds.

    On a shared machine one run can land on a slow spell (a command right after one that
    took 4 GB waits for the host to hand memory back); the median is not moved by it.
    """
    figures = sorted((timed(command, stdout) for _ in range(runs)), key=lambda run: run["wall_s"])
    chosen: dict[str, Any] = dict(figures[len(figures) // 2])
    if runs > 1:
        chosen["runs_wall_s"] = [run["wall_s"] for run in figures]
    return chosen


def import_seconds(command: list[str]) -> float:
    """Seconds a process spends importing modules (`python -X importtime`, top-level imports summed)."""
    done = subprocess.run([sys.executable, "-X", "importtime", *command],
                          capture_output=True, text=True, check=True)
    total = 0
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)\S", line)
        if match and not match.group(2):
            total += int(match.group(1))
    return round(total / 1e6, 3)


def floor(config: Path, target: str, *, apply: bool) -> None:
    """The hand-written query: read, evaluate, diff (one unpivot), write; no plan objects, no ledger class."""
    import sqlite3

    from revrules.project import load_project
    from revrules.run.plan import crm_text
    from revrules.run.provenance import provenance_line
    from revrules.run.read import convert

    project = load_project(config)
    settings = yaml.safe_load(config.read_text())["crm"]
    raw = pl.read_csv(settings["path"], infer_schema=False).rename({settings["id_column"]: "__id"})
    evaluated = project.evaluate(convert(project, raw).typed)
    kinds, outputs = project.book.kinds, project.outputs
    decided = [crm_text(pl.col(name), kinds[name]).alias(source) for name, source in outputs.items()]
    if project.config.model.provenance:
        decided.append(provenance_line(evaluated, project).alias(project.config.model.provenance))
    afters = evaluated.select("__id", *decided)
    del evaluated
    after = afters.unpivot(index="__id", variable_name="field", value_name="after")
    before = raw.select(afters.columns).unpivot(index="__id", variable_name="field", value_name="before")
    changes = (after.with_columns(before["before"], pl.lit("rule").alias("rule"))
               .filter(pl.col("before").ne_missing(pl.col("after")))
               .select(pl.col("__id").alias("id"), "field", "before", "after", "rule"))
    if not apply:
        with Path(target).open("w") as sink:
            sink.write('{"meta": {}, "changes": [\n')
            for start, chunk in enumerate(changes.iter_slices(50_000)):
                sink.write(("," if start else "") + chunk.write_ndjson()[:-1].replace("\n", ",\n"))
            sink.write('\n], "list_changes": []}\n')
        return
    written = raw.with_columns(afters.drop("__id")).rename({"__id": settings["id_column"]})
    written.write_csv(target)
    db = sqlite3.connect(Path(target).with_suffix(".db"))
    db.execute("create table writes (id text, field text, before text, after text, rule text, result text)")
    db.executemany("insert into writes values (?, ?, ?, ?, ?, 'written')", changes.iter_rows())
    db.commit()
    db.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=1,
                        help="time each command that changes nothing this many times and report the median run")
    parser.add_argument("--only", default=",".join(STEPS), help="comma-separated steps: " + ", ".join(STEPS))
    parser.add_argument("--floor", choices=("plan", "apply"), help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor:
        floor(args.config, args.target, apply=args.floor == "apply")
        return {}
    steps = set(args.only.split(","))
    byte_compile()
    cli = [sys.executable, "-m", "revrules"]
    figures: dict[str, Any] = {"records": args.records}
    with tempfile.TemporaryDirectory(prefix="revrules-e2e-") as tmp:
        folder = Path(tmp)
        config = prepare(folder, args.records)
        base = [*cli, "-c", str(config)]
        if steps & {"plan", "json"}:
            figures["floor_plan"] = median_run(args.runs, [sys.executable, str(SCRIPT), "--floor", "plan", "--config",
                                                           str(config), "--target", str(folder / "floor.json")])
        if "plan" in steps:
            figures["plan"] = median_run(args.runs, [*base, "plan", "-o", str(folder / "plan.json")])
        if "json" in steps:
            figures["plan_json"] = median_run(args.runs, [*base, "plan", "--json"], stdout=folder / "stdout.json")
        if steps & {"apply", "replan", "rollback"}:
            figures["floor_apply"] = timed([sys.executable, str(SCRIPT), "--floor", "apply", "--config", str(config),
                                            "--target", str(folder / "floor.csv")])
            reset(folder)
            figures["apply"] = timed([*base, "apply", "--yes"])
            figures["apply"]["us_per_record"] = round(figures["apply"]["wall_s"] / args.records * 1e6, 1)
        if "replan" in steps:
            figures["replan"] = median_run(args.runs, [*base, "plan", "-o", str(folder / "empty.json")])
        if "rollback" in steps:
            figures["rollback"] = median_run(args.runs, [*base, "rollback", "1", "--dry-run", "--json"],
                                             stdout=folder / "rollback.json")
            figures["rollback"]["us_per_record"] = round(figures["rollback"]["wall_s"] / args.records * 1e6, 1)
        if "startup" in steps:
            small = prepare(Path(tempfile.mkdtemp(dir=folder)), 1_000)
            figures["import_help_s"] = import_seconds(["-m", "revrules", "--help"])
            figures["import_plan_1000_s"] = import_seconds(["-m", "revrules", "-c", str(small), "plan"])
    for name, floor_name in (("plan", "floor_plan"), ("plan_json", "floor_plan"), ("apply", "floor_apply")):
        if name in figures and floor_name in figures:
            figures[name]["x_floor"] = round(figures[name]["wall_s"] / figures[floor_name]["wall_s"], 2)
            # On a shared machine the CPU ratio is the steadier one.
            figures[name]["x_floor_cpu"] = round(figures[name]["cpu_s"] / figures[floor_name]["cpu_s"], 2)
    print(json.dumps(figures))
    for name, value in figures.items():
        print(f"{name:>20}: {value}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()
