"""The one retry policy of the CRM connectors: bounded attempts, exponential backoff with jitter, `Retry-After`.

The policy knows nothing about any CRM: the caller classifies each failure (a
`Retry`, an exception of its own, or None to let the failure through) and the
policy decides how long to wait and when to give up.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from revrules.errors import RetriableCrmError

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_WAIT_SECONDS = 60.0
"""The longest single wait; a longer `Retry-After` ends the run instead."""


@dataclass(frozen=True)
class Retry:
    """A failure worth another attempt, as the caller classified it."""

    reason: str
    """What failed, for the log and for the final error."""
    retry_after: str | None = None
    """The answer's `Retry-After` header (seconds or an HTTP date), when it had one."""
    at_least: float = 0.0
    """The shortest wait that can help (e.g. the length of a per-second rate window)."""
    backoff: bool = True
    """False: retry at once and do not count the attempt (e.g. after logging in again).

    The caller bounds such retries itself.
    """


def retry_after_seconds(value: str | None, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """`Retry-After` in seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now()).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


class RetryPolicy:
    """Run a call, retrying the failures the caller classifies as retriable.

    The n-th retry (n from 0) waits a random time between half of and all of
    `min(backoff_seconds * 2**n, max_wait_seconds)`, or exactly what `Retry-After`
    asks for. After `max_retries` retries the call fails with `RetriableCrmError`.
    """

    def __init__(
        self,
        service: str,
        *,
        max_retries: int,
        backoff_seconds: float,
        max_wait_seconds: float = MAX_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """Set the bounds.

        Args:
            service: The CRM's name, for messages ("HubSpot", "Salesforce").
            max_retries: Retries after the first attempt.
            backoff_seconds: The ceiling of the first wait; it doubles per retry.
            max_wait_seconds: The cap of one wait, and the longest `Retry-After` honoured.
            sleep: How to wait (tests pass a recorder).
            rng: The jitter's random source (seed it for repeatable waits).
        """
        self.service = service
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_wait_seconds = max_wait_seconds
        self.sleep = sleep
        self._rng = rng or random.Random()

    def delay(self, attempt: int, retry: Retry | None = None) -> float:
        """How long to wait before retry number `attempt` (from 0).

        Raises:
            RetriableCrmError: `Retry-After` asks for longer than `max_wait_seconds`.
        """
        asked = retry_after_seconds(retry.retry_after) if retry is not None else None
        if asked is not None:
            if asked > self.max_wait_seconds:
                raise RetriableCrmError(
                    f"{self.service} asks to wait {asked:.0f} s before retrying; try again later"
                )
            return asked
        ceiling = min(self.backoff_seconds * 2.0**attempt, self.max_wait_seconds)
        wait = self._rng.uniform(ceiling / 2, ceiling)  # jitter, not security
        return max(wait, retry.at_least) if retry is not None else wait

    def run(self, operation: Callable[[], T], classify: Callable[[Exception], Retry | None]) -> T:
        """`operation()`, retried while `classify` calls its failure retriable.

        Args:
            operation: One attempt of the call.
            classify: Maps a failure to a `Retry`, to None (the failure is raised as it
                is), or raises an error of its own (e.g. a refusal that retrying cannot help).

        Raises:
            RetriableCrmError: Retriable failures outlasted `max_retries`, or the CRM
                asked to wait too long.
        """
        attempt = 0
        while True:
            try:
                return operation()
            except Exception as error:
                retry = classify(error)
                if retry is None:
                    raise
            if not retry.backoff:
                continue
            wait = self.delay(attempt, retry)
            attempt += 1
            if attempt > self.max_retries:
                raise RetriableCrmError(
                    f"{retry.reason}; gave up after {attempt} attempt(s) ({self.max_retries} retries); "
                    "try again later"
                )
            log.warning("%s; retrying in %.1f s (%d/%d)", retry.reason, wait, attempt, self.max_retries)
            self.sleep(wait)
