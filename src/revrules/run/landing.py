"""Write results reach the ledger only once the connector made the writes durable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import polars as pl

from revrules.connectors.protocols import BufferedWrite, Connector
from revrules.errors import CrmError
from revrules.state.ledger import FAILED, Ledger

Land = Callable[[pl.Series, pl.DataFrame], None]
"""Records a batch: its ledger rows, and the outcome of each write that did not simply land."""


@contextmanager
def landing(ledger: Ledger, connector: Connector) -> Iterator[Land]:
    """A function recording each batch's outcome; for a buffering connector, successes wait for the flush.

    A connector that can buffer (`BufferedWrite`) holds the batches in memory and makes
    them durable once, when the block ends, however it ends. Until then its successful
    writes stay pending in the ledger, so a run killed before the flush leaves them to
    be checked against the CRM by the next run, never recorded as written when they
    are not. Failures are recorded at once: nothing of them lands later.
    """
    if not isinstance(connector, BufferedWrite):
        yield ledger.record_outcome
        return
    held: list[tuple[pl.Series, pl.DataFrame]] = []

    def record(rows: pl.Series, outcome: pl.DataFrame) -> None:
        ledger.record_results(outcome)
        held.append((rows, outcome))

    connector.buffer_writes()
    try:
        yield record
    finally:
        try:
            connector.flush()
        except CrmError as exc:
            for rows, outcome in held:
                lost = rows.to_frame("row").filter(~pl.col("row").is_in(outcome["row"].implode()))
                ledger.record_results(lost.with_columns(pl.lit(FAILED).alias("result"),
                                                        pl.lit(str(exc)).alias("error")))
            raise
        for rows, outcome in held:
            # Every row of the batch still pending is now durable; its failures were recorded already.
            ledger.record_outcome(rows, outcome.clear())
