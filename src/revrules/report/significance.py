"""Are the segments real? Each decision's values tested on LTV and churn, and the LTV quintile profile."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from revrules.engine.definitions import Decision, Rulebook
from revrules.report.kpis import NUMERIC, Measures, depends_on, inputs_of, label, ltv_quintile, ordered_values
from revrules.report.stats import (
    ALPHA,
    NEGLIGIBLE_DELTA,
    Omnibus,
    PairTest,
    holm,
    kruskal_wallis,
    mann_whitney,
    proportions,
    two_proportions,
)

MIN_GROUP = 3
"""Groups smaller than this are left out of the statistical tests."""
PROFILE_DIMENSIONS = ("segment", "vertical", "region", "usage_level", "icp_tier", "nps_category", "country_code")


@dataclass(frozen=True)
class Outcome:
    """An outcome the segments are tested on: its report key, frame column, label, and the name it is read from."""

    metric: str
    column: str
    title: str
    source: str
    binary: bool


def test_decision(frame: pl.DataFrame, book: Rulebook, decision: Decision, m: Measures) -> dict[str, Any]:
    """LTV (continuous: rank tests) and churn (binary: proportion tests) across one decision's values."""
    outcomes = []
    if m.ltv:
        outcomes.append(Outcome("ltv", m.ltv, "LTV", m.ltv, binary=False))
    if m.churn and m.churn_source:
        outcomes.append(Outcome("churn", m.churn, m.churn_label, m.churn_source, binary=True))
    metrics = [_metric(frame, book, decision, outcome) for outcome in outcomes]
    return {"decision": decision.name, "metrics": metrics}


def _circular(book: Rulebook, decision: Decision, source: str) -> str | None:
    """Why testing `decision` against the outcome read from `source` would only restate how it was built."""
    if decision.name == source:
        return f"{source} is the outcome itself"
    if decision.name in depends_on(book, source):
        return f"{decision.name} is computed from {source}"
    if source in book.fields:
        return None
    # The outcome is itself a rulebook output (a proxy): a decision reading the same inputs
    # is partly the proxy's own definition.
    shared = sorted(inputs_of(book, decision.name) & inputs_of(book, source))
    if shared:
        return f"{decision.name} and the proxy {source} both read {', '.join(shared)}"
    return None


def _groups(frame: pl.DataFrame, decision: Decision, column: str) -> dict[str, np.ndarray]:
    values = frame.select(pl.col(decision.name), pl.col(column).cast(pl.Float64)).drop_nulls(column)
    parts = values.partition_by(decision.name, as_dict=True, include_key=False)
    return {label(key[0]): part[column].to_numpy() for key, part in parts.items()}


def _metric(frame: pl.DataFrame, book: Rulebook, decision: Decision, outcome: Outcome) -> dict[str, Any]:
    metric, title, binary = outcome.metric, outcome.title, outcome.binary
    base: dict[str, Any] = {"metric": metric, "label": title, "kind": "binary" if binary else "continuous",
                            "delta_threshold": None if binary else NEGLIGIBLE_DELTA}
    circular = _circular(book, decision, outcome.source)
    if circular:
        return {**base, "circular": circular, "verdict": f"not tested: circular ({circular})", "pairs": [],
                "groups": {}, "too_small": []}
    groups = _groups(frame, decision, outcome.column)
    order = ordered_values(decision, list(groups))
    tested = [v for v in order if len(groups[v]) >= MIN_GROUP]
    too_small = [v for v in order if len(groups[v]) < MIN_GROUP]
    if binary:
        events = {v: int(groups[v].sum()) for v in tested}
        omnibus = proportions([events[v] for v in tested], [len(groups[v]) for v in tested])
        centre = {v: events[v] / len(groups[v]) for v in tested}
        pairs = [(a, b, two_proportions(events[a], len(groups[a]), events[b], len(groups[b])))
                 for a, b in itertools.combinations(tested, 2)]
    else:
        omnibus = kruskal_wallis([groups[v] for v in tested])
        centre = {v: float(np.median(groups[v])) for v in tested}
        pairs = [(a, b, mann_whitney(groups[a], groups[b])) for a, b in itertools.combinations(tested, 2)]
    adjusted = holm([t.p for _, _, t in pairs])
    sizes = {v: len(groups[v]) for v in tested}
    rows = [_pair((a, b), sizes, centre, test, p, binary=binary)
            for (a, b, test), p in zip(pairs, adjusted, strict=True)]
    return {**base, "circular": None, "verdict": _verdict(decision, title, tested, omnibus),
            "groups": {v: len(groups[v]) for v in tested}, "too_small": too_small, "centre": centre,
            "centre_name": "rate" if binary else "median",
            "test": omnibus.method, "statistic": omnibus.statistic, "df": omnibus.df, "p": omnibus.p,
            "effect": omnibus.effect, "effect_name": "Cramér's V" if binary else "epsilon-squared",
            "effect_words": _effect_words(omnibus.effect, binary=binary), "n": omnibus.n,
            "pairs": rows, "indistinguishable": [[r["a"], r["b"]] for r in rows if not r["distinguishable"]]}


def _pair(pair: tuple[str, str], sizes: dict[str, int], centre: dict[str, float], test: PairTest,
          p_adjusted: float, *, binary: bool) -> dict[str, Any]:
    a, b = pair
    row: dict[str, Any] = {"a": a, "b": b, "n_a": sizes[a], "n_b": sizes[b], "value_a": centre[a], "value_b": centre[b],
                           "method": test.method, "statistic": test.statistic, "p": test.p,
                           "p_adjusted": p_adjusted}
    significant = p_adjusted < ALPHA
    if binary:
        high, low = max(centre[a], centre[b]), min(centre[a], centre[b])
        # On 0/1 data Cliff's delta is just the risk difference, small whenever rates are low;
        # a rare outcome three times as frequent is a large difference, so size is relative.
        size = 1 - low / high if high else 0.0
        row.update(risk_difference=test.risk_difference, risk_ratio=test.risk_ratio, size=size,
                   distinguishable=significant)
    else:
        delta = test.cliffs_delta or 0.0
        row.update(cliffs_delta=delta, size=abs(delta),
                   distinguishable=significant and abs(delta) >= NEGLIGIBLE_DELTA)
    return row


def _verdict(decision: Decision, title: str, tested: Sequence[str], omnibus: Omnibus) -> str:
    if len(tested) < 2:
        return f"not testable: fewer than two {decision.name} values with {MIN_GROUP}+ accounts with a value"
    if omnibus.p >= ALPHA:
        return f"not distinguishable: no evidence that {decision.name} values differ in {title}"
    return f"different ({_effect_words(omnibus.effect, binary=omnibus.method == 'chi-square')} effect)"


def _effect_words(effect: float, *, binary: bool) -> str:
    # Epsilon-squared shares the usual eta-squared bands; Cramér's V uses Cohen's w bands.
    bands = (0.1, 0.3, 0.5) if binary else (0.01, 0.06, 0.14)
    if effect < bands[0]:
        return "negligible"
    if effect < bands[1]:
        return "small"
    if effect < bands[2]:
        return "moderate"
    return "large"


# -- value: the LTV quintile profile -------------------------------------------------


def value_profile(frame: pl.DataFrame, book: Rulebook, m: Measures,
                  decisions: Sequence[Decision]) -> dict[str, Any] | None:
    """Who the top LTV quintile is, against the bottom one and everyone: shares per value, medians per number."""
    if m.ltv is None:
        return None
    tainted = depends_on(book, m.ltv)
    work = frame.with_columns(ltv_quintile(frame, m.ltv).alias("__q")).filter(pl.col("__q").is_not_null())
    top, bottom = work.filter(pl.col("__q") == 5), work.filter(pl.col("__q") == 1)
    names = [d.name for d in decisions if d.name not in tainted]
    dimensions = [n for n in PROFILE_DIMENSIONS if n in names] or names[:5]
    profile = []
    for name in dimensions:
        shares = {key: _shares(part, name) for key, part in (("top", top), ("bottom", bottom), ("all", work))}
        values = sorted(set(shares["top"]) | set(shares["bottom"]),
                        key=lambda v: -(shares["top"].get(v, 0.0) + shares["bottom"].get(v, 0.0)))
        profile.append({"dimension": name, "values": [
            {"value": v, "top": shares["top"].get(v, 0.0), "bottom": shares["bottom"].get(v, 0.0),
             "all": shares["all"].get(v, 0.0),
             "lift": shares["top"].get(v, 0.0) / shares["all"][v] if shares["all"].get(v) else None}
            for v in values]})
    decided = {d.name for d in book.decisions}
    numeric_names = [n for n, kind in book.kinds.items()
                     if kind in NUMERIC and n not in tainted and n in frame.columns and n not in decided]
    medians = [part.select(pl.col(numeric_names).median()).row(0) if part.height and numeric_names
               else (None,) * len(numeric_names) for part in (top, bottom, work)]
    numeric = [{"field": n, "top": medians[0][i], "bottom": medians[1][i], "all": medians[2][i]}
               for i, n in enumerate(numeric_names) if any(part[i] is not None for part in medians)]
    with_ltv = work.height
    return {
        "ltv": m.ltv, "with_ltv": with_ltv, "without_ltv": frame.height - with_ltv,
        "top_count": top.height, "bottom_count": bottom.height,
        # Ties share the lower bucket, so "the top quintile" can hold fewer (or more) than 20%.
        "top_share": top.height / with_ltv if with_ltv else None,
        "bottom_share": bottom.height / with_ltv if with_ltv else None,
        "top_min_ltv": top[m.ltv].min() if top.height else None,
        "bottom_max_ltv": bottom[m.ltv].max() if bottom.height else None,
        "top_ltv_share": _share(float(top[m.ltv].sum()), float(work[m.ltv].sum())) if with_ltv else None,
        "dimensions": profile, "numeric": numeric,
    }


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _shares(part: pl.DataFrame, column: str) -> dict[str, float]:
    if not part.height:
        return {}
    counts = part.group_by(column).len()
    return {label(v): n / part.height for v, n in counts.iter_rows()}
