"""The Salesforce fault switches: the shared ones plus sessions, row locks, API allowance, Bulk and campaigns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from revrules.testing.emulator import SharedFaults


@dataclass
class Faults(SharedFaults):
    """Salesforce's fault switches; set them in-process or with `POST /__emulator/faults`.

    The shared switches (see `SharedFaults`) answer as Salesforce does: `status_on_call`
    answers 503 `SERVER_UNAVAILABLE` or (any other status) `TOO_MANY_REQUESTS`;
    `daily_limit_after` answers 403 `REQUEST_LIMIT_EXCEEDED`; `auth_failure` makes the
    token and SOAP login endpoints refuse every login; `record_errors` fails a record's
    writes with `FIELD_CUSTOM_VALIDATION_EXCEPTION` and the message; `field_errors` does so
    for one field, naming it in the error's `fields`.

    Attributes:
        expire_session_on_call: On that API call every issued token becomes invalid and the
            call answers 401 `INVALID_SESSION_ID`; a new token from the token endpoint works.
        lock_rows: Record ids whose writes fail with `UNABLE_TO_LOCK_ROW`: a set (always), or
            a dict id → number of attempts that fail before writes succeed.
        daily_api_max: `DailyApiRequests.Max` reported by `/limits`.
        daily_api_remaining: When set, the remaining allowance is reset to this value (then
            decremented per call, and the switch goes back to None).
        bulk_polls_before_complete: Bulk 2.0 job-info reads that report `InProgress` before a
            processed job reports `JobComplete`.
        member_errors: Contact id → message of a `FIELD_CUSTOM_VALIDATION_EXCEPTION` that
            fails the creation of a CampaignMember for that contact.
        duplicate_alerts: Record ids an alerting duplicate rule flags: their updates fail with
            `DUPLICATES_DETECTED` unless the request sends `Sforce-Duplicate-Rule-Header:
            allowSave=true` (Bulk API 2.0 takes no such header, so Bulk updates always fail).
        duplicate_blocks: Record ids a blocking duplicate rule refuses, header or not.
        concurrency_limit_on_calls: API call numbers answered 403 `REQUEST_LIMIT_EXCEEDED`
            "ConcurrentRequests (Concurrent API Requests) Limit exceeded." (a limit on requests
            in flight, not the daily allowance).
        truncate_body_on_calls: API call numbers whose JSON answer is cut off half-way.
        bulk_upload_max_bytes: The largest Bulk API 2.0 upload accepted (Salesforce: 100 MB of
            CSV); a larger `PUT .../batches` is refused, scaled down for tests.
    """

    expire_session_on_call: int | None = None
    lock_rows: set[str] | dict[str, int] = field(default_factory=set)
    daily_api_max: int = 15000
    daily_api_remaining: int | None = None
    bulk_polls_before_complete: int = 0
    member_errors: dict[str, str] = field(default_factory=dict)
    duplicate_alerts: set[str] = field(default_factory=set)
    duplicate_blocks: set[str] = field(default_factory=set)
    concurrency_limit_on_calls: set[int] = field(default_factory=set)
    truncate_body_on_calls: set[int] = field(default_factory=set)
    bulk_upload_max_bytes: int = 100_000_000

    def _set(self, name: str, value: Any) -> None:
        if name == "lock_rows":
            self.lock_rows = (
                {str(k): int(v) for k, v in value.items()} if isinstance(value, Mapping) else {str(v) for v in value}
            )
        elif name in ("duplicate_alerts", "duplicate_blocks"):
            setattr(self, name, {str(v) for v in value})
        elif name in ("concurrency_limit_on_calls", "truncate_body_on_calls"):
            setattr(self, name, {int(v) for v in value})
        elif name == "member_errors":
            self.member_errors = {str(k): str(v) for k, v in dict(value).items()}
        else:
            super()._set(name, value)
