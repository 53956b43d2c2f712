"""One run at a time: an flock on a file in `state_dir`, released by the kernel if the holder dies."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from revrules.errors import LockHeldError
from revrules.state.ledger import alive, now, private_dir, private_file, process_start


def holder(path: Path) -> dict[str, object] | None:
    """Who holds the lock (pid, start, since), or None when nobody does."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return _live_holder(path, fd)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _live_holder(path: Path, fd: int) -> dict[str, object]:
    """The process that holds the flock now.

    The lock file names the process that took the lock; it is trusted only while that
    process (same PID, same start time) lives. Otherwise the kernel's table of locks
    names the holder, e.g. a child that inherited the descriptor of a dead parent.
    """
    try:
        info: dict[str, object] = json.loads(path.read_text() or "{}")
    except ValueError:
        info = {}
    pid = info.get("pid")
    if isinstance(pid, int) and alive(pid, str(info["start"]) if info.get("start") else None):
        return info
    inode = os.fstat(fd).st_ino
    try:
        table = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return info
    for line in table:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF": pid, then major:minor:inode.
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
            live = int(parts[4])
            return {"pid": live, "start": process_start(live), "since": info.get("since", "?")}
    return info


@contextmanager
def run_lock(state_dir: Path) -> Iterator[None]:
    """Hold the run lock, or refuse (exit 3) naming the live process that holds it.

    A lock file left by a dead process is not locked any more, so it is simply taken over.
    """
    path = private_file(private_dir(state_dir) / "run.lock")
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _live_holder(path, fd)
            raise LockHeldError(
                f"another run holds the lock (pid {info.get('pid', '?')}, since {info.get('since', '?')})"
            ) from None
        os.ftruncate(fd, 0)
        me = os.getpid()
        os.write(fd, json.dumps({"pid": me, "start": process_start(me), "since": now()}).encode())
        yield
    finally:
        os.close(fd)
