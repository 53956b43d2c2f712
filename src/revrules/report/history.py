"""Segments over time, from the ledger: what the last apply changed, and segment sizes and transitions per run."""

from __future__ import annotations

from typing import Any

import polars as pl

from revrules.engine.convert import ID
from revrules.engine.definitions import Decision
from revrules.project import Project
from revrules.report.kpis import NONE_LABEL
from revrules.state.ledger import WRITTEN, Ledger, Run

TOP_TRANSITIONS = 12
MAX_TREND_RUNS = 12
APPLIED = ("succeeded", "partial", "interrupted")


def change(project: Project, primary: Decision | None) -> dict[str, Any]:
    """What the last apply changed: before -> after counts per field."""
    path = project.config.state_dir / "ledger.db"
    if not path.exists():
        return {"run": None, "message": "no previous run", "fields": []}
    ledger = Ledger(path)
    try:
        run = next((r for r in ledger.runs(limit=1000)
                    if r.command == "apply" and r.status in ("succeeded", "partial", "interrupted")), None)
        writes = ledger.writes(run.id, "written") if run else None
    finally:
        ledger.close()
    if run is None or writes is None:
        return {"run": None, "message": "no previous run", "fields": []}
    names = {field: name for name, field in project.outputs.items()}
    first = [n for n in (primary.name if primary else None,
                         project.book.territories.output if project.book.territories else None) if n]
    fields = []
    for (field,), part in writes.group_by("field"):
        transitions = (part.group_by("before", "after").len()
                       .sort(["len", "before", "after"], descending=[True, False, False], nulls_last=True))
        fields.append({"field": field, "name": names.get(str(field)), "total": part.height, "transitions": [
            {"before": b, "after": a, "count": n} for b, a, n in transitions.head(TOP_TRANSITIONS).iter_rows()],
            "distinct_transitions": transitions.height})
    fields.sort(key=lambda f: (f["name"] not in first, first.index(f["name"]) if f["name"] in first else 0,
                               -f["total"], str(f["field"])))
    run_info = {"id": run.id, "started_at": run.started_at, "finished_at": run.finished_at, "status": run.status,
                "written": run.written}
    message = f"run {run.id} ({run.started_at[:16].replace('T', ' ')})"
    if writes.is_empty():
        message += " wrote no changes"
    return {"run": run_info, "message": message, "fields": fields}


def trend(project: Project, primary: Decision | None, frame: pl.DataFrame) -> dict[str, Any]:
    """Segment sizes after each apply run and the transitions it wrote, newest runs last.

    The ledger keeps what each run changed, not whole snapshots, so sizes are rebuilt backwards
    from today's values: undoing each run's writes, newest first, gives the state before it.
    """
    field = project.outputs.get(primary.name) if primary else None
    path = project.config.state_dir / "ledger.db"
    if primary is None or field is None or not path.exists():
        return {"field": field, "runs": [], "values": []}
    ledger = Ledger(path)
    try:
        runs = [r for r in reversed(ledger.runs(limit=1000)) if r.command == "apply" and r.status in APPLIED]
        writes = {r.id: ledger.writes(r.id, WRITTEN).filter(pl.col("field") == field) for r in runs}
    finally:
        ledger.close()
    runs = [r for r in runs if writes[r.id].height][-MAX_TREND_RUNS:]
    state = frame.select(pl.col(ID), pl.col(primary.name).cast(pl.String).fill_null(NONE_LABEL).alias("value"))
    entries = []
    for run in reversed(runs):
        written = writes[run.id].select(pl.col("id").alias(ID), pl.col("before").fill_null(NONE_LABEL), pl.col("after")
                                        .fill_null(NONE_LABEL)).unique(ID, keep="last")
        entries.append(_trend_entry(run, state, written))
        undone = state.join(written, on=ID, how="left")
        state = undone.select(ID, pl.coalesce("before", "value").alias("value"))
    if not entries:
        return {"field": field, "runs": [], "values": []}
    baseline = _sizes(state)
    entries.reverse()
    values = list(dict.fromkeys([v for e in entries for v in e["sizes"]] + list(baseline)))
    return {"field": field, "decision": primary.name, "baseline": baseline, "runs": entries, "values": values}


def _sizes(state: pl.DataFrame) -> dict[str, int]:
    counts = state.group_by("value").len().sort(["len", "value"], descending=[True, False])
    return {str(v): int(n) for v, n in counts.iter_rows()}


def _trend_entry(run: Run, state: pl.DataFrame, written: pl.DataFrame) -> dict[str, Any]:
    moved = written.filter(pl.col("before") != pl.col("after"))
    transitions = (moved.group_by("before", "after").len()
                   .sort(["len", "before", "after"], descending=[True, False, False]))
    return {"run": run.id, "started_at": run.started_at, "sizes": _sizes(state), "changed": moved.height,
            "transitions": [{"before": b, "after": a, "count": int(n)}
                            for b, a, n in transitions.head(TOP_TRANSITIONS).iter_rows()]}
