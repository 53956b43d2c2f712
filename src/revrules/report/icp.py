"""A data-driven ICP for `revrules report --suggest-icp`: conditions over-represented in the top LTV quintile.

Candidates are scored by weighted relative accuracy (coverage x (precision - base rate)),
the usual subgroup-discovery quality: it prefers conditions that are both common and
concentrated in the top quintile. The proposal is written as a rulebook, loaded through
the engine with the project's own rulebooks and field types, and evaluated: the lift and
support reported are the engine's, so what is pasted is what was measured.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from revrules.engine.convert import FieldType
from revrules.engine.rulebook import load_rulebook
from revrules.errors import InvalidInputError
from revrules.project import Project
from revrules.report.kpis import ARR_NAMES, MRR_NAMES, NUMERIC, depends_on, ltv_quintile

MAX_CATEGORIES = 30
MAX_SIGNALS = 8
MAX_TERMS = 3
MIN_LIFT = 1.2
THRESHOLDS = (0.2, 0.4, 0.5, 0.6, 0.8)


@dataclass(frozen=True)
class Candidate:
    """One condition in rulebook syntax and the name it reads."""

    when: str
    symbol: str
    holds: pl.Expr


@dataclass(frozen=True)
class Score:
    """How a condition separates the top quintile: counts and the derived rates."""

    matched: int
    top_matched: int
    population: int
    top: int

    @property
    def support(self) -> float:
        """Share of the top quintile the condition covers."""
        return self.top_matched / self.top if self.top else 0.0

    @property
    def precision(self) -> float:
        """Share of matching accounts that are in the top quintile."""
        return self.top_matched / self.matched if self.matched else 0.0

    @property
    def lift(self) -> float:
        """Precision over the base rate of the top quintile."""
        base = self.top / self.population if self.population else 0.0
        return self.precision / base if base else 0.0

    @property
    def quality(self) -> float:
        """Weighted relative accuracy: (matched/population) * (precision - base rate)."""
        if not self.population:
            return 0.0
        return (self.top_matched - self.matched * self.top / self.population) / self.population

    def to_json(self) -> dict[str, Any]:
        """The score as plain data."""
        return {"matched": self.matched, "top_matched": self.top_matched, "support": self.support,
                "precision": self.precision, "lift": self.lift}


def suggest_icp(project: Project, frame: pl.DataFrame, typed: pl.DataFrame, ltv: str | None,
                tainted: set[str]) -> dict[str, Any]:
    """Propose ICP conditions and prove them through the engine.

    Args:
        project: The loaded project.
        frame: The evaluated records.
        typed: The typed records before evaluation (to evaluate the proposal with the engine).
        ltv: The LTV column, or None (nothing to suggest).
        tainted: Names computed from LTV; conditions on them would be circular.
    """
    if ltv is None:
        return {"error": "no LTV field (ltv / lifetime_value / clv): nothing to learn an ICP from"}
    work = frame.with_columns(ltv_quintile(frame, ltv).alias("__q")).filter(pl.col("__q").is_not_null())
    work = work.with_columns((pl.col("__q") == 5).alias("__top"))
    if work.height < 10 or not work["__top"].sum():
        return {"error": f"too few accounts with an LTV ({work.height}) to suggest an ICP"}
    # Revenue is the outcome LTV is made of, and a prospect has none: an ICP must be
    # recognisable before the sale, so revenue fields and what derives from them are left out.
    outcome: set[str] = set(tainted)
    for name in (*ARR_NAMES, *MRR_NAMES):
        if name in project.book.kinds:
            outcome |= depends_on(project.book, name)
    candidates = _candidates(project, work, outcome)
    scores = _score(work, [c.holds for c in candidates])
    ranked = sorted(((c, s) for c, s in zip(candidates, scores, strict=True)
                     if s.lift >= MIN_LIFT and s.matched >= max(5, work.height // 50)),
                    key=lambda cs: -cs[1].quality)
    signals: list[tuple[Candidate, Score]] = []
    for candidate, score in ranked:
        if all(c.symbol != candidate.symbol for c, _ in signals) and not _redundant(work, candidate, signals):
            signals.append((candidate, score))
        if len(signals) == MAX_SIGNALS:
            break
    if not signals:
        return {"error": "no condition is over-represented in the top LTV quintile (lift >= 1.2)"}
    combined = _greedy(work, [c for c, _ in ranked])
    names = _free_names(project)
    text = _rulebook_text(names, combined, [c.when for c, _ in signals], work.height, ltv)
    try:
        measured = _measure(project, typed, text, names, ltv)
    except InvalidInputError as exc:
        return {"error": f"the proposal did not compile: {exc}", "yaml": text}
    return {
        "population": work.height, "top": int(work["__top"].sum()), "ltv": ltv,
        "combined": {"when": " and ".join(combined), **measured["combined"]},
        "signals": [{"when": c.when, **m} for (c, _), m in zip(signals, measured["signals"], strict=True)],
        "decisions": {"combined": names[0], "signals": names[1]}, "yaml": text, "compiled": True,
    }


# -- candidates ------------------------------------------------------------------


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


def _candidates(project: Project, work: pl.DataFrame, tainted: set[str]) -> list[Candidate]:
    book = project.book
    decisions = {d.name: d for d in book.decisions}
    found: list[Candidate] = []
    for name, kind in book.kinds.items():
        if name in tainted or name not in work.columns or name.startswith("__"):
            continue
        column = pl.col(name)
        if kind == FieldType.STRING and (name not in decisions or decisions[name].hit in ("first", "unique")):
            values = work[name].drop_nulls().unique()
            if values.len() > MAX_CATEGORIES:
                continue  # names, websites, ids: not a profile
            for value in sorted(values.to_list()):
                quoted = _quote(str(value))
                if quoted is not None:
                    found.append(Candidate(f"{name} == {quoted}", name, (column == value).fill_null(False)))
        elif kind == FieldType.BOOLEAN:
            found.append(Candidate(name, name, column.fill_null(False)))
            found.append(Candidate(f"not {name}", name, (~column).fill_null(False)))
        elif kind in NUMERIC and (name not in decisions or decisions[name].hit == "sum"):
            values = work[name].drop_nulls()
            if values.n_unique() < 2:
                continue
            for cut in sorted({_nice(float(values.quantile(q) or 0)) for q in THRESHOLDS}):
                text = _number(cut)
                found.append(Candidate(f"{name} >= {text}", name, (column >= cut).fill_null(False)))
                found.append(Candidate(f"{name} < {text}", name, (column < cut).fill_null(False)))
    return found


def _score(work: pl.DataFrame, holds: Sequence[pl.Expr]) -> list[Score]:
    if not holds:
        return []
    top = pl.col("__top")
    row = work.select(
        [h.sum().alias(f"m{i}") for i, h in enumerate(holds)]
        + [(h & top).sum().alias(f"t{i}") for i, h in enumerate(holds)]
    ).row(0)
    n, tops = work.height, int(work["__top"].sum())
    return [Score(int(row[i]), int(row[len(holds) + i]), n, tops) for i in range(len(holds))]


def _redundant(work: pl.DataFrame, candidate: Candidate, chosen: list[tuple[Candidate, Score]]) -> bool:
    """True when the candidate matches (almost) the same accounts as a chosen one: one segment, many names."""
    if not chosen:
        return False
    row = work.select(
        [(candidate.holds != c.holds).sum().alias(str(i)) for i, (c, _) in enumerate(chosen)]).row(0)
    return any(different <= 0.02 * work.height for different in row)


def _greedy(work: pl.DataFrame, ranked: list[Candidate]) -> list[str]:
    """A conjunction built term by term, each term the one that improves the quality most."""
    chosen: list[Candidate] = [ranked[0]]
    current = _score(work, [pl.all_horizontal([c.holds for c in chosen])])[0]
    while len(chosen) < MAX_TERMS:
        options = [c for c in ranked if all(c.symbol != x.symbol for x in chosen)]
        if not options:
            break
        scores = _score(work, [pl.all_horizontal([*(x.holds for x in chosen), c.holds]) for c in options])
        best = max(range(len(options)), key=lambda i: scores[i].quality)
        if scores[best].quality <= current.quality:
            break
        chosen.append(options[best])
        current = scores[best]
    return [c.when for c in chosen]


# -- the proposal as a rulebook, proved through the engine -----------------------------


def _free_names(project: Project) -> tuple[str, str, str]:
    """Decision names and a rule-id prefix that collide with nothing in the project."""
    taken = set(project.book.kinds)
    rule_ids = {r.id for d in project.book.decisions for r in d.rules}
    suffix = ""
    counter = 1
    while {f"suggested_icp{suffix}", f"suggested_icp_signals{suffix}"} & taken or any(
            i.startswith(f"suggested-icp{suffix.replace('_', '-')}") for i in rule_ids):
        counter += 1
        suffix = f"_{counter}"
    return f"suggested_icp{suffix}", f"suggested_icp_signals{suffix}", f"suggested-icp{suffix.replace('_', '-')}"


def _rulebook_text(names: tuple[str, str, str], combined: list[str], signals: list[str], population: int,
                   ltv: str) -> str:
    fit, reasons, prefix = names
    lines = [
        f"# Suggested by `revrules report --suggest-icp` from {population:,} accounts with {ltv}:",
        "# conditions over-represented in the top 20% by lifetime value. Review them before use:",
        "# they describe who has been valuable, not why.",
        "version: 1",
        "",
        "decisions:",
        f"  {fit}:",
        "    description: Data-driven ICP (top LTV quintile profile)",
        "    hit: any",
        "    rules:",
        f"      - {{id: {prefix}, when: {json.dumps(' and '.join(combined), ensure_ascii=False)}}}",
        f"  {reasons}:",
        "    description: Which data-driven ICP signals the account shows",
        "    hit: collect",
        "    rules:",
    ]
    for i, when in enumerate(signals, 1):
        quoted = json.dumps(when, ensure_ascii=False)
        lines.append(f"      - {{id: {prefix}-signal-{i}, when: {quoted}, then: {quoted}}}")
    return "\n".join(lines) + "\n"


def _measure(project: Project, typed: pl.DataFrame, text: str, names: tuple[str, str, str],
             ltv: str) -> dict[str, Any]:
    """Load the proposal beside the project's rulebooks, evaluate it, and measure each rule."""
    with tempfile.TemporaryDirectory(prefix="revrules-icp-") as folder:
        path = Path(folder) / "suggested_icp.yaml"
        path.write_text(text, encoding="utf-8")
        book = load_rulebook([*project.config.rule_sources(), path], project.config.field_types())
    evaluated = Project(project.config, book).evaluate(typed)
    work = evaluated.with_columns(ltv_quintile(evaluated, ltv).alias("__q")).filter(pl.col("__q").is_not_null())
    work = work.with_columns((pl.col("__q") == 5).alias("__top"))
    fit, reasons, _ = names
    signal_rules = book.decision(reasons).rules
    scores = _score(work, [pl.col(fit).fill_null(False)] + [r.when.compiled.fill_null(False) for r in signal_rules])
    return {"combined": scores[0].to_json(), "signals": [s.to_json() for s in scores[1:]]}
