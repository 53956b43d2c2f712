"""HubSpot's rate limits on the client side: a rolling-window limiter, and the daily allowance its headers report."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# The limiter's window is a little longer than HubSpot's, because HubSpot counts a
# request when it arrives and the limiter when it leaves; a slow earlier request
# would otherwise still be inside HubSpot's window when the limiter thinks it left.
_WINDOW_MARGIN_SECONDS = 0.25


class RateLimiter:
    """At most `limit` requests in any rolling `window` seconds, waiting when needed.

    HubSpot's own counters (the `X-HubSpot-RateLimit-*` headers) include other
    clients of the same app; `observe` folds them in so this process slows down
    when others use the shared budget.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Set the budget.

        Args:
            limit: Requests allowed per window.
            window: The window, in seconds.
            clock: A monotonic clock (seconds).
            sleep: How to wait.
        """
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until one more request fits in the window, then count it."""
        while True:
            with self._lock:
                now = self._clock()
                self._trim(now)
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.window + _WINDOW_MARGIN_SECONDS - now
            self._sleep(max(wait, 0.001))

    def observe(self, limit: int | None, remaining: int | None, window: float | None = None) -> None:
        """Adopt HubSpot's window and a lower limit, and its count when more of the window is used than we sent.

        Args:
            limit: `X-HubSpot-RateLimit-Max`, the portal's limit per window.
            remaining: `X-HubSpot-RateLimit-Remaining`, what is left in the window.
            window: `X-HubSpot-RateLimit-Interval-Milliseconds` in seconds: the window `limit`
                counts in (10 s on every portal today), which the configured limit counts in too.
        """
        with self._lock:
            if window is not None and window > 0:
                self.window = window
            if limit is not None and 0 < limit < self.limit:
                self.limit = limit
            if remaining is None:
                return
            now = self._clock()
            self._trim(now)
            used = max(self.limit - remaining, 0)
            # Other clients' requests are counted as if sent now: later than they
            # were, so the window frees up no sooner than HubSpot's does.
            self._sent.extend([now] * max(used - len(self._sent), 0))

    def _trim(self, now: float) -> None:
        horizon = now - self.window - _WINDOW_MARGIN_SECONDS
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()


@dataclass(frozen=True)
class DailyAllowance:
    """The portal's daily API requests, as one answer's headers report them.

    Attributes:
        limit: `X-HubSpot-RateLimit-Daily`, requests allowed per day (None when not sent).
        remaining: `X-HubSpot-RateLimit-Daily-Remaining`, requests still allowed today,
            the answered request already counted.
    """

    limit: int | None
    remaining: int


def daily_allowance(headers: Mapping[str, str]) -> DailyAllowance | None:
    """The daily allowance in a response's (lowercased) headers; None when HubSpot does not say.

    Calls of an OAuth app carry no daily headers, because such calls have no daily
    limit (changelog "Rate limit headers will now appear for OAuth authenticated calls"),
    and HubSpot leaves them out when it failed to gather them (changelog 2018-11-06
    "Rate limit information headers will be included in HTTP responses").
    """
    remaining = _count(headers.get("x-hubspot-ratelimit-daily-remaining"))
    if remaining is None:
        return None
    return DailyAllowance(_count(headers.get("x-hubspot-ratelimit-daily")), remaining)


def _count(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
