"""Each scheduled job's next run and last outcome, for `revrules status`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from revrules.config import Config, ScheduleModel
from revrules.schedule.cron import grace_seconds, missed_slot, triggers
from revrules.schedule.scheduler import Clock, JobState, utc_now
from revrules.state.ledger import Run


def job_status(config: Config, runs: dict[int, Run], *, clock: Clock = utc_now) -> list[dict[str, Any]]:
    """Each job's schedule, next run and last outcome, as plain data for `revrules status`."""
    settings = config.model.schedule or ScheduleModel()
    found = triggers(config)
    state = JobState(config.state_dir / "schedule.json").load()
    now = clock()
    jobs = []
    for job in settings.jobs:
        saved = state.get(job.id, {})
        last = saved.get("last_started")
        missed = missed_slot(found[job.id], dt.datetime.fromisoformat(last) if last else None, now,
                             grace_seconds(job, settings))
        upcoming = found[job.id].get_next_fire_time(None, now)
        run = runs.get(saved["run_id"]) if isinstance(saved.get("run_id"), int) else None
        jobs.append({
            "id": job.id, "cron": job.cron, "command": job.command, "incremental": job.incremental,
            "next_run": now.isoformat() if missed else (upcoming.isoformat() if upcoming else None),
            "last_started": last, "last_finished": saved.get("last_finished"),
            "last_outcome": saved.get("outcome"), "last_message": saved.get("message"),
            "last_run": None if run is None else {
                k: getattr(run, k) for k in ("id", "status", "records_read", "written", "failed", "skipped",
                                             "started_at", "finished_at")},
        })
    return jobs
