"""`revrules` against the strict Salesforce emulator: `Retry-After`, values that cannot be written, currency outputs."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from revrules.testing.salesforce import SalesforceEmulator
from tests.cli.test_salesforce_org import Cli, account_id, make_org, mid_market, project

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


QUOTA_RULES = """\
version: 1
decisions:
  quota:
    hit: first
    rules:
      - {id: big, when: "employees >= 100", then: 250000}
    default: 50000
"""


@pytest.mark.parametrize("mode", ["corporate", "record"])
def test_a_currency_output_is_refused_in_corporate_currency_mode(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """In a multi-currency org an update stores an amount in the record's own CurrencyIsoCode
    (Object Reference, CurrencyIsoCode: "Contains the ISO code for any currency allowed by the
    organization"), while `currency: corporate` reads it converted (SOQL guide, convertCurrency()):
    a currency output would be compared in one unit and written in another, so it is refused in
    one line (exit 2) by `plan` and `check --online`, before any write; `currency: record` writes it."""
    records = [{"Id": account_id(0), "NumberOfEmployees": 500, "CurrencyIsoCode": "EUR", "Quota__c": 1000},
               {"Id": account_id(1), "NumberOfEmployees": 10, "CurrencyIsoCode": "USD", "Quota__c": 1000}]
    emulator = SalesforceEmulator(records, fields=[
        {"name": "Id", "type": "id"}, {"name": "NumberOfEmployees", "type": "int"},
        {"name": "Quota__c", "type": "currency"}], currencies={"USD": 1.0, "EUR": 0.92}).start()
    monkeypatch.setenv("SF_URL", emulator.url)
    monkeypatch.setenv("SF_SESSION", emulator.session_id)
    config = project(tmp_path, currency=mode)
    config.write_text(config.read_text().replace("segment: Segment__c", "quota: Quota__c"))
    (tmp_path / "rules" / "segments.yaml").write_text(QUOTA_RULES)
    try:
        online = cli("check", "-c", config, "--online")
        applied = cli("apply", "-c", config, "--yes", "--json")
        quotas = {rid: r["Quota__c"] for rid, r in emulator.records.items()}
    finally:
        emulator.stop()

    if mode == "record":
        assert online.code == 0, online.err
        assert applied.code == 0, applied.err
        assert quotas == {account_id(0): 250000, account_id(1): 50000}
        return
    message = ("Account.Quota__c: a currency output cannot be written with crm.currency: corporate (it would be "
               "compared in the corporate currency but written in each record's own); set crm.currency: record "
               "or write a non-currency field")
    assert online.code == 2
    assert message in online.err
    assert applied.code == 2
    assert applied.err.strip().splitlines()[-1].endswith(message)
    assert "Traceback" not in applied.err
    assert not any(e.method == "PATCH" for e in emulator.request_log)
    assert quotas == {account_id(0): 1000, account_id(1): 1000}
