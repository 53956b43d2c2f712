"""Whether a scheduler is running: its pid, start time, last heartbeat and next runs in `state_dir/scheduler.json`."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from revrules.state.files import replace_private

HEARTBEAT_SECONDS = 15.0
"""How often a running scheduler says it is alive."""
STALE_AFTER_SECONDS = 4 * HEARTBEAT_SECONDS
"""A heartbeat older than this means the scheduler is hung or was killed without cleaning up."""


@dataclass(frozen=True)
class SchedulerRecord:
    """What a running scheduler last said about itself."""

    pid: int
    started_at: str
    heartbeat: str
    next_runs: dict[str, str | None] = field(default_factory=dict)


def record_path(state_dir: Path) -> Path:
    """Where the running scheduler keeps its record."""
    return state_dir / "scheduler.json"


def write_record(path: Path, record: SchedulerRecord) -> None:
    """Replace the record atomically, so `status` never reads half of it."""
    replace_private(path, json.dumps(asdict(record), indent=2))


def read_record(path: Path) -> SchedulerRecord | None:
    """The saved record, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text())
        return SchedulerRecord(int(data["pid"]), str(data["started_at"]), str(data["heartbeat"]),
                               dict(data.get("next_runs") or {}))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def scheduler_state(state_dir: Path, now: dt.datetime) -> dict[str, Any]:
    """`{"running": bool, "state": ..., pid, started_at, heartbeat, next_runs}` for `revrules status`.

    `state` is `running`, `not responding` (the process lives but its heartbeat is stale),
    `stopped` (a record left by a process that is gone) or `not running`.
    """
    record = read_record(record_path(state_dir))
    if record is None:
        return {"running": False, "state": "not running"}
    found: dict[str, Any] = {**asdict(record), "running": False}
    if not _alive(record.pid):
        found["state"] = "stopped"
        return found
    try:
        age = (now - dt.datetime.fromisoformat(record.heartbeat)).total_seconds()
    except ValueError:
        age = float("inf")
    found["running"] = age <= STALE_AFTER_SECONDS
    found["state"] = "running" if found["running"] else "not responding"
    return found


class Heartbeat:
    """A daemon thread that refreshes the record while the scheduler lives; removes it on stop."""

    def __init__(self, path: Path, next_runs: Callable[[], dict[str, str | None]],
                 clock: Callable[[], dt.datetime], interval: float = HEARTBEAT_SECONDS) -> None:
        self.path = path
        self.next_runs = next_runs
        self.clock = clock
        self.interval = interval
        self.started_at = clock().isoformat()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="revrules-heartbeat", daemon=True)

    def beat(self) -> None:
        """Write the record now (also called when a job ends, so next runs stay current)."""
        write_record(self.path, SchedulerRecord(os.getpid(), self.started_at, self.clock().isoformat(),
                                                self.next_runs()))

    def start(self) -> None:
        """Write the first record and keep it fresh."""
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove the record: no scheduler is running any more."""
        self._stop.set()
        record = read_record(self.path)
        if record is not None and record.pid == os.getpid():
            self.path.unlink(missing_ok=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except OSError:  # a full disk must not kill the scheduler; the next beat retries
                continue
