"""Incremental runs: when a run may read only what changed since the last watermark, and recording it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from revrules.config import ScheduleModel
from revrules.connectors.protocols import Connector, IncrementalRead
from revrules.project import Project
from revrules.state.ledger import Ledger
from revrules.state.watermark import FULL, INCREMENTAL, Mark, marks, save_mark


@dataclass(frozen=True)
class ReadChoice:
    """How a run reads the CRM: everything, or only what changed since `since`."""

    mode: Literal["full", "incremental"]
    reason: str
    since: dt.datetime | None
    started: dt.datetime
    """When the read began; what the next incremental run continues from (unless the connector says)."""


def settings(project: Project) -> ScheduleModel:
    """The schedule settings (defaults when the config has no `schedule:`)."""
    return project.config.model.schedule or ScheduleModel()


def whole_population_reason(project: Project) -> str | None:
    """Why this rulebook needs every record on every run, or None when a partial read is enough."""
    quantiles = [d.name for d in project.book.derives if d.quantile_of is not None]
    if quantiles:
        return f"derive '{quantiles[0]}' is a quantile over every record"
    aggregates = [d.name for d in project.book.derives if d.family is not None and d.family.how not in
                  ("parent", "ultimate")]
    if aggregates:
        # Parents are read by id when missing; a family's other members are not.
        return f"derive '{aggregates[0]}' is a value over whole families"
    if project.owner_output is not None:
        # Owner loads (capacity, balancing) count the records read; a partial read would skew them.
        return "territories route owners, and owner loads need every record"
    if project.book.lists:
        return "marketing list membership needs every record"
    return None


def choose(ledger: Ledger, project: Project, connector: Connector, *, incremental: bool,
           clock: dt.datetime | None = None) -> ReadChoice:
    """Decide how this run reads: incremental only when asked, possible and still trustworthy."""
    started = clock or dt.datetime.now(dt.UTC)

    def full(reason: str) -> ReadChoice:
        return ReadChoice(FULL, reason, None, started)

    if not incremental:
        return full("a full run")
    if not isinstance(connector, IncrementalRead):
        return full(f"the {connector.kind} connector has no modification stamps, so an incremental run reads "
                    "everything")
    whole = whole_population_reason(project)
    if whole:
        return full(whole)
    found = marks(ledger)
    if not found:
        return full("no earlier successful run to continue from")
    last_full = next((m for m in found if m.mode == FULL), None)
    if last_full is None:
        return full("no earlier full run")
    if last_full.rulebook_hash != project.book.hash:
        return full("the rulebook changed since the last full run")
    if last_full.config_hash != project.config.hash:
        return full("the config changed since the last full run")
    every = settings(project).full_every
    since_full = sum(1 for m in found if m.run_id > last_full.run_id)
    if since_full + 1 >= every:
        return full(f"every {every}th run reads everything (schedule.full_every), as formula fields change "
                    "without a new modification stamp")
    lag = dt.timedelta(seconds=settings(project).incremental_lag_seconds)
    since = found[0].watermark - lag
    return ReadChoice(INCREMENTAL, f"records modified since {since.isoformat()}", since, started)


def record(ledger: Ledger, run_id: int, project: Project, choice: ReadChoice, reached: dt.datetime | None) -> None:
    """Remember a successful run's watermark: where the read reached, else when it started."""
    mark = reached if reached is not None and choice.mode == INCREMENTAL else choice.started
    save_mark(ledger, Mark(run_id, choice.mode, mark, project.book.hash, project.config.hash), choice.since)
