"""`revrules schedule`: cron jobs run by APScheduler 3, one at a time, with catch-up after downtime."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from revrules.config import Config, JobModel, ScheduleModel
from revrules.errors import InvalidInputError
from revrules.runtime import shutdown
from revrules.schedule.cron import grace_seconds, missed_slot, triggers
from revrules.schedule.heartbeat import Heartbeat, record_path
from revrules.state.files import replace_private

log = logging.getLogger(__name__)

SKIPPED = "skipped"
"""The outcome of a scheduled job that found another run holding the lock."""
RETRIABLE = "retriable"
"""A failure the next attempt may not meet (the CRM was briefly unavailable)."""
FATAL = "fatal"
"""A failure every attempt will meet until someone fixes the config, rulebook or credentials."""


@dataclass(frozen=True)
class JobOutcome:
    """How one scheduled run ended; `failure` says whether retrying can help (RETRIABLE, FATAL or None)."""

    outcome: str
    message: str | None = None
    run_id: int | None = None
    failure: str | None = None


class JobState:
    """Each job's last start and outcome, in `state_dir/schedule.json` (survives restarts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> dict[str, dict[str, Any]]:
        """Every job's saved state."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def last_run(self, job_id: str) -> dt.datetime | None:
        """When the job last started, or None."""
        started = self.load().get(job_id, {}).get("last_started")
        return dt.datetime.fromisoformat(started) if isinstance(started, str) else None

    def update(self, job_id: str, **values: Any) -> None:
        """Merge values into one job's state, atomically."""
        with self._lock:
            data = self.load()
            data.setdefault(job_id, {}).update(values)
            replace_private(self.path, json.dumps(data, indent=2, default=str))


Runner = Callable[[JobModel], JobOutcome]
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Now, in UTC: the scheduler's default clock."""
    return dt.datetime.now(dt.UTC)


class Scheduler:
    """Runs the configured jobs until a stop signal; never dies on a job's exception."""

    def __init__(self, config: Config, runner: Runner, *, clock: Clock = utc_now) -> None:
        self.config = config
        self.settings = config.model.schedule or ScheduleModel()
        if not self.settings.jobs:
            raise InvalidInputError(f"{config.path}: schedule.jobs is empty; nothing to schedule")
        self.triggers = triggers(config)
        self.runner = runner
        self.clock = clock
        self.state = JobState(config.state_dir / "schedule.json")
        self._idle = threading.Event()
        self._idle.set()
        self._scheduler: Any = None
        self._heartbeat: Heartbeat | None = None

    def catch_up(self) -> dict[str, dt.datetime]:
        """Jobs that missed a slot while the scheduler was down (within the grace): run each once now."""
        now = self.clock()
        due: dict[str, dt.datetime] = {}
        for job in self.settings.jobs:
            trigger = self.triggers[job.id]
            last = self.state.last_run(job.id)
            grace = grace_seconds(job, self.settings)
            slot = missed_slot(trigger, last, now, grace)
            if slot is not None:
                log.info("job %s missed its run at %s while the scheduler was down; running it once now",
                         job.id, slot.isoformat())
                due[job.id] = slot
            elif last is not None:
                first_missed = trigger.get_next_fire_time(last, last)
                if first_missed is not None and first_missed <= now:
                    log.warning("job %s missed its run at %s, more than %d s ago (misfire grace); skipped",
                                job.id, first_missed.isoformat(), grace)
        return due

    def run_job(self, job: JobModel) -> JobOutcome:
        """Run one job now, recording its outcome; any exception is logged, never raised."""
        if shutdown.requested():
            return JobOutcome(SKIPPED, "stopping")
        self._idle.clear()
        started = time.monotonic()
        self.state.update(job.id, last_started=self.clock().isoformat())
        try:
            outcome = self.runner(job)
        except Exception as exc:  # the scheduler outlives any job; the next slot retries
            log.exception("job %s failed", job.id)
            outcome = JobOutcome("error", f"{type(exc).__name__}: {exc}")
        finally:
            self._idle.set()
        self.state.update(job.id, last_finished=self.clock().isoformat(), **asdict(outcome))
        self._log_outcome(job, outcome, time.monotonic() - started)
        if self._heartbeat is not None:
            self._heartbeat.beat()
        return outcome

    def _log_outcome(self, job: JobModel, outcome: JobOutcome, seconds: float) -> None:
        """One line per finished job; a failure says what happens next or what to fix."""
        # Multi-line messages (several config problems) stay one log line: one line per event.
        message = "; ".join((outcome.message or "").splitlines())
        if outcome.failure == FATAL:
            log.error("job %s failed and will fail at every slot until this is fixed: %s", job.id, message)
        elif outcome.failure == RETRIABLE:
            upcoming = self.triggers[job.id].get_next_fire_time(None, self.clock())
            when = upcoming.isoformat() if upcoming is not None else "never (no further slot)"
            log.warning("job %s failed on a transient error: %s; next attempt at %s", job.id, message, when)
        else:
            log.info("job %s %s%s in %.1fs", job.id, outcome.outcome, f": {message}" if message else "", seconds)

    def start(self) -> Any:
        """Build the APScheduler scheduler with every job; returns it (not started)."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        # One worker: jobs of this process run one after another; the run lock guards other processes.
        scheduler = BlockingScheduler(executors={"default": ThreadPoolExecutor(1)},
                                      timezone=zoneinfo.ZoneInfo(self.settings.timezone))
        due = self.catch_up()
        for job in self.settings.jobs:
            options: dict[str, Any] = {}
            if job.id in due:
                options["next_run_time"] = self.clock()
            scheduler.add_job(self.run_job, self.triggers[job.id], args=[job], id=job.id, name=job.id,
                              coalesce=True, max_instances=1, misfire_grace_time=grace_seconds(job, self.settings),
                              **options)
        self._scheduler = scheduler
        return scheduler

    def next_runs(self) -> dict[str, str | None]:
        """Each job's next run time (ISO 8601) as the scheduler sees it; none before it has started."""
        if self._scheduler is None or not self._scheduler.running:
            return {}
        # APScheduler 3 gives a job `next_run_time` only once a running scheduler holds it.
        times = {job.id: getattr(job, "next_run_time", None) for job in self._scheduler.get_jobs()}
        return {job_id: when.astimezone(dt.UTC).isoformat() if when else None for job_id, when in times.items()}

    def _started(self, _event: object) -> None:
        """Once APScheduler has started: say when each job runs next, and start the heartbeat."""
        for job_id, when in self.next_runs().items():
            log.info("job %s: next run at %s", job_id, when or "never (no further slot)")
        if self._heartbeat is not None:
            self._heartbeat.start()

    def run(self, *, stop_timeout: float = 25.0) -> int:
        """Run in the foreground until SIGTERM/SIGINT; a job in flight finishes its batch first."""
        from apscheduler.events import EVENT_SCHEDULER_STARTED

        scheduler = self.start()
        self._heartbeat = Heartbeat(record_path(self.config.state_dir), self.next_runs, self.clock)

        def stop() -> None:
            # Runs inside the signal handler, which may have interrupted this very thread while it held
            # one of APScheduler's or threading's non-reentrant locks: shut down from another thread.
            threading.Thread(target=scheduler.shutdown, kwargs={"wait": False}, name="revrules-stop").start()

        shutdown.install(on_stop=stop)
        scheduler.add_listener(self._started, EVENT_SCHEDULER_STARTED)
        log.info("scheduler started (pid %d) with %d job(s)",
                 os.getpid(), len(self.settings.jobs))
        try:
            scheduler.start()
            if not self._idle.wait(stop_timeout):
                log.warning("the job in flight did not stop within %.0f s; exiting anyway", stop_timeout)
                self._heartbeat.stop()
                os._exit(0)
        finally:
            self._heartbeat.stop()
        log.info("scheduler stopped")
        return 0
