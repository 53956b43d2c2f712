"""The HubSpot fault switches: the shared ones plus search lag and records missing from list changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from revrules.testing.emulator import SharedFaults


@dataclass
class Faults(SharedFaults):
    """HubSpot's fault switches; change them in-process or with ``POST /__emulator/faults``.

    The shared switches (see `SharedFaults`) answer as HubSpot does: `status_on_call`
    answers 429 (a TEN_SECONDLY_ROLLING body), 500, 502 or 503; `daily_limit_after`
    answers 429 with the DAILY body; `auth_failure` answers every call with 401;
    `retry_after` is sent on every 429; `record_errors` fails a record's writes with
    INVALID_OPTION (the message, or HubSpot's "was not one of the allowed options");
    `field_errors` refuses one property of a record, naming it in `errors[].in`.

    Attributes:
        search_lag_seconds: How long a write takes to become visible to search.
        missing_list_record_ids: Record ids that list membership changes report in
            ``recordIdsMissing`` (as if the records had been deleted).
        whole_batch_400: How a batch update holding an invalid record is refused:
            None answers 207 per record; ``"named"`` answers one 400
            ``VALIDATION_ERROR`` for the whole batch naming the refused record ids;
            ``"unnamed"`` answers the 400 naming none. Either way nothing is written.
        required_when: Portal validation rules (API version 2026-09 enforces them on
            writes): ``{"property": P, "when": {Q: V}}`` makes P required once Q is V.
            A batch breaking one is refused whole (400), naming its records.
        no_daily_headers: Answer without ``X-HubSpot-RateLimit-Daily`` and ``-Daily-Remaining``,
            as HubSpot answers an OAuth app's calls, which have no daily limit (changelog "Rate
            limit headers will now appear for OAuth authenticated calls"), or any call when it
            failed to gather them (changelog 2018-11-06).
    """

    search_lag_seconds: float = 0.0
    missing_list_record_ids: set[str] = field(default_factory=set)
    whole_batch_400: str | None = None
    required_when: list[dict[str, Any]] = field(default_factory=list)
    no_daily_headers: bool = False

    def _set(self, name: str, value: Any) -> None:
        if name == "search_lag_seconds":
            self.search_lag_seconds = float(value)
        elif name == "missing_list_record_ids":
            self.missing_list_record_ids = {str(v) for v in value or ()}
        elif name == "whole_batch_400":
            if value not in (None, "named", "unnamed"):
                raise ValueError("whole_batch_400 is null, 'named' or 'unnamed'")
            self.whole_batch_400 = value
        elif name == "required_when":
            self.required_when = [
                {"property": str(rule["property"]), "when": {str(k): str(v) for k, v in dict(rule["when"]).items()}}
                for rule in value or ()
            ]
        elif name == "no_daily_headers":
            self.no_daily_headers = bool(value)
        else:
            super()._set(name, value)
