"""Each scheduled job's next run and last outcome, for `revrules status`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from revrules.config import Config, ScheduleModel
from revrules.schedule.cron import grace_seconds, missed_slot, triggers
from revrules.schedule.heartbeat import scheduler_state
from revrules.schedule.scheduler import Clock, JobState, utc_now
from revrules.state.ledger import Run


def scheduler_status(config: Config, *, clock: Clock = utc_now) -> dict[str, Any]:
    """Whether a scheduler is running for this project: pid, start time, last heartbeat, next runs."""
    return scheduler_state(config.state_dir, clock())


def job_status(config: Config, runs: dict[int, Run], *, clock: Clock = utc_now,
               scheduled: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each job's schedule, next run and last outcome, as plain data for `revrules status`.

    Args:
        config: The loaded config.
        runs: The ledger's runs by id.
        clock: Now.
        scheduled: What `scheduler_status` found: a running scheduler's own next runs win over
            the ones computed here from the cron expressions.
    """
    settings = config.model.schedule or ScheduleModel()
    found = triggers(config)
    state = JobState(config.state_dir / "schedule.json").load()
    now = clock()
    live = (scheduled or {}).get("next_runs") if (scheduled or {}).get("running") else None
    jobs = []
    for job in settings.jobs:
        saved = state.get(job.id, {})
        last = saved.get("last_started")
        missed = missed_slot(found[job.id], dt.datetime.fromisoformat(last) if last else None, now,
                             grace_seconds(job, settings))
        upcoming = found[job.id].get_next_fire_time(None, now)
        run = runs.get(saved["run_id"]) if isinstance(saved.get("run_id"), int) else None
        next_run = now.isoformat() if missed else (upcoming.isoformat() if upcoming else None)
        if live and job.id in live:
            next_run = live[job.id]
        jobs.append({
            "id": job.id, "cron": job.cron, "command": job.command, "incremental": job.incremental,
            "next_run": next_run,
            "last_started": last, "last_finished": saved.get("last_finished"),
            "last_outcome": saved.get("outcome"), "last_message": saved.get("message"),
            "last_run": None if run is None else {
                k: getattr(run, k) for k in ("id", "status", "records_read", "written", "failed", "skipped",
                                             "started_at", "finished_at")},
        })
    return jobs
