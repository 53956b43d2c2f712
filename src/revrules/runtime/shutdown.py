"""Graceful shutdown: the first SIGTERM/SIGINT lets the batch in flight land, the second exits at once."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

_stop = threading.Event()
_deferring = threading.local()
_on_stop: Callable[[], None] | None = None
_on_signal: list[Callable[[], None]] = []


class StopRequested(Exception):  # noqa: N818 - a request, not an error
    """A signal asked the process to stop; raised where stopping loses nothing.

    Deliberately not a `RevrulesError`: it is not a failure, and the CLI turns it into exit 0.
    """

    def __init__(self, message: str = "stopped by a signal", *, written: int = 0) -> None:
        super().__init__(message)
        self.written = written


def requested() -> bool:
    """Whether a stop signal has arrived."""
    return _stop.is_set()


def request() -> None:
    """Ask for a stop, as a signal would (used by tests and the scheduler)."""
    _stop.set()


def reset() -> None:
    """Forget an earlier stop request (for in-process tests)."""
    _stop.clear()


def check(where: str) -> None:
    """Raise `StopRequested` when a stop was asked for; call it where stopping is safe."""
    if _stop.is_set():
        raise StopRequested(f"stopped by a signal {where}")


@contextmanager
def deferred() -> Iterator[None]:
    """While inside, a first signal only sets the flag; the code inside checks it between batches."""
    before = getattr(_deferring, "on", False)
    _deferring.on = True
    try:
        yield
    finally:
        _deferring.on = before


def _handle(signum: int, _frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if _stop.is_set():
        # The ledger still tells the truth: pending writes are settled by recover() next run.
        log.warning("%s again: exiting now", name)
        os._exit(128 + signum)
    _stop.set()
    for callback in _on_signal:
        callback()
    if _on_stop is not None:
        log.warning("%s: stopping after the run in flight (send it again to exit now)", name)
        _on_stop()
        return
    if getattr(_deferring, "on", False):
        log.warning("%s: stopping after the batch in flight (send it again to exit now)", name)
        return
    raise StopRequested(f"stopped by {name} before any write")


Handlers = dict[int, Any]


def also_notify(callback: Callable[[], None]) -> None:
    """Call `callback` on the first signal too (the evaluator's stop flag lives in a layer beside this one)."""
    if callback not in _on_signal:
        _on_signal.append(callback)


def install(on_stop: Callable[[], None] | None = None) -> Handlers:
    """Handle SIGTERM and SIGINT gracefully in this process (call from the main thread).

    Args:
        on_stop: Called on the first signal instead of raising `StopRequested`
            (the scheduler uses it to stop starting jobs).

    Returns:
        The handlers replaced, for `restore`.
    """
    global _on_stop  # noqa: PLW0603 - signal handlers are process-wide state
    _on_stop = on_stop
    _stop.clear()
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: Handlers = {int(signum): signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    for signum in previous:
        signal.signal(signum, _handle)
    return previous


def restore(previous: Handlers) -> None:
    """Put back the handlers `install` replaced (commands run in-process, as in tests)."""
    global _on_stop  # noqa: PLW0603 - signal handlers are process-wide state
    _on_stop = None
    for signum, handler in previous.items():
        signal.signal(signum, handler)
