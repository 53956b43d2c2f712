"""The scheduler as a process: it starts fresh and waits, catches up once, says it is running, and stops on SIGTERM."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from revrules.testing.harness import run_process, start_process, wait_for
from tests.schedule.projects import rows, write_project

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _stop(process: subprocess.Popen[str]) -> list[dict[str, str]]:
    """SIGTERM, exit 0 within a generous bound, and the JSON log lines it wrote."""
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def _status(config: Path) -> dict[str, object]:
    found = run_process("status", "--json", "-c", config)
    assert found.returncode == 0, found.stderr
    data: dict[str, object] = json.loads(found.stdout)
    return data


def test_a_fresh_init_project_starts_waits_for_its_first_slot_and_stops_on_sigterm(tmp_path: Path) -> None:
    assert run_process("init", tmp_path).returncode == 0
    config = tmp_path / "revrules.yaml"
    record = tmp_path / ".revrules" / "scheduler.json"
    scheduler = start_process("--log-format", "json", "schedule", "-c", config)
    wait_for(record.exists, scheduler, timeout=60)

    status = _status(config)
    running = status["scheduler"]
    assert isinstance(running, dict)
    assert running["running"] is True and running["pid"] == scheduler.pid
    assert running["next_runs"]["nightly"].endswith("T03:00:00+00:00")
    jobs = status["jobs"]
    assert isinstance(jobs, list) and jobs[0]["next_run"] == running["next_runs"]["nightly"]
    text = run_process("status", "-c", config).stdout
    assert text.startswith(f"scheduler: running (pid {scheduler.pid}, since ")

    lines = _stop(scheduler)
    assert all(ISO_UTC.match(line["time"]) for line in lines)
    assert not [line for line in lines if line["logger"].startswith("apscheduler")]
    messages = [line["message"] for line in lines]
    assert any(m.startswith("job nightly: next run at ") for m in messages)
    assert messages[-1] == "scheduler stopped"
    assert rows(tmp_path / ".revrules", "SELECT COUNT(*) FROM runs") in ([], [(0,)])
    assert not record.exists()
    assert run_process("status", "-c", config).stdout.startswith("scheduler: not running\n")


def test_after_a_missed_slot_it_runs_once_logs_the_next_run_and_stops_on_sigterm(tmp_path: Path) -> None:
    extra = ('schedule:\n  misfire_grace_seconds: 259200\n'
             '  jobs:\n    - {id: nightly, cron: "0 3 * * *", command: apply}\n')
    config = write_project(tmp_path, rows=50, extra=extra)
    state = tmp_path / ".revrules"
    state.mkdir()
    down_since = dt.datetime.now(dt.UTC) - dt.timedelta(days=3, hours=1)
    saved = state / "schedule.json"
    saved.write_text(json.dumps({"nightly": {"last_started": down_since.isoformat()}}))
    scheduler = start_process("--log-format", "json", "schedule", "-c", config)
    wait_for(lambda: json.loads(saved.read_text())["nightly"].get("outcome") is not None, scheduler, timeout=60)
    wait_for(lambda: "T03:00:00" in json.dumps(_status(config)["scheduler"]), scheduler, timeout=60)

    lines = _stop(scheduler)
    messages = [line["message"] for line in lines]
    assert any("missed its run" in m and "running it once now" in m for m in messages)
    assert any(m.startswith("job nightly: next run at ") for m in messages)
    assert [m for m in messages if m.startswith("job nightly succeeded")]
    assert rows(state, "SELECT id, command, status FROM runs") == [(1, "apply", "succeeded")]


def test_a_job_that_cannot_run_says_what_to_fix_once(tmp_path: Path) -> None:
    extra = ('schedule:\n  misfire_grace_seconds: 259200\n'
             '  jobs:\n    - {id: nightly, cron: "0 3 * * *", command: apply}\n')
    config = write_project(tmp_path, rows=5, extra=extra)
    with (tmp_path / "accounts.csv").open("a") as handle:
        handle.write("A000001,7\n")  # a duplicate id: every slot would fail the same way
    state = tmp_path / ".revrules"
    state.mkdir()
    saved = state / "schedule.json"
    down_since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1, hours=1)
    saved.write_text(json.dumps({"nightly": {"last_started": down_since.isoformat()}}))
    scheduler = start_process("--log-format", "json", "schedule", "-c", config)
    wait_for(lambda: json.loads(saved.read_text())["nightly"].get("outcome") is not None, scheduler, timeout=60)

    lines = _stop(scheduler)
    errors = [line["message"] for line in lines if line["level"] == "error"]
    assert len(errors) == 1, errors
    assert errors[0].startswith("job nightly failed and will fail at every slot until this is fixed: ")
    assert "A000001" in errors[0]


@pytest.mark.slow
def test_a_fresh_init_project_runs_a_full_slot_and_stops_cleanly(tmp_path: Path) -> None:
    assert run_process("init", tmp_path).returncode == 0
    config = tmp_path / "revrules.yaml"
    config.write_text(config.read_text().replace('cron: "0 3 * * *"', 'cron: "* * * * *"'))
    saved = tmp_path / ".revrules" / "schedule.json"
    scheduler = start_process("--log-format", "json", "schedule", "-c", config)

    def ran() -> bool:
        return saved.exists() and json.loads(saved.read_text()).get("nightly", {}).get("outcome") is not None

    wait_for(ran, scheduler, timeout=150)  # the next minute boundary, on a busy machine
    lines = _stop(scheduler)
    assert json.loads(saved.read_text())["nightly"]["outcome"] == "succeeded"
    assert any(line["message"].startswith("job nightly succeeded") for line in lines)
    assert (tmp_path / "out" / "accounts.csv").exists()


def test_sigterm_during_evaluation_stops_the_job_and_the_scheduler(tmp_path: Path) -> None:
    extra = ('schedule:\n  misfire_grace_seconds: 259200\n'
             '  jobs:\n    - {id: nightly, cron: "0 3 * * *", command: apply}\n')
    config = write_project(tmp_path, rows=200_000, extra=extra)
    # A lookbehind runs row by row: seconds of evaluation on 200,000 records.
    (tmp_path / "rules" / "slow.yaml").write_text(
        "version: 1\ndecisions:\n  odd:\n    hit: any\n    rules:\n"
        "      - when: \"(employees > 5 ? 'x1' : 'y') =~ '(?<=x)[0-9]+'\"\n")
    state = tmp_path / ".revrules"
    state.mkdir()
    saved = state / "schedule.json"
    down_since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1, hours=1)
    saved.write_text(json.dumps({"nightly": {"last_started": down_since.isoformat()}}))
    scheduler = start_process("--log-format", "json", "schedule", "-c", config)
    wait_for(lambda: json.loads(saved.read_text())["nightly"]["last_started"] != down_since.isoformat(), scheduler,
             timeout=60)

    lines = _stop(scheduler)  # the stop flag is sticky: a signal during the read stops the evaluation too
    job = json.loads(saved.read_text())["nightly"]
    assert job["outcome"] == "interrupted", lines
    assert job["message"] == "stopped by a signal while evaluating the rules; nothing was written"
    assert rows(state, "SELECT COUNT(*) FROM writes") in ([], [(0,)])
