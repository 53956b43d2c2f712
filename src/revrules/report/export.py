"""`revrules report --format csv`: every table of the report as one CSV file in a folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

Rows = list[dict[str, Any]]


def write_csv_tables(report: dict[str, Any], folder: Path) -> list[Path]:
    """Write each non-empty table as `<name>.csv` in `folder`; return the files written, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in tables(report):
        if not rows:
            continue
        path = folder / f"{name}.csv"
        columns = list(dict.fromkeys(key for row in rows for key in row))
        data = {c: [_cell(row.get(c)) for row in rows] for c in columns}
        pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String)).write_csv(path)
        written.append(path)
    return written


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(value)


def tables(report: dict[str, Any]) -> Iterator[tuple[str, Rows]]:
    """(file name, flat rows) for every table the page shows."""
    yield "segments", [{"decision": s["decision"], **v} for s in report["segments"] for v in s["values"]]
    kpis = report["kpis"]
    if kpis:
        yield "kpis", [{k: v for k, v in {"value": r["value"], **r}.items() if k != "nps_mix"} for r in kpis["rows"]]
    yield "tests", [{"decision": t["decision"], **{k: v for k, v in m.items() if k not in (
        "pairs", "groups", "centre", "indistinguishable", "too_small")}} for t in report["tests"] for m in t["metrics"]]
    yield "pairs", [{"decision": t["decision"], "outcome": m["label"], **p}
                    for t in report["tests"] for m in t["metrics"] for p in m["pairs"]]
    value = report["value"]
    if value:
        yield "value_profile", [{"dimension": d["dimension"], **v} for d in value["dimensions"] for v in d["values"]]
    icp = report.get("icp") or {}
    if "combined" in icp:
        yield "icp", [{"condition": s["when"], **{f"holdout_{k}": v for k, v in s["holdout"].items()},
                       **{f"train_{k}": v for k, v in s["train"].items()}} for s in [icp["combined"], *icp["signals"]]]
        yield "icp_excluded", icp.get("excluded", [])
    coverage = report["coverage"]
    yield "rules", [{"decision": d["decision"], **r} for d in coverage["decisions"] for r in d["rules"]]
    yield "unmapped", [{"decision": u["decision"], "field": u["field"], **v}
                       for u in coverage["unmapped"] for v in u["values"]]
    compare = report.get("compare") or {}
    if "migration" in compare:
        yield "compare_migration", compare["migration"]
        yield "compare_kpis", compare["kpis"]
    trend = report.get("trend") or {}
    yield "trend", [{"run": r["run"], "started_at": r["started_at"], "value": v, "accounts": n}
                    for r in trend.get("runs", []) for v, n in r["sizes"].items()]
    yield "trend_transitions", [{"run": r["run"], **t} for r in trend.get("runs", []) for t in r["transitions"]]
    yield "change", [{"field": f["field"], **t} for f in report["change"]["fields"] for t in f["transitions"]]
