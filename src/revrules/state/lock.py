"""One run at a time: an flock on a file in `state_dir`, released by the kernel if the holder dies."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from revrules.errors import LockHeldError
from revrules.state.ledger import now


def holder(path: Path) -> dict[str, object] | None:
    """Who holds the lock, or None when nobody does."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        info: dict[str, object] = json.loads(path.read_text() or "{}")
        return info
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextmanager
def run_lock(state_dir: Path) -> Iterator[None]:
    """Hold the run lock, or refuse (exit 3) naming the process that holds it.

    A lock file left by a dead process is not locked any more, so it is simply taken over.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "run.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = json.loads(path.read_text() or "{}")
            raise LockHeldError(
                f"another run holds the lock (pid {info.get('pid', '?')}, since {info.get('since', '?')})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "since": now()}).encode())
        yield
    finally:
        os.close(fd)
