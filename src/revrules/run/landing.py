"""Write results reach the ledger only once the connector made the writes durable."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from revrules.connectors.protocols import BufferedWrite, Connector
from revrules.errors import CrmError
from revrules.state.ledger import FAILED, WRITTEN, Ledger

Outcome = Sequence[tuple[int, str, str | None]]
"""(ledger row, result, error) of each write in a batch."""


@contextmanager
def landing(ledger: Ledger, connector: Connector) -> Iterator[Callable[[Outcome], None]]:
    """A function recording each batch's outcome; for a buffering connector, successes wait for the flush.

    A connector that can buffer (`BufferedWrite`) holds the batches in memory and makes
    them durable once, when the block ends, however it ends. Until then its successful
    writes stay pending in the ledger, so a run killed before the flush leaves them to
    be checked against the CRM by the next run, never recorded as written when they
    are not. Failures are recorded at once: nothing of them lands later.
    """
    if not isinstance(connector, BufferedWrite):
        yield ledger.record_results
        return
    held: list[np.ndarray] = []  # ledger rows of successful writes, compact: one int64 each

    def record(outcome: Outcome) -> None:
        ledger.record_results([item for item in outcome if item[1] != WRITTEN])
        held.append(np.fromiter((row for row, result, _ in outcome if result == WRITTEN), dtype=np.int64))

    connector.buffer_writes()
    try:
        yield record
    finally:
        try:
            connector.flush()
        except CrmError as exc:
            for rows in held:
                ledger.record_results([(row, FAILED, str(exc)) for row in rows.tolist()])
            raise
        for rows in held:
            ledger.record_results([(row, WRITTEN, None) for row in rows.tolist()])
