"""`revrules` against the strict Salesforce emulator: `Retry-After`, values that cannot be written, currency outputs."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from revrules.testing.salesforce import SalesforceEmulator
from tests.cli.test_salesforce_org import Cli, make_org, mid_market, project

__all__ = ["make_org"]  # the fixture, used by name


def test_429_and_503_wait_as_long_as_retry_after_says(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """Salesforce answers a throttled call 429 and an unavailable one 503 with `Retry-After`
    (seconds; RFC 9110 §10.2.3, "REST API Developer Guide: Status Codes and Error Responses");
    the retry waits that long, not the configured backoff (0.001 s here)."""
    emulator = make_org()
    config = project(tmp_path)
    emulator.faults.status_on_call = {2: 429, 5: 503}  # the query, then the write (after its retry)
    emulator.faults.retry_after = 1

    started = time.monotonic()
    result = cli("apply", "-c", config, "--yes", "--json")
    elapsed = time.monotonic() - started

    assert result.code == 0, result.err
    assert result.json()["written"] == 5
    assert [e.status for e in emulator.request_log if e.status != 200] == [429, 503]
    waits = [float(w) for w in re.findall(r"retrying in ([0-9.]+) s", result.err)]
    assert waits == [1.0, 1.0], result.err  # the header's wait, as logged before each sleep
    assert elapsed >= 2.0  # and it was slept (a lower bound only: never flaky)
    assert [e.method for e in emulator.request_log].count("PATCH") == 2
    assert mid_market(emulator) == 5
