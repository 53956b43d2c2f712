"""A data-driven ICP for `revrules report --suggest-icp`: pre-sale traits that pick out the top LTV quintile.

Only traits known before the sale are candidates (fields marked `stage: pre_sale` or unmarked,
and rulebook outputs computed only from those), never KPI fields, routing or owners, nor a
field whose rank correlation with LTV or ARR exceeds 0.8 (a revenue proxy). A beam search
over conjunctions of conditions (thresholds, numeric ranges, single values and `in` lists)
runs on a training split scored by weighted relative accuracy; the best conjunction is
then written as a rulebook, loaded through the engine, and measured on the held-out split
(`revrules.report.icp_proof`), where a lift interval that includes 1 means "no reliable signal".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from revrules.engine.convert import ID, FieldType
from revrules.project import Project
from revrules.report import icp_proof
from revrules.report.icp_proof import SPLIT_SEED, TRAIN_SHARE
from revrules.report.kpis import NUMERIC, Measures, depends_on, inputs_of, ltv_quintile

Mask = npt.NDArray[np.bool_]

MAX_PROXY_CORRELATION = 0.8
MAX_SEARCH_ROWS = 50_000
"""The search runs on at most this many training accounts (a seeded sample): enough to find a profile."""
BEAM_WIDTH = 8
MAX_TERMS = 3
MAX_SIGNALS = 6
MAX_VALUES = 30
MAX_IN_LIST = 8
FREQUENT_SHARE = 0.01
"""High-cardinality text is grouped to the values held by at least this share of accounts."""
MIN_FREQUENT_COVERAGE = 0.3
QUANTILES = tuple(q / 10 for q in range(1, 10))


@dataclass(frozen=True)
class Condition:
    """One condition in rulebook syntax, the name it reads, and where it holds on the search rows."""

    when: str
    field: str
    holds: Mask


@dataclass(frozen=True)
class Conjunction:
    """Conditions joined by `and`, where they all hold, and its quality on the search rows."""

    terms: tuple[Condition, ...]
    holds: Mask
    quality: float

    @property
    def when(self) -> str:
        """The conjunction in rulebook syntax."""
        return " and ".join(t.when for t in self.terms)


def suggest_icp(project: Project, frame: pl.DataFrame, typed: pl.DataFrame, m: Measures) -> dict[str, Any]:
    """Propose an ICP from pre-sale traits, then prove it through the engine on held-out accounts.

    Args:
        project: The loaded project.
        frame: The evaluated records (with the report's KPI columns).
        typed: The typed records before evaluation (to evaluate the proposal with the engine).
        m: Where each KPI is.
    """
    if m.ltv is None:
        return {"error": "no LTV field (report.kpis.ltv, or ltv / lifetime_value / clv): nothing to learn from"}
    work = frame.filter(pl.col(m.ltv).is_not_null())
    work = work.with_columns((ltv_quintile(work, m.ltv) == 5).alias("__top"),
                             (pl.col(ID).hash(SPLIT_SEED) % 10 < TRAIN_SHARE).alias("__train"))
    train = work.filter(pl.col("__train"))
    if train.height > MAX_SEARCH_ROWS:
        train = train.sample(MAX_SEARCH_ROWS, seed=SPLIT_SEED)
    if train.height < 50 or work.height - train.height < 20 or not train["__top"].sum():
        return {"error": f"too few accounts with an LTV ({work.height}) to learn and check an ICP"}
    allowed, excluded = traits(project, work, m)
    top = train["__top"].to_numpy()
    conditions, skipped = _conditions(project, train, allowed, top)
    excluded += skipped
    minimum = max(10, train.height // 50)
    if not conditions:
        return {"error": "no pre-sale trait to build an ICP from", "excluded": excluded}
    best = beam_search(conditions, top, minimum)
    signals = _signals(conditions, top, minimum)
    if best is None:
        return {"error": "no pre-sale condition is over-represented in the top LTV quintile", "excluded": excluded}
    text, names = icp_proof.rulebook_text(project, best.when, [s.when for s in signals], work.height, m.ltv)
    result: dict[str, Any] = {
        "population": work.height, "top": int(work["__top"].sum()), "ltv": m.ltv,
        "train": train.height, "holdout": work.height - int(work["__train"].sum()),
        "traits": allowed, "excluded": excluded, "yaml": text,
        "decisions": {"combined": names[0], "signals": names[1]},
    }
    measured = icp_proof.measure(project, typed, text, names, m.ltv)
    if "error" in measured:
        return {**result, **measured}
    # A signal that does not hold up on the held-out accounts is noise the search fitted: drop it.
    kept = [s["when"] for s in measured["signals"] if (s["holdout"]["ci_low"] or 0.0) > 1]
    if len(kept) < len(signals):
        text, names = icp_proof.rulebook_text(project, best.when, kept, work.height, m.ltv)
        measured = icp_proof.measure(project, typed, text, names, m.ltv)
        result["yaml"] = text
    verdict = measured["combined"]["holdout"]
    reliable = verdict["ci_low"] is not None and verdict["ci_low"] > 1
    return {**result, **measured, "compiled": True, "reliable": reliable,
            "verdict": ("reliable: the held-out lift interval lies above 1" if reliable else
                        "no reliable signal: the held-out lift interval includes 1")}


def traits(project: Project, work: pl.DataFrame, m: Measures) -> tuple[list[str], list[dict[str, str]]]:
    """The names an ICP may read, and every name left out with the reason."""
    book, fields = project.book, project.config.model.fields
    kpi_fields = {value.split(" ")[0] for value in m.found.values()} | {
        c for c in (m.ltv, m.arr, m.nrr_start, m.nrr_end, m.cac, m.churn_source) if c}
    excluded: dict[str, str] = {}
    for name, spec in fields.items():
        if spec.stage == "post_sale":
            excluded[name] = "post-sale (config: stage: post_sale)"
        elif name in kpi_fields:
            excluded[name] = "a KPI (outcome) field"
    routed: set[str] = set()
    if book.territories is not None:
        for routing in (book.territories.output, book.territories.owner_output):
            if routing:
                routed |= depends_on(book, routing)
    outcome = set().union(*(depends_on(book, k) for k in kpi_fields if k in book.kinds))
    allowed: list[str] = []
    for name, kind in book.kinds.items():
        if name in excluded or name not in work.columns or kind == FieldType.DATETIME:
            continue
        if name in routed:
            excluded[name] = "routing or owner"
        elif name in outcome:
            excluded[name] = "computed from a KPI (value)"
        elif name not in fields and (inputs_of(book, name) & set(excluded) or not inputs_of(book, name)):
            excluded[name] = "computed from post-sale or KPI fields"
        else:
            allowed.append(name)
    vouched: list[dict[str, str]] = []
    for name in list(allowed):
        rho = _proxy_correlation(work, name, [c for c in (m.ltv, m.arr) if c], book.kinds[name])
        if rho is None or abs(rho) <= MAX_PROXY_CORRELATION:
            continue
        if name in fields and fields[name].stage == "pre_sale":
            # The config vouches for it (e.g. headcount, which often sets the price): kept, and said so.
            vouched.append({"name": name, "reason": f"rank correlation {rho:.2f} with LTV or ARR; kept: the "
                            "config marks it stage: pre_sale"})
            continue
        allowed.remove(name)
        excluded[name] = f"a revenue proxy: rank correlation {rho:.2f} with LTV or ARR"
    # A rulebook output computed from a revenue proxy is that proxy again, coarser.
    for name in list(allowed):
        if name not in fields and inputs_of(book, name) & set(excluded):
            allowed.remove(name)
            excluded[name] = "computed from a revenue proxy"
    # Fields first: a rulebook output that repeats a field's split is the less direct name for it.
    allowed.sort(key=lambda n: n not in fields)
    return allowed, [{"name": n, "reason": r} for n, r in excluded.items()] + vouched


def _proxy_correlation(work: pl.DataFrame, name: str, outcomes: list[str], kind: FieldType) -> float | None:
    if kind not in (*NUMERIC, FieldType.BOOLEAN) or not outcomes:
        return None
    column = pl.col(name).cast(pl.Float64)
    row = work.select([pl.corr(column, pl.col(o).cast(pl.Float64), method="spearman").alias(o)
                       for o in outcomes]).row(0)
    found = [v for v in row if v is not None and math.isfinite(v)]
    return max(found, key=abs) if found else None


# -- candidate conditions ---------------------------------------------------------------


def _quote(value: str) -> str | None:
    if "'" not in value and "\\" not in value:
        return f"'{value}'"
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    return None


def _nice(value: float) -> float:
    """Two significant figures: thresholds people can read and argue about."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    digits = 1 - math.floor(math.log10(abs(value)))
    return round(value, digits)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _conditions(project: Project, train: pl.DataFrame, allowed: list[str],
                top: Mask) -> tuple[list[Condition], list[dict[str, str]]]:
    found: list[Condition] = []
    skipped: list[dict[str, str]] = []
    decisions = {d.name: d for d in project.book.decisions}
    for name in allowed:
        kind = project.book.kinds[name]
        if name in decisions and decisions[name].hit in ("collect",):
            continue
        if kind in NUMERIC:
            found += _numeric(name, train[name].cast(pl.Float64).to_numpy())
        elif kind == FieldType.BOOLEAN:
            values = train[name].fill_null(value=False).to_numpy().astype(bool)
            found += [Condition(name, name, values), Condition(f"not {name}", name, ~values & train[name]
                                                                 .is_not_null().to_numpy())]
        elif kind == FieldType.STRING:
            conditions, reason = _text(name, train[name], top)
            found += conditions
            if reason:
                skipped.append({"name": name, "reason": reason})
    unique: dict[bytes, Condition] = {}
    for condition in found:
        unique.setdefault(np.packbits(condition.holds).tobytes(), condition)
    return list(unique.values()), skipped


def _numeric(name: str, values: npt.NDArray[np.float64]) -> list[Condition]:
    known = values[~np.isnan(values)]
    if np.unique(known).size < 2:
        return []
    cuts = sorted({_nice(float(c)) for c in np.quantile(known, QUANTILES)} - {_nice(float(known.min()))})
    with np.errstate(invalid="ignore"):
        above = {c: values >= c for c in cuts}
        below = {c: values < c for c in cuts}
    found = [Condition(f"{name} >= {_number(c)}", name, above[c]) for c in cuts]
    found += [Condition(f"{name} < {_number(c)}", name, below[c]) for c in cuts]
    found += [Condition(f"({name} >= {_number(low)} and {name} < {_number(high)})", name, above[low] & below[high])
              for i, low in enumerate(cuts) for high in cuts[i + 1:]]
    return found


def _text(name: str, column: pl.Series, top: Mask) -> tuple[list[Condition], str | None]:
    """Single values and `in` lists (values ordered by their top-quintile rate); frequent values only when many."""
    counts = column.drop_nulls().value_counts(sort=True)
    values, sizes = counts[name].to_list(), counts["count"].to_numpy()
    if not values:
        return [], None
    reason = None
    if len(values) > MAX_VALUES:
        keep = sizes >= max(2, FREQUENT_SHARE * column.len())
        if sizes[keep].sum() < MIN_FREQUENT_COVERAGE * column.len():
            return [], f"text with {len(values):,} mostly rare values (names, ids): no profile"
        values = [v for v, k in zip(values, keep, strict=True) if k][:MAX_VALUES]
        reason = f"{len(counts):,} distinct values grouped to the {len(values)} most frequent"
    text = column.to_numpy()
    masks = {v: text == v for v in values if _quote(str(v)) is not None}
    rates = {v: float(top[mask].mean()) for v, mask in masks.items() if mask.any()}
    ranked = sorted(rates, key=lambda v: -rates[v])
    found = [Condition(f"{name} == {_quote(str(v))}", name, masks[v]) for v in ranked]
    held = np.zeros(len(text), dtype=bool)
    for size, value in enumerate(ranked[:MAX_IN_LIST], start=1):
        held = held | masks[value]
        if 2 <= size < len(ranked):
            listed = ", ".join(str(_quote(str(v))) for v in ranked[:size])
            found.append(Condition(f"{name} in [{listed}]", name, held.copy()))
    return found, reason


# -- the search -----------------------------------------------------------------------------


def _quality(matrix: Mask, top: Mask) -> npt.NDArray[np.float64]:
    """Weighted relative accuracy of each row of `matrix`: (matched/n) * (precision - base rate)."""
    n = top.size
    matched = matrix.sum(axis=1)
    top_matched = (matrix & top).sum(axis=1)
    result: npt.NDArray[np.float64] = (top_matched - matched * top.mean()) / n
    return result


def beam_search(conditions: list[Condition], top: Mask, minimum: int) -> Conjunction | None:
    """The best conjunction of up to MAX_TERMS conditions on distinct names, by weighted relative accuracy.

    Args:
        conditions: The candidate conditions.
        top: Whether each search row is in the top LTV quintile.
        minimum: The fewest accounts a conjunction must match.
    """
    matrix = np.vstack([c.holds for c in conditions])
    beam = [Conjunction((), np.ones(top.size, dtype=bool), 0.0)]
    best: Conjunction | None = None
    for _ in range(MAX_TERMS):
        options: list[Conjunction] = []
        for item in beam:
            combined = matrix & item.holds
            quality = _quality(combined, top)
            quality[combined.sum(axis=1) < minimum] = -np.inf
            used = {t.field for t in item.terms}
            for i in np.argsort(-quality)[: BEAM_WIDTH * 4]:
                if quality[i] <= item.quality or conditions[i].field in used:
                    continue
                options.append(Conjunction((*item.terms, conditions[i]), combined[i], float(quality[i])))
        if not options:
            break
        options.sort(key=lambda c: (-c.quality, len(c.when)))
        beam = list({tuple(sorted(t.when for t in c.terms)): c for c in options}.values())[:BEAM_WIDTH]
        if best is None or beam[0].quality > best.quality:
            best = beam[0]
    return best if best is not None and best.quality > 0 else None


def _signals(conditions: list[Condition], top: Mask, minimum: int) -> list[Condition]:
    """The best single conditions, one per name: the reasons an account looks like the ICP."""
    matrix = np.vstack([c.holds for c in conditions])
    quality = _quality(matrix, top)
    quality[matrix.sum(axis=1) < minimum] = -np.inf
    chosen: list[Condition] = []
    for i in np.argsort(-quality):
        if quality[i] <= 0 or len(chosen) == MAX_SIGNALS:
            break
        if all(c.field != conditions[i].field for c in chosen):
            chosen.append(conditions[i])
    return chosen

