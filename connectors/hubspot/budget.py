"""The portal's daily API allowance a write must fit in, read from the headers of a 1-record read.

HubSpot's daily limit is the portal's, shared by every private app and service key
of it: an apply that spends it mid-write stops every other integration of the
portal until midnight in the portal's time zone (API usage guidelines,
developers.hubspot.com/docs/guides/apps/api-usage/usage-details). Every answer
carries what is left (`X-HubSpot-RateLimit-Daily-Remaining`, changelog 2018-11-06
"Rate limit information headers will be included in HTTP responses"), except
search answers and an OAuth app's, which has no daily limit.
"""

from __future__ import annotations

import logging
import math

from revrules.connectors.hubspot.limits import daily_allowance
from revrules.connectors.hubspot.session import HubspotSession
from revrules.connectors.hubspot.write import BATCH_SIZE
from revrules.errors import ApiBudgetExhaustedError, RefusedError

log = logging.getLogger(__name__)

DEFAULT_API_RESERVE = 1_000
"""Daily requests a write leaves to the portal's other integrations (`crm.api_reserve`)."""


def write_calls(records: int) -> int:
    """The batch updates writing `records` records costs without faults: one per 100."""
    return math.ceil(max(records, 0) / BATCH_SIZE)


def check_budget(session: HubspotSession, records_to_write: int, other_calls: int = 0, *,
                 reserve: int = DEFAULT_API_RESERVE) -> None:
    """Refuse a write the portal's remaining daily API requests cannot afford.

    What is left is read from one list page of a single record of the configured
    object; not from a search, whose answers carry no rate limit headers.
    A portal that sends no daily headers has no daily limit to fit in.

    Args:
        session: The portal.
        records_to_write: The records the write updates, 100 a batch update.
        other_calls: The calls the write makes besides (related records' writes and reads).
        reserve: Daily requests to leave to the portal's other integrations.

    Raises:
        RefusedError: The calls the write needs plus `reserve` exceed what is left, or the
            daily limit is already spent.
        CrmError: HubSpot failed or refused the read.
    """
    try:
        answer = session.request("read the portal's daily API allowance", "GET",
                                 session.paths.objects(session.object_type),
                                 query=[("limit", 1), ("archived", "false")])
    except ApiBudgetExhaustedError as error:
        raise RefusedError(
            "the portal's daily API limit is already spent (HubSpot answered 429 DAILY); nothing was written "
            "(it resets at midnight in the portal's time zone)"
        ) from error
    daily = daily_allowance(answer.headers)
    needed = write_calls(records_to_write) + max(other_calls, 0)
    if daily is None:
        log.debug("API budget: HubSpot sent no daily limit headers (an OAuth app has no daily limit); "
                  "%d call(s) needed, not checked", needed)
        return
    if needed + reserve > daily.remaining:
        of_limit = f" of its {daily.limit:,}" if daily.limit is not None else ""
        raise RefusedError(
            f"the write needs about {needed:,} API call(s) and api_reserve keeps {reserve:,}, "
            f"but the portal has {daily.remaining:,}{of_limit} daily API request(s) left; nothing was written "
            "(wait for the daily limit to reset at midnight in the portal's time zone, or lower crm.api_reserve)"
        )
    log.info("API budget: %d call(s) needed, %d left today, %d reserved", needed, daily.remaining, reserve)
