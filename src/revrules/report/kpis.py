"""Which column carries each KPI (named in `report.kpis`, else guessed by name), and helpers over the rulebook."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from revrules.engine.convert import FieldType
from revrules.engine.definitions import Decision, Rulebook
from revrules.errors import InvalidInputError

NUMERIC = (FieldType.NUMBER, FieldType.INTEGER)
FLAG = (*NUMERIC, FieldType.BOOLEAN)

# KPI -> the names a config or rulebook usually gives the field that carries it (the fallback).
GUESSES: dict[str, tuple[str, ...]] = {
    "arr": ("arr", "annual_recurring_revenue"),
    "mrr": ("mrr", "monthly_recurring_revenue"),
    "ltv": ("ltv", "lifetime_value", "clv"),
    "churned": ("churned", "is_churned", "churn"),
    "nrr_start_arr": ("start_arr", "arr_start", "prior_arr", "arr_last_year", "arr_12m_ago"),
    "nrr_end_arr": ("end_arr", "arr_end"),
    "won": ("won", "is_won", "closed_won", "opportunities_won"),
    "lost": ("lost", "is_lost", "closed_lost", "opportunities_lost"),
    "cac": ("cac", "acquisition_cost", "customer_acquisition_cost"),
    "nps": ("nps", "nps_score"),
}
KINDS: dict[str, tuple[FieldType, ...]] = {
    "arr": NUMERIC, "mrr": NUMERIC, "ltv": NUMERIC, "churned": FLAG, "nrr_start_arr": NUMERIC,
    "nrr_end_arr": NUMERIC, "won": FLAG, "lost": FLAG, "cac": NUMERIC, "nps": NUMERIC,
}
NONE_LABEL = "(none)"
ARR, CHURN, WON, LOST = "__report_arr", "__report_churn", "__report_won", "__report_lost"
CHURN_RISK_NAMES = ("churn_risk",)
NPS_CATEGORY_NAMES = ("nps_category",)
SUPPORT_NAMES = ("tickets_90d", "support_tickets", "tickets", "support_cases")


@dataclass(frozen=True)
class KpiField:
    """The field carrying one KPI and how it was found: `config` (report.kpis) or `guessed` (by its name)."""

    name: str
    found: str


@dataclass(frozen=True)
class Measures:
    """Which frame columns carry each KPI (None: absent), how each was found, and what churn measures."""

    arr: str | None = None
    ltv: str | None = None
    churn: str | None = None
    churn_label: str = ""
    churn_source: str | None = None
    """The rulebook name churn is read from (a field, or the churn-risk decision used as a proxy)."""
    nrr_start: str | None = None
    nrr_end: str | None = None
    won: str | None = None
    lost: str | None = None
    cac: str | None = None
    nps: str | None = None
    nps_category: str | None = None
    support: str | None = None
    found: dict[str, str] = field(default_factory=dict)
    """KPI -> "field (config)", "field (guessed by name)" or a note on a proxy."""


def resolve_kpis(book: Rulebook, named: Mapping[str, str]) -> tuple[dict[str, KpiField], list[str]]:
    """Every KPI's field: the config's name first, a usual name as the fallback.

    Args:
        book: The loaded rulebook (its field, derive and decision names and types).
        named: `report.kpis` from the config.

    Returns:
        KPI -> its field, and the KPIs found nowhere.

    Raises:
        InvalidInputError: A name in `report.kpis` is not a field, derive or decision of a fitting type.
    """
    problems = []
    for kpi, name in named.items():
        kind = book.kinds.get(name)
        if kind is None:
            close = difflib.get_close_matches(name, list(book.kinds), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"report.kpis.{kpi}: no field, derive or decision named {name}{hint}")
        elif kind not in KINDS[kpi]:
            problems.append(f"report.kpis.{kpi}: {name} is a {kind.value}; {kpi} needs "
                            + " or ".join(k.value for k in KINDS[kpi]))
    if problems:
        raise InvalidInputError("; ".join(problems))
    found: dict[str, KpiField] = {kpi: KpiField(name, "config") for kpi, name in named.items()}
    missing = []
    for kpi, names in GUESSES.items():
        if kpi in found:
            continue
        guess = first_of(book, names, KINDS[kpi])
        if guess is None:
            missing.append(kpi)
        else:
            found[kpi] = KpiField(guess, "guessed")
    return found, missing


def first_of(book: Rulebook, names: Sequence[str], kinds: Sequence[FieldType]) -> str | None:
    """The first of `names` the rulebook knows with one of `kinds`."""
    return next((n for n in names if book.kinds.get(n) in kinds), None)


def depends_on(book: Rulebook, name: str) -> set[str]:
    """`name` and every derived value or decision computed from it, directly or not."""
    tainted = {name}
    for derive in book.derives:
        if set(derive.reads) & tainted:
            tainted.add(derive.name)
    for decision in book.decisions:
        if decision.depends_on & tainted:
            tainted.add(decision.name)
    if book.territories is not None and book.territories.output and _territory_reads(book) & tainted:
        tainted.add(book.territories.output)
    return tainted


def inputs_of(book: Rulebook, name: str) -> set[str]:
    """The configured fields `name` is computed from, through every derive and decision (itself if a field)."""
    direct: dict[str, set[str]] = {}
    for derive in book.derives:
        direct[derive.name] = set(derive.reads)
    for decision in book.decisions:
        direct[decision.name] = set(decision.depends_on)
    if book.territories is not None and book.territories.output:
        direct[book.territories.output] = _territory_reads(book)
    found: set[str] = set()
    todo, seen = [name], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in direct:
            todo.extend(direct[current])
        elif current in book.fields:
            found.add(current)
    return found


def _territory_reads(book: Rulebook) -> set[str]:
    territories = book.territories
    if territories is None:
        return set()
    reads: set[str] = set()
    for path in territories.leaves():
        for node in path:
            when = getattr(node, "when", None)
            if when is not None:
                reads |= set(when.symbols)
    return reads


def ltv_quintile(frame: pl.DataFrame, ltv: str) -> pl.Series:
    """SPEC §3 buckets: 1 + floor(5 (r - 1) / n), r the rank with ties sharing the lowest; null stays null."""
    result = frame.select(
        (1 + (5 * (pl.col(ltv).rank("min").cast(pl.Int64) - 1)) // pl.col(ltv).count().cast(pl.Int64))
        .alias("q"))
    return result["q"]


def with_measures(book: Rulebook, frame: pl.DataFrame,
                  named: dict[str, str]) -> tuple[pl.DataFrame, Measures, list[dict[str, str]]]:
    """Find the KPI fields (config first, names second); add helper columns (ARR from MRR, 0/1 churn, won/lost)."""
    fields, missing = resolve_kpis(book, named)
    found = {kpi: f"{f.name} ({'report.kpis' if f.found == 'config' else 'guessed by name'})"
             for kpi, f in fields.items()}
    skipped: list[dict[str, str]] = []
    columns: dict[str, Any] = {}
    extra: list[pl.Expr] = []
    if "arr" in fields:
        columns["arr"] = fields["arr"].name
    elif "mrr" in fields:
        extra.append((pl.col(fields["mrr"].name) * 12).alias(ARR))
        columns["arr"] = ARR
        found["arr"] = f"12 x {found['mrr']}"
    for kpi, key in (("ltv", "ltv"), ("nrr_start_arr", "nrr_start"), ("cac", "cac"), ("nps", "nps")):
        if kpi in fields:
            columns[key] = fields[kpi].name
    if "nrr_start" in columns:
        columns["nrr_end"] = fields["nrr_end_arr"].name if "nrr_end_arr" in fields else columns.get("arr")
        if "nrr_end_arr" not in fields and columns["nrr_end"]:
            found["nrr_end_arr"] = f"ARR now ({found['arr']})"
    for kpi, column in (("won", WON), ("lost", LOST)):
        if kpi in fields:
            extra.append(pl.col(fields[kpi].name).cast(pl.Float64).alias(column))
            columns[kpi] = column
    churn_expr, columns["churn_label"], columns["churn_source"] = _churn(book, fields)
    if churn_expr is not None:
        extra.append(churn_expr)
        columns["churn"] = CHURN
        found.setdefault("churned", columns["churn_label"])
    columns["nps_category"] = first_of(book, NPS_CATEGORY_NAMES, (FieldType.STRING,))
    columns["support"] = first_of(book, SUPPORT_NAMES, NUMERIC)
    for kpi in missing:
        if kpi in ("mrr", "nrr_end_arr") or kpi in found:
            continue
        skipped.append({"kpi": kpi, "reason": "not in report.kpis, and no field named "
                        + " / ".join(GUESSES[kpi])})
    return frame.with_columns(extra) if extra else frame, Measures(**columns, found=found), skipped


def _churn(book: Rulebook, fields: dict[str, Any]) -> tuple[pl.Expr | None, str, str | None]:
    """A 0/1 churn indicator (null where unknown), what it measures, and the name it reads."""
    if "churned" in fields:
        name = fields["churned"].name
        return (pl.col(name).cast(pl.Float64) > 0).cast(pl.Float64).alias(CHURN), f"churned ({name})", name
    risk = first_of(book, CHURN_RISK_NAMES, (FieldType.STRING,))
    if risk is None:
        return None, "", None
    # No churn outcome in the CRM: the High churn-risk share among accounts the rule rates
    # (not N/A, not null) is the nearest proxy, and the report says so.
    rated = pl.col(risk).is_not_null() & ~pl.col(risk).is_in(["N/A", "n/a", ""])
    indicator = pl.when(rated).then((pl.col(risk) == "High").cast(pl.Float64)).otherwise(None)
    return indicator.alias(CHURN), f"high churn risk ({risk} == 'High'; a proxy: no churn field)", risk


def label(value: Any) -> str:
    """A segment value as shown: None is "(none)"."""
    return NONE_LABEL if value is None else str(value)


def ordered_values(decision: Decision, present: Iterable[Any]) -> list[str]:
    """Values in rule order, then the default, then anything else (overrides, none)."""
    order = [str(r.then) for r in decision.rules] + [str(decision.default)]
    seen = [label(v) for v in present]
    return [v for v in dict.fromkeys(order) if v in seen] + sorted(v for v in set(seen) if v not in order)
