"""Real processes: one run at a time, SIGTERM mid-apply, a SIGKILLed holder, and the scheduler itself."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from pathlib import Path

import pytest

from revrules.state.lock import holder, run_lock
from revrules.testing.harness import run_process, start_process, wait_for
from tests.schedule.projects import ledgered, rows, write_project, written

# Small batches: the CSV file is written once at the end, so the run lasts through its per-batch ledger work.
ROWS, BATCH = 8_000, 10

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def test_overlap_refused_then_sigterm_stops_cleanly_and_the_next_run_completes(tmp_path: Path) -> None:
    config = write_project(tmp_path, rows=ROWS, batch=BATCH)
    state = tmp_path / ".revrules"
    first = start_process("apply", "--yes", "-c", config)
    wait_for(lambda: ledgered(state) > 0, first)

    second = run_process("apply", "--yes", "-c", config)
    assert second.returncode == 3, second.stderr
    assert f"another run holds the lock (pid {first.pid}, since " in second.stderr
    status = json.loads(run_process("status", "--json", "-c", config).stdout)
    assert status["lock"]["pid"] == first.pid

    stopped_at = time.monotonic()
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert time.monotonic() - stopped_at < 30
    assert rows(state, "SELECT id, status FROM runs") == [(1, "interrupted")]
    assert rows(state, "SELECT COUNT(*) FROM writes WHERE result = 'pending'") == [(0,)]
    assert f"run 1 apply interrupted: read {ROWS:,}" in err
    assert written(state) > 0

    again = run_process("apply", "--yes", "-c", config)
    assert again.returncode == 0, again.stderr
    assert rows(state, "SELECT id, status FROM runs ORDER BY id") == [(1, "interrupted"), (2, "succeeded")]
    twice = rows(state, "SELECT record_id, field FROM writes WHERE result = 'written'"
                        " GROUP BY 1, 2 HAVING COUNT(*) > 1")
    assert twice == []
    replan = run_process("plan", "--json", "-c", config)
    assert json.loads(replan.stdout)["changes"] == []


def test_a_sigkilled_holder_leaves_the_lock_free(tmp_path: Path) -> None:
    config = write_project(tmp_path, rows=ROWS, batch=BATCH)
    state = tmp_path / ".revrules"
    victim = start_process("apply", "--yes", "-c", config)
    wait_for(lambda: ledgered(state) > 0, victim)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.stderr is not None
    victim.stderr.close()
    assert holder(state / "run.lock") is None
    again = run_process("apply", "--yes", "-c", config)
    assert again.returncode == 0, again.stderr
    assert "run 1 was interrupted" in again.stderr
    assert rows(state, "SELECT id, status FROM runs ORDER BY id") == [(1, "interrupted"), (2, "succeeded")]


def _schedule_project(tmp_path: Path) -> tuple[Path, Path]:
    # A daily slot far from now; the saved last run says the scheduler was down for 3 days.
    extra = ('schedule:\n  misfire_grace_seconds: 259200\n'
             '  jobs:\n    - {id: nightly, cron: "0 3 * * *", command: apply}\n')
    config = write_project(tmp_path, rows=50, extra=extra)
    state = tmp_path / ".revrules"
    state.mkdir()
    down_since = dt.datetime.now(dt.UTC) - dt.timedelta(days=3, hours=1)
    (state / "schedule.json").write_text(json.dumps({"nightly": {"last_started": down_since.isoformat()}}))
    return config, state


def _stop(process: object) -> str:
    assert hasattr(process, "send_signal")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)  # type: ignore[attr-defined]
    assert process.returncode == 0, err  # type: ignore[attr-defined]
    return str(err)


def test_scheduler_catches_up_once_after_downtime_and_stops_on_sigterm(tmp_path: Path) -> None:
    config, state = _schedule_project(tmp_path)
    scheduler = start_process("--log-format", "json", "schedule", "-c", config)
    saved = state / "schedule.json"
    wait_for(lambda: json.loads(saved.read_text())["nightly"].get("outcome") is not None, scheduler)
    time.sleep(0.5)
    err = _stop(scheduler)
    assert rows(state, "SELECT id, command, status FROM runs") == [(1, "apply", "succeeded")]
    assert json.loads(saved.read_text())["nightly"]["outcome"] == "succeeded"
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert any("missed its run" in m and "running it once now" in m for m in messages)
    assert any(m.startswith("run 1 apply succeeded: read 50") for m in messages)
    status = run_process("status", "-c", config)
    assert "job nightly [0 3 * * *] apply" in status.stdout and "last succeeded" in status.stdout


def test_a_scheduled_job_that_finds_the_lock_held_is_skipped(tmp_path: Path) -> None:
    config, state = _schedule_project(tmp_path)
    saved = state / "schedule.json"
    with run_lock(state):
        scheduler = start_process("schedule", "-c", config)
        wait_for(lambda: json.loads(saved.read_text())["nightly"].get("outcome") is not None, scheduler)
        err = _stop(scheduler)
    assert json.loads(saved.read_text())["nightly"]["outcome"] == "skipped"
    assert "skipped: lock held" in err
    assert rows(state, "SELECT COUNT(*) FROM runs") in ([], [(0,)])
