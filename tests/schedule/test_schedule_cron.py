"""Cron expressions as cron means them, and catching up once after downtime."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from revrules.config import JobModel, load_config
from revrules.errors import InvalidInputError
from revrules.schedule.cron import CronError, cron_trigger, missed_slot, triggers
from revrules.schedule.scheduler import JobOutcome, Scheduler
from tests.schedule.projects import write_project

MONDAY = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # a Monday


def next_fire(expression: str, after: dt.datetime = MONDAY, zone: str = "UTC") -> dt.datetime:
    fire: dt.datetime = cron_trigger(expression, zone).get_next_fire_time(None, after)
    return fire


@pytest.mark.parametrize("expression", ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun", "0 9 * * SUN", "0 9 * * sunday"])
def test_weekday_zero_and_seven_and_sun_are_sunday(expression: str) -> None:
    assert next_fire(expression) == dt.datetime(2024, 1, 7, 9, tzinfo=dt.UTC)


def test_weekday_ranges_lists_and_steps_count_from_sunday() -> None:
    assert next_fire("0 9 * * 1-5", dt.datetime(2024, 1, 6, tzinfo=dt.UTC)).weekday() == 0  # Sat -> Mon
    assert next_fire("0 9 * * 5-7", MONDAY).date() == dt.date(2024, 1, 5)  # Friday
    assert next_fire("0 9 * * fri-sun", dt.datetime(2024, 1, 6, 10, tzinfo=dt.UTC)).date() == dt.date(2024, 1, 7)
    assert next_fire("0 9 * * mon,wed", dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)).date() == dt.date(2024, 1, 3)
    assert next_fire("0 9 * * */2", MONDAY).date() == dt.date(2024, 1, 2)  # sun, tue, thu, sat


def test_macros_and_time_zones() -> None:
    assert next_fire("@daily") == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    paris = next_fire("0 9 * * *", MONDAY, "Europe/Paris")
    assert paris.astimezone(dt.UTC) == dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC)


@pytest.mark.parametrize(("expression", "message"), [
    ("0 9 1 * mon", "restricts both the day of month and the day of week"),
    ("0 9 * * 8", "day of week 8 is out of range"),
    ("0 9 * * funday", "is not a day of week"),
    ("0 9 * *", "needs 5 fields"),
    ("0 25 * * *", "higher than the maximum"),
])
def test_invalid_expressions_are_refused_clearly(expression: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        cron_trigger(expression, "UTC")


def test_a_bad_cron_in_the_config_is_located(tmp_path: Path) -> None:
    config = write_project(tmp_path, extra='schedule:\n  jobs:\n    - {id: nightly, cron: "0 3 * * 9"}\n')
    with pytest.raises(InvalidInputError) as caught:
        triggers(load_config(config))
    assert "revrules.yaml:" in str(caught.value)
    assert "schedule.jobs.0.cron" in str(caught.value) or "schedule.jobs[0].cron" in str(caught.value)


# -- catching up after downtime ------------------------------------------------------------------

NOW = dt.datetime(2024, 1, 10, 12, tzinfo=dt.UTC)
DAILY = cron_trigger("0 3 * * *", "UTC")


def test_several_missed_slots_give_one_catch_up_run() -> None:
    three_days_down = NOW - dt.timedelta(days=3)
    assert missed_slot(DAILY, three_days_down, NOW, grace=2 * 86400) == dt.datetime(2024, 1, 10, 3, tzinfo=dt.UTC)


def test_a_miss_older_than_the_grace_is_skipped() -> None:
    assert missed_slot(DAILY, NOW - dt.timedelta(days=3), NOW, grace=3600) is None


def test_nothing_is_missed_after_a_run_at_the_last_slot_or_on_first_start() -> None:
    ran = dt.datetime(2024, 1, 10, 3, 0, 0, 20_000, tzinfo=dt.UTC)
    assert missed_slot(DAILY, ran, NOW, grace=86400) is None
    assert missed_slot(DAILY, None, NOW, grace=86400) is None


def _scheduler(tmp_path: Path, grace: int, now: dt.datetime) -> Scheduler:
    extra = (f"schedule:\n  misfire_grace_seconds: {grace}\n"
             '  jobs:\n    - {id: nightly, cron: "0 3 * * *"}\n    - {id: weekly, cron: "0 3 * * 0"}\n')
    config = load_config(write_project(tmp_path, extra=extra))
    return Scheduler(config, lambda job: JobOutcome("succeeded"), clock=lambda: now)


def test_catch_up_uses_the_saved_last_run_and_the_grace(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    scheduler = _scheduler(tmp_path, 6 * 3600, NOW)
    scheduler.state.update("nightly", last_started=(NOW - dt.timedelta(hours=30)).isoformat())
    scheduler.state.update("weekly", last_started=(NOW - dt.timedelta(days=9)).isoformat())
    due = scheduler.catch_up()
    # nightly missed 03:00 today (9 h ago, beyond a 6 h grace); weekly missed Sunday 7th (beyond too)
    assert due == {}
    assert "more than 21600 s ago" in caplog.text

    generous = _scheduler(tmp_path / "b", 86400, NOW)
    generous.state.update("nightly", last_started=(NOW - dt.timedelta(days=5)).isoformat())
    assert generous.catch_up() == {"nightly": dt.datetime(2024, 1, 10, 3, tzinfo=dt.UTC)}


def test_a_job_that_raises_is_recorded_and_the_scheduler_lives_on(tmp_path: Path) -> None:
    config = load_config(write_project(tmp_path, extra='schedule:\n  jobs:\n    - {id: nightly, cron: "0 3 * * *"}\n'))

    def explode(job: JobModel) -> JobOutcome:
        raise RuntimeError("boom")

    scheduler = Scheduler(config, explode, clock=lambda: NOW)
    outcome = scheduler.run_job(config.model.schedule.jobs[0])  # type: ignore[union-attr]
    assert outcome.outcome == "error"
    saved = scheduler.state.load()["nightly"]
    assert saved["outcome"] == "error" and "boom" in saved["message"]
    assert saved["last_started"] == NOW.isoformat()
    # the next start sees the run and does not retry it in a loop
    assert scheduler.catch_up() == {}
