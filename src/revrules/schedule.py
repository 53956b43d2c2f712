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

from revrules import shutdown
from revrules.config import Config, JobModel, ScheduleModel
from revrules.errors import InvalidInputError, Problem
from revrules.ledger import Run

log = logging.getLogger(__name__)

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
SKIPPED = "skipped"
"""The outcome of a scheduled job that found another run holding the lock."""


class CronError(ValueError):
    """A cron expression revrules cannot run as written."""


def _day(token: str, *, end: bool = False) -> int:
    """A cron weekday (0 or 7 = Sunday, or a name) as 0..7; a name `sun` ending a range is 7."""
    text = token.strip().lower()
    if text.isdigit():
        number = int(text)
        if number > 7:
            raise CronError(f"day of week {token} is out of range (0-7, where 0 and 7 are Sunday)")
        return number
    if text[:3] in _DAYS and text in (text[:3], _full_name(text[:3])):
        index = _DAYS.index(text[:3])
        return 7 if end and index == 0 else index
    raise CronError(f"'{token}' is not a day of week (0-7 or sun..sat)")


def _full_name(short: str) -> str:
    return {"sun": "sunday", "mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday",
            "fri": "friday", "sat": "saturday"}[short]


def weekdays(field: str) -> str:
    """A cron day-of-week field as APScheduler day names (APScheduler's own numbers start at Monday)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"'{part}': the step must be a positive number")
            step = int(step_text)
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _day(first), _day(last, end=True)
        else:
            low = _day(base)
            high = 6 if slash else low
        if low > high:
            raise CronError(f"'{part}': the range runs backwards")
        days |= {day % 7 for day in range(low, high + 1, step)}
    return ",".join(_DAYS[day] for day in sorted(days))


def cron_trigger(expression: str, timezone: str) -> Any:
    """An APScheduler `CronTrigger` for a 5-field cron expression, with cron's weekday numbers.

    `0` and `7` are Sunday, as in cron (APScheduler 3's `from_crontab` counts 0 as Monday).
    Day of month and day of week may not both be restricted: cron runs when either
    matches, APScheduler only when both do, so such a schedule would silently differ.

    Raises:
        CronError: The expression or time zone is not valid.
    """
    from apscheduler.triggers.cron import CronTrigger

    text = _MACROS.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"'{expression}' needs 5 fields (minute hour day-of-month month day-of-week), "
                        f"not {len(fields)}")
    minute, hour, day, month, day_of_week = fields
    if day not in ("*", "?") and day_of_week not in ("*", "?"):
        raise CronError(f"'{expression}' restricts both the day of month and the day of week; cron runs when "
                        "either matches but APScheduler when both do; set one of them to *")
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone '{timezone}'") from None
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays(day_of_week),
                           timezone=zone)
    except ValueError as exc:
        raise CronError(f"'{expression}': {exc}") from None


def grace_seconds(job: JobModel, settings: ScheduleModel) -> int:
    """How late the job may still start."""
    return job.misfire_grace_seconds or settings.misfire_grace_seconds


def missed_slot(trigger: Any, last_run: dt.datetime | None, now: dt.datetime, grace: float) -> dt.datetime | None:
    """The slot to catch up on after downtime: the latest one since `last_run`, if within the grace.

    Several missed slots give one run (coalesced); slots older than the grace give none.
    With no `last_run` there is nothing known to have been missed.
    """
    if last_run is None:
        return None
    window_start = max(last_run + dt.timedelta(microseconds=1), now - dt.timedelta(seconds=grace))
    slot: dt.datetime | None = trigger.get_next_fire_time(None, window_start)
    latest = None
    while slot is not None and slot <= now:
        latest = slot
        slot = trigger.get_next_fire_time(slot, slot)
    return latest


@dataclass(frozen=True)
class JobOutcome:
    """How one scheduled run ended."""

    outcome: str
    message: str | None = None
    run_id: int | None = None


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
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(data, indent=2, default=str))
            temporary.replace(self.path)


Runner = Callable[[JobModel], JobOutcome]
Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def triggers(config: Config) -> dict[str, Any]:
    """Job id -> trigger for every configured job, or every problem at once."""
    settings = config.model.schedule or ScheduleModel()
    found: dict[str, Any] = {}
    problems: list[Problem] = []
    for index, job in enumerate(settings.jobs):
        try:
            found[job.id] = cron_trigger(job.cron, settings.timezone)
        except CronError as exc:
            problems.append(config.problem(("schedule", "jobs", index, "cron"), str(exc)))
    if problems:
        raise InvalidInputError(problems)
    return found


class Scheduler:
    """Runs the configured jobs until a stop signal; never dies on a job's exception."""

    def __init__(self, config: Config, runner: Runner, *, clock: Clock = _utc_now) -> None:
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
            log.exception("job %s failed: %s", job.id, exc)
            outcome = JobOutcome("error", f"{type(exc).__name__}: {exc}")
        finally:
            self._idle.set()
        self.state.update(job.id, last_finished=self.clock().isoformat(), **asdict(outcome))
        log.info("job %s %s%s in %.1fs", job.id, outcome.outcome,
                 f": {outcome.message}" if outcome.message else "", time.monotonic() - started)
        return outcome

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

    def next_runs(self) -> dict[str, dt.datetime | None]:
        """Each job's next run time as the scheduler sees it."""
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def run(self, *, stop_timeout: float = 25.0) -> int:
        """Run in the foreground until SIGTERM/SIGINT; a job in flight finishes its batch first."""
        scheduler = self.start()

        def stop() -> None:
            scheduler.shutdown(wait=False)

        shutdown.install(on_stop=stop)
        for job in scheduler.get_jobs():
            log.info("job %s (%s): next run at %s", job.id, job.trigger, job.next_run_time)
        scheduler.start()
        if not self._idle.wait(stop_timeout):
            log.warning("the job in flight did not stop within %.0f s; exiting anyway", stop_timeout)
            os._exit(0)
        log.info("scheduler stopped")
        return 0


def summary_line(run: Run) -> str:
    """One line saying how a run ended, e.g. `run 12 apply succeeded: read 5,000, written 120, ...`."""
    took = ""
    if run.finished_at:
        seconds = (dt.datetime.fromisoformat(run.finished_at) - dt.datetime.fromisoformat(run.started_at))
        took = f" in {seconds.total_seconds():.1f}s"
    return (f"run {run.id} {run.command} {run.status}: read {run.records_read:,}, written {run.written:,}, "
            f"failed {run.failed:,}, skipped {run.skipped:,}{took}")


def job_status(config: Config, runs: dict[int, Run], *, clock: Clock = _utc_now) -> list[dict[str, Any]]:
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
