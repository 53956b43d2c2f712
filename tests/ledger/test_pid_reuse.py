"""A PID reused by another process is never mistaken for a dead run or for the lock's holder.

Linux hands out PIDs again once a process has died (proc(5), `/proc/sys/kernel/pid_max`
wraps), so a PID alone does not name a process: a run and the lock are identified by PID
plus the process start time (field 22, `starttime`, of `/proc/PID/stat`). The reuse is
simulated deterministically: the ledger row or lock file of a process that died is given
the PID of a live, unrelated process (`sleep`) with a start time that is not its own.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator

import pytest

from revrules.state.ledger import process_start
from revrules.testing.harness import Cli
from tests.ledger.projects import Crm, changed, results, written


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A live process unrelated to revrules, whose PID a dead run's PID is made to be."""
    process = subprocess.Popen(["sleep", "60"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def not_its_start(pid: int) -> str:
    """A start time the live process `pid` does not have: the dead process's."""
    start = process_start(pid)
    assert start is not None
    return str(int(start) - 1)


def test_a_run_left_running_whose_pid_was_reused_is_settled_by_the_next_run(
    two_field_crm: Callable[..., Crm], cli: Cli, stranger: subprocess.Popen[bytes]
) -> None:
    crm = two_field_crm("salesforce")
    before = crm.values()
    assert cli("apply", "-c", crm.config, "--yes").code == 0
    landed = changed(before, crm.values())
    # Make run 1 a run killed with its writes in flight, whose PID now belongs to `sleep`.
    db = sqlite3.connect(crm.state / "ledger.db", isolation_level=None)
    db.execute("UPDATE runs SET status = 'running', finished_at = NULL, written = 0, pid = ?, pid_start = ?"
               " WHERE id = 1", (stranger.pid, not_its_start(stranger.pid)))
    db.execute("UPDATE batches SET result = 'pending' WHERE run_id = 1")
    db.execute("UPDATE write_rows SET result = NULL, error = NULL, at = NULL WHERE id IN"
               " (SELECT id FROM writes WHERE run_id = 1)")
    db.close()
    crm.emulator.reset_log()

    stuck = cli("history", "-c", crm.config, "--json").json()["runs"][0]
    settled = cli("apply", "-c", crm.config, "--yes", "--json")
    runs = {r["id"]: r for r in cli("history", "-c", crm.config, "--json").json()["runs"]}
    sent = crm.write_requests()
    rolled = cli("rollback", "1", "-c", crm.config, "--yes", "--json")

    assert stranger.poll() is None  # the PID is alive all along
    assert (stuck["status"], stuck["written"]) == ("running", 0)
    assert settled.code == 0, settled.err
    assert (runs[1]["status"], runs[1]["written"], runs[1]["failed"]) == ("interrupted", len(landed), 0)
    assert runs[1]["finished_at"] is not None
    assert written(crm.state, 1) == landed and results(crm.state, 1) == {"written": len(landed)}
    assert sent == 0  # what had landed is not sent again
    assert rolled.code == 0, rolled.err
    assert rolled.json()["written"] == len(landed)
    assert crm.values() == before


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from revrules.state.lock import run_lock
    with run_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(60)
""")


@pytest.fixture
def holder(two_field_crm: Callable[..., Crm]) -> Iterator[tuple[Crm, subprocess.Popen[str]]]:
    """A project, and a live process holding its run lock."""
    crm = two_field_crm("salesforce")
    process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(crm.state)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "locked"
        yield crm, process
    finally:
        process.kill()
        process.wait()


def test_a_lock_refusal_names_the_live_holder_not_a_stale_pid_in_the_lock_file(
    holder: tuple[Crm, subprocess.Popen[str]], cli: Cli, stranger: subprocess.Popen[bytes]
) -> None:
    crm, process = holder
    # The file names a process that died and whose PID `sleep` reuses; `process` holds the flock.
    (crm.state / "run.lock").write_text(json.dumps({"pid": stranger.pid, "start": not_its_start(stranger.pid),
                                                    "since": "2020-01-01T00:00:00+00:00"}))
    before = crm.values()

    refused = cli("apply", "-c", crm.config, "--yes")
    rollback = cli("rollback", "1", "-c", crm.config, "--yes")

    assert refused.code == 3
    assert f"another run holds the lock (pid {process.pid}," in refused.err
    assert str(stranger.pid) not in refused.err
    assert rollback.code == 3 and f"pid {process.pid}," in rollback.err
    assert crm.values() == before
    assert not (crm.state / "ledger.db").exists()  # nothing was run


def test_a_lock_file_whose_pid_was_reused_does_not_hold_the_lock(
    two_field_crm: Callable[..., Crm], cli: Cli, stranger: subprocess.Popen[bytes]
) -> None:
    crm = two_field_crm("salesforce")
    crm.state.mkdir(mode=0o700)
    (crm.state / "run.lock").write_text(json.dumps({"pid": stranger.pid, "start": not_its_start(stranger.pid),
                                                    "since": "2020-01-01T00:00:00+00:00"}))

    applied = cli("apply", "-c", crm.config, "--yes", "--json")

    assert applied.code == 0, applied.err
    assert results(crm.state, 1) == {"written": applied.json()["written"]}
    assert json.loads((crm.state / "run.lock").read_text())["pid"] != stranger.pid
