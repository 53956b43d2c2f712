"""The shared retry policy: bounded attempts, backoff with jitter, Retry-After, caller classification."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from revrules.connectors.retry import Retry, RetryPolicy, retry_after_seconds
from revrules.errors import CrmError, RetriableCrmError


class Flaky:
    """Fails `times` times with `error`, then answers "ok"."""

    def __init__(self, times: int, error: Exception) -> None:
        self.calls = 0
        self.times = times
        self.error = error

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return "ok"


def policy(waits: list[float], **options: float) -> RetryPolicy:
    settings = {"max_retries": 3, "backoff_seconds": 0.5, **options}
    return RetryPolicy("Test CRM", sleep=waits.append, rng=random.Random(1), **settings)  # type: ignore[arg-type]


def test_retriable_failures_are_retried_with_growing_jittered_waits() -> None:
    waits: list[float] = []
    flaky = Flaky(3, ConnectionError())
    assert policy(waits).run(flaky, lambda _: Retry("down")) == "ok"
    assert flaky.calls == 4
    for attempt, wait in enumerate(waits):
        ceiling = 0.5 * 2**attempt
        assert ceiling / 2 <= wait <= ceiling


def test_attempts_are_bounded() -> None:
    waits: list[float] = []
    flaky = Flaky(10, ConnectionError())
    with pytest.raises(RetriableCrmError, match=r"down; gave up after 3 attempt\(s\) \(2 retries\)"):
        policy(waits, max_retries=2).run(flaky, lambda _: Retry("down"))
    assert flaky.calls == 3
    assert len(waits) == 2


def test_the_caller_decides_what_is_retriable() -> None:
    flaky = Flaky(1, ValueError("no"))
    with pytest.raises(ValueError, match="no"):
        policy([]).run(flaky, lambda _: None)

    def refuse(error: Exception) -> Retry | None:
        raise CrmError("refused") from error

    with pytest.raises(CrmError, match="refused"):
        policy([]).run(Flaky(1, ValueError()), refuse)


def test_retry_after_in_seconds_or_as_a_date_is_honoured() -> None:
    waits: list[float] = []
    assert policy(waits).run(Flaky(1, ConnectionError()), lambda _: Retry("busy", retry_after="3")) == "ok"
    assert waits == [3.0]
    now = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(later, now=lambda: now) == 30
    assert retry_after_seconds("soon") is None


def test_a_retry_after_longer_than_the_cap_ends_the_call() -> None:
    with pytest.raises(RetriableCrmError, match="Test CRM asks to wait 3600 s"):
        policy([]).run(Flaky(1, ConnectionError()), lambda _: Retry("busy", retry_after="3600"))


def test_a_retry_without_backoff_is_immediate_and_not_counted() -> None:
    waits: list[float] = []
    flaky = Flaky(4, ConnectionError())
    assert policy(waits, max_retries=0).run(flaky, lambda _: Retry("relogin", backoff=False)) == "ok"
    assert waits == []


def test_a_wait_is_never_shorter_than_the_caller_needs() -> None:
    waits: list[float] = []
    policy(waits, backoff_seconds=0.01).run(Flaky(1, ConnectionError()), lambda _: Retry("secondly", at_least=1.0))
    assert waits == [1.0]
