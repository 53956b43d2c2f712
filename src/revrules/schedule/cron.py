"""Cron expressions as cron means them, as APScheduler triggers, and the slots missed during downtime."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from revrules.config import Config, JobModel, ScheduleModel
from revrules.errors import InvalidInputError, Problem

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
