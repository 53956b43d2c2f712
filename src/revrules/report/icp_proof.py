"""The ICP proposal as a rulebook, loaded through the engine and measured on the held-out accounts."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from revrules.engine.convert import ID
from revrules.engine.rulebook import load_rulebook
from revrules.errors import InvalidInputError
from revrules.project import Project
from revrules.report.kpis import ltv_quintile

SPLIT_SEED = 20240611
TRAIN_SHARE = 7
BOOTSTRAP_DRAWS = 4000
CONFIDENCE = 0.95


def free_names(project: Project) -> tuple[str, str, str]:
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


def rulebook_text(project: Project, combined: str, signals: list[str], population: int,
                  ltv: str) -> tuple[str, tuple[str, str, str]]:
    """The proposal as a rulebook (a fit decision and a signals decision), and the names it uses."""
    names = free_names(project)
    fit, reasons, prefix = names
    lines = [
        f"# Suggested by `revrules report --suggest-icp` from {population:,} accounts with {ltv}:",
        "# pre-sale traits over-represented in the top LTV quintile, checked on held-out accounts.",
        "# Review them before use: they describe who has been valuable, not why.",
        "version: 1",
        "",
        "decisions:",
        f"  {fit}:",
        "    description: Data-driven ICP (top LTV quintile profile, pre-sale traits)",
        "    hit: any",
        "    rules:",
        f"      - {{id: {prefix}, when: {json.dumps(combined, ensure_ascii=False)}}}",
    ]
    if signals:
        lines += [f"  {reasons}:", "    description: Which data-driven ICP signals the account shows",
                  "    hit: collect", "    rules:"]
    for i, when in enumerate(signals, 1):
        text = json.dumps(when, ensure_ascii=False)
        lines.append(f"      - {{id: {prefix}-signal-{i}, when: {text}, then: {text}}}")
    return "\n".join(lines) + "\n", names


def measure(project: Project, typed: pl.DataFrame, text: str, names: tuple[str, str, str],
            ltv: str) -> dict[str, Any]:
    """Load the proposal beside the project's rulebooks, evaluate it, and measure each rule on both splits."""
    try:
        with tempfile.TemporaryDirectory(prefix="revrules-icp-") as folder:
            path = Path(folder) / "suggested_icp.yaml"
            path.write_text(text, encoding="utf-8")
            book = load_rulebook([*project.config.rule_sources(), path], project.config.field_types())
    except InvalidInputError as exc:
        return {"error": f"the proposal did not compile: {exc}"}
    evaluated = Project(project.config, book).evaluate(typed)
    work = evaluated.filter(pl.col(ltv).is_not_null())
    work = work.with_columns((ltv_quintile(work, ltv) == 5).alias("__top"),
                             (pl.col(ID).hash(SPLIT_SEED) % 10 < TRAIN_SHARE).alias("__train"))
    fit, reasons, _ = names
    signal_rules = [r for d in book.decisions if d.name == reasons for r in d.rules]
    holds = [pl.col(fit).fill_null(value=False)] + [r.when.compiled.fill_null(value=False) for r in signal_rules]
    matched = work.select([h.alias(f"h{i}") for i, h in enumerate(holds)])
    top, train = work["__top"].to_numpy(), work["__train"].to_numpy()
    scores: list[dict[str, Any]] = [{"when": None, "train": lift(matched[c].to_numpy()[train], top[train]),
               "holdout": lift(matched[c].to_numpy()[~train], top[~train])} for c in matched.columns]
    combined = book.decision(fit).rules[0].when.source
    for score, rule in zip(scores[1:], signal_rules, strict=True):
        score["when"] = rule.when.source
    scores[0]["when"] = combined
    return {"combined": scores[0], "signals": scores[1:]}


def lift(holds: np.ndarray, top: np.ndarray) -> dict[str, Any]:
    """Lift (precision over the base rate) with a bootstrap confidence interval over the 2 x 2 table.

    The cells (match and top, match only, top only, neither) are resampled together, so the
    interval accounts for the base rate's own noise as well as the matching accounts'.
    """
    n = int(top.size)
    a = int((holds & top).sum())
    b = int((holds & ~top).sum())
    c = int((~holds & top).sum())
    result: dict[str, Any] = {"accounts": n, "matched": a + b, "top_matched": a,
                              "support": a / (a + c) if a + c else None,
                              "precision": a / (a + b) if a + b else None, "lift": None, "ci_low": None,
                              "ci_high": None}
    if not n or not a + b or not a + c:
        return result
    result["lift"] = (a / (a + b)) / ((a + c) / n)
    rng = np.random.default_rng(SPLIT_SEED)
    draws = rng.multinomial(n, np.array([a, b, c, n - a - b - c]) / n, size=BOOTSTRAP_DRAWS).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lifts = (draws[:, 0] / (draws[:, 0] + draws[:, 1])) / ((draws[:, 0] + draws[:, 2]) / n)
    lifts = lifts[np.isfinite(lifts)]
    tail = (1 - CONFIDENCE) / 2 * 100
    result["ci_low"], result["ci_high"] = (float(v) for v in np.percentile(lifts, [tail, 100 - tail]))
    return result
