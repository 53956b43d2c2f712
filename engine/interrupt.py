"""A stop request the row-by-row evaluator honours between rows, so a long evaluation ends on SIGTERM."""

from __future__ import annotations

import threading

_requested = threading.Event()


class EvaluationInterrupted(Exception):  # noqa: N818 - a request, not an error
    """A stop was requested while rules were being evaluated; nothing had been written."""


def request() -> None:
    """Ask every evaluation in progress (in any thread) to stop at its next row."""
    _requested.set()


def reset() -> None:
    """Forget an earlier request (a new command or an in-process test)."""
    _requested.clear()


def check() -> None:
    """Raise `EvaluationInterrupted` when a stop was requested."""
    if _requested.is_set():
        raise EvaluationInterrupted("stopped by a signal while evaluating the rules; nothing was written")
