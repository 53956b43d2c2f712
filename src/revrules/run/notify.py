"""Send hand-off digests to a Slack-compatible webhook: one message per owner, retried, never failing a run."""

from __future__ import annotations

import json
import logging
import time

import polars as pl

from revrules.config import NotifyModel
from revrules.run.handoff import Digests

log = logging.getLogger(__name__)

_RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def owner_message(owner: str, rows: pl.DataFrame, title: str) -> dict[str, str]:
    """One owner's digest as a Slack message (`text` in mrkdwn), accounts gained and handed off."""
    lines = [f"*Your book changes: {owner}* ({title})"]
    for change, heading, other in (("gained", "You gain", "from"), ("lost", "You hand off", "to")):
        part = rows.filter(pl.col("change") == change)
        if not part.is_empty():
            lines.append(f"{heading} {part.height} account(s):")
            lines += [f"• {r['id']} ({other} {r['other_owner'] or 'nobody'}: {r['reason']})"
                      for r in part.iter_rows(named=True)]
    return {"text": "\n".join(lines)}


def send_digests(found: Digests, notify: NotifyModel, title: str) -> int:
    """Post one message per owner; returns how many were delivered. Failures are logged, never raised.

    The URL is never logged: it is the secret of an incoming webhook.
    """
    delivered = 0
    for owner in found.owners:
        body = json.dumps(owner_message(owner, found.of(owner), title)).encode()
        if _post(notify, body, owner):
            delivered += 1
    if found.owners:
        log.info("hand-off: %d of %d message(s) delivered", delivered, len(found.owners))
    return delivered


def _post(notify: NotifyModel, body: bytes, owner: str) -> bool:
    # Imported here: the HTTP client (and ssl) would otherwise load with every command.
    import urllib.error
    import urllib.request

    for attempt in range(notify.retries + 1):
        request = urllib.request.Request(notify.url, data=body, method="POST",  # noqa: S310 - http(s) only, by schema
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=notify.timeout_seconds):  # noqa: S310
                return True
        except urllib.error.HTTPError as error:
            problem, retry = f"HTTP {error.code}", error.code in _RETRIED_STATUSES
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            problem, retry = type(error).__name__, True
        if not retry or attempt == notify.retries:
            log.warning("hand-off message for owner %s not delivered: %s", owner, problem)
            return False
        time.sleep(notify.retry_backoff_seconds * 2**attempt)
    return False
