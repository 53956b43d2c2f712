"""Send one batch and settle each of its writes: written, failed (the CRM said why) or unknown (no answer)."""

from __future__ import annotations

import logging

import polars as pl

from revrules.connectors.base import ID, RecordUpdate
from revrules.connectors.protocols import Connector, FrameWrite
from revrules.errors import CrmError, WriteOutcomeUnknownError
from revrules.state.ledger import FAILED, UNKNOWN, WRITTEN

log = logging.getLogger(__name__)

MAX_RESENDS = 2
"""After a lost answer, how often the records that do not hold their new values yet are sent again."""
OUTCOME_SCHEMA = {"row": pl.Int64, "id": pl.String, "field": pl.String, "result": pl.String, "error": pl.String}
"""One settled write: its ledger row, record, field, result and the CRM's reason."""
_NAMED = "named"
_ROW = "__row"


def same_value(left: pl.Expr, right: pl.Expr) -> pl.Expr:
    """CRM text equality, with blank and null alike."""
    def clean(e: pl.Expr) -> pl.Expr:
        text = e.str.strip_chars()
        return pl.when(text == "").then(None).otherwise(text)

    return clean(left).eq_missing(clean(right))


def holds(checked: pl.DataFrame, value: str) -> pl.Series:
    """Whether the CRM's `current` value of each change is its `value` column's, by `same_value`.

    Most are equal as they stand: only the others are trimmed and compared again.
    """
    exact = checked.select(pl.col("current").eq_missing(pl.col(value))).to_series()
    if exact.all():
        return exact
    others = (~exact).arg_true()
    return exact.scatter(others, checked[others].select(same_value(pl.col("current"), pl.col(value))).to_series())


def split(frame: pl.DataFrame, mask: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of `frame` where `mask` holds, and the others; when it holds for all, `frame` itself (no copy)."""
    if mask.all():
        return frame, frame.clear()
    return frame.filter(mask), frame.filter(~mask)


def current_values(connector: Connector, changes: pl.DataFrame) -> pl.DataFrame:
    """`changes` with a `current` column: what the CRM holds now for each (id, field).

    The CRM is read once for all the records and fields. Each change finds its record's row
    by one join on ids, and its value by one gather from the fields' columns laid end to end:
    no table of every (id, field) is made and joined (at a million records, 16 million rows
    and 11 GB). A record the CRM no longer has holds nothing.
    """
    fields = changes["field"].unique().sort().to_list()
    now = connector.read_records(changes["id"].unique().to_list(), fields) if fields else pl.DataFrame()
    if now.is_empty():
        return changes.with_columns(pl.lit(None, dtype=pl.String).alias("current"))
    row = changes.select("id").join(now.select(pl.col(ID).alias("id")).with_row_index(_ROW), on="id", how="left",
                                    maintain_order="left")[_ROW]
    # The fields' values one after another; a change's is at its field's start plus its record's row.
    values = pl.concat([now[name].cast(pl.String) if name in now.columns
                        else pl.repeat(None, now.height, dtype=pl.String, eager=True) for name in fields]).rechunk()
    start = changes["field"].replace_strict(fields, range(0, len(fields) * now.height, now.height),
                                            return_dtype=pl.UInt64)
    current = values.gather(start + row)
    return changes.with_columns(current.alias("current"))


def send_batch(connector: Connector, batch: pl.DataFrame) -> tuple[pl.DataFrame, CrmError | None]:
    """Write `batch` (changes with their ledger `row`) and settle every write of it.

    A record the CRM refused because of named fields is sent once more without them, so
    that only those fields fail.

    Returns:
        The outcome of each write that did not simply land (`OUTCOME_SCHEMA`; rows absent
        from it were written), and the error that should end the run, if any.
    """
    outcome, stop = _send(connector, batch)
    again = _without_named_fields(batch, outcome)
    if stop is None and not again.is_empty():
        log.info("%d record(s) were refused over some of their fields; sending their other fields again",
                 again["id"].n_unique())
        retried, stop = _send(connector, again)
        outcome = outcome.filter(~pl.col("row").is_in(again["row"].implode())).vstack(retried)
    return outcome.select(list(OUTCOME_SCHEMA)).filter(pl.col("result") != WRITTEN), stop


def _send(connector: Connector, part: pl.DataFrame) -> tuple[pl.DataFrame, CrmError | None]:
    """Write `part`; after a lost answer read it back and send again only what has not landed."""
    settled: list[pl.DataFrame] = []
    for attempt in range(MAX_RESENDS + 1):
        try:
            failed = _write(connector, part)
        except WriteOutcomeUnknownError as lost:
            try:
                checked = current_values(connector, part)
            except CrmError as unreadable:
                message = f"the answer was lost ({lost}) and reading the records back failed ({unreadable})"
                settled.append(_marked(part, UNKNOWN, message))
                stop = WriteOutcomeUnknownError(f"{part.height:,} write(s) have an unknown outcome: {message}; "
                                                "the next run reads them back")
                return _joined(settled), stop
            landed = same_value(pl.col("current"), pl.col("after"))
            settled.append(_marked(checked.filter(landed), WRITTEN, None))
            part = checked.filter(~landed).drop("current")
            if part.is_empty():
                return _joined(settled), None
            if attempt == MAX_RESENDS:
                settled.append(_marked(part, FAILED, f"not written: the answer was lost {attempt + 1} times ({lost})"))
                return _joined(settled), None
            log.warning("the answer to a write was lost (%s); %d record(s) do not hold their new values yet and "
                        "are sent again, the rest landed", lost, part["id"].n_unique())
            continue
        except CrmError as refused:
            # A connector raises only when the call did not land.
            settled.append(_marked(part, FAILED, str(refused)))
            return _joined(settled), refused
        settled.append(_failures(part, failed))
        break
    return _joined(settled), None


def _write(connector: Connector, part: pl.DataFrame) -> pl.DataFrame:
    """Send `part` once; the writes that failed: id, field, error and whether the CRM named the field."""
    if isinstance(connector, FrameWrite):
        return connector.write_frame(part.select("id", "field", "after")).select(
            "id", "field", "error", pl.lit(value=False).alias(_NAMED))
    failed = [r for r in connector.write(_updates(part)) if not r.ok]
    return pl.DataFrame(
        {"id": [r.record_id for r in failed], "field": [r.field for r in failed],
         "error": [r.error for r in failed], _NAMED: [r.named for r in failed]},
        schema={"id": pl.String, "field": pl.String, "error": pl.String, _NAMED: pl.Boolean},
    )


def _updates(part: pl.DataFrame) -> list[RecordUpdate]:
    grouped = part.group_by("id", maintain_order=True).agg("field", "after")
    return [RecordUpdate(record, dict(zip(fields, afters, strict=True)))
            for record, fields, afters in grouped.iter_rows()]


def _marked(part: pl.DataFrame, result: str, error: str | None) -> pl.DataFrame:
    return part.select("row", "id", "field", pl.lit(result).alias("result"), pl.lit(error, pl.String).alias("error"),
                       pl.lit(value=False).alias(_NAMED))


def _failures(part: pl.DataFrame, failed: pl.DataFrame) -> pl.DataFrame:
    """The failed writes of `part`, joined to their ledger rows; every other write of `part` landed."""
    joined = part.select("row", "id", "field").join(failed, on=["id", "field"], how="inner", maintain_order="left")
    return joined.select("row", "id", "field", pl.lit(FAILED).alias("result"), "error", _NAMED)


def _without_named_fields(batch: pl.DataFrame, outcome: pl.DataFrame) -> pl.DataFrame:
    """The failed writes of records refused over named fields, except those fields."""
    refused = outcome.filter(pl.col("result") == FAILED)
    records = refused.filter(pl.col(_NAMED))["id"].unique().implode()
    rows = refused.filter(pl.col("id").is_in(records) & ~pl.col(_NAMED))["row"].implode()
    return batch.filter(pl.col("row").is_in(rows))


def _joined(parts: list[pl.DataFrame]) -> pl.DataFrame:
    empty = pl.DataFrame(schema={**OUTCOME_SCHEMA, _NAMED: pl.Boolean})
    return pl.concat([empty, *parts], how="vertical_relaxed")
