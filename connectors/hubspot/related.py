"""Contacts and open deals of companies: who holds them (associations v4, batch reads), their owner written by id."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence

import polars as pl

from revrules.connectors.base import ID, RecordUpdate, WriteResult
from revrules.connectors.hubspot import read, write
from revrules.connectors.hubspot.session import HubspotSession, next_after

OWNER_FIELD = "hubspot_owner_id"
CLOSED_FIELD = "hs_is_closed"
"""A deal's calculated "is closed" flag: a closed deal stays with whoever won or lost it."""
ASSOCIATION_BATCH = 1000
"""Companies per associations v4 batch read (HubSpot's maximum)."""
_SCHEMA = {ID: pl.String, "account": pl.String, "owner": pl.String}


def sibling(session: HubspotSession, object_type: str) -> HubspotSession:
    """A session for another object of the same portal: the same client, limiters and retry policy."""
    other = copy.copy(session)
    other.object_type = object_type
    return other


def related_owners(session: HubspotSession, object_type: str, companies: Sequence[str],
                   owners: Sequence[str]) -> pl.DataFrame:
    """`__id`, `account`, `owner` of the `object_type` records associated with `companies`, held by `owners`.

    Deals are kept only while open (`hs_is_closed` not `true`).
    """
    pairs = _associated(session, companies, object_type)
    if not pairs:
        return pl.DataFrame(schema=_SCHEMA)
    names = [OWNER_FIELD, *([CLOSED_FIELD] if object_type == "deals" else [])]
    links = pl.DataFrame(pairs, schema={"account": pl.String, ID: pl.String}, orient="row")
    current = read.read_records(sibling(session, object_type), links[ID].unique(maintain_order=True).to_list(), names)
    held = links.join(current, on=ID, how="inner").filter(pl.col(OWNER_FIELD).is_in(list(owners)))
    if object_type == "deals":
        held = held.filter(pl.col(CLOSED_FIELD).ne_missing("true"))
    return held.select(ID, "account", pl.col(OWNER_FIELD).alias("owner"))


def _associated(session: HubspotSession, companies: Sequence[str], to_type: str) -> list[tuple[str, str]]:
    """(company, record) for every record of `to_type` associated with `companies` (associations v4)."""
    found: list[tuple[str, str]] = []
    path = session.paths.associations("companies", to_type) + "/batch/read"
    queue: list[dict[str, str]] = [{"id": company} for company in companies]
    while queue:
        chunk, queue = queue[:ASSOCIATION_BATCH], queue[ASSOCIATION_BATCH:]
        answer = session.request(f"read company {to_type}", "POST", path, body={"inputs": chunk})
        for item in answer.body.get("results", []):
            company = str((item.get("from") or {}).get("id"))
            found += [(company, str(to["toObjectId"])) for to in item.get("to") or []]
            following = next_after(item)
            if following is not None:
                queue.append({"id": company, "after": following})
        # Companies without such records come back as NO_ASSOCIATIONS_FOUND errors (HTTP 207): none.
    return found


class RelatedRecords:
    """Contacts or deals as a connector writing `hubspot_owner_id` through batch updates of 100."""

    kind = "hubspot"
    batch_size = write.BATCH_SIZE

    def __init__(self, session: HubspotSession, trace_ids: Iterator[str]) -> None:
        self._session = session
        self._trace_ids = trace_ids

    def read(self, fields: Sequence[str]) -> pl.DataFrame:
        """Related records are read by company (`related_owners`) or by id, never all at once."""
        return read.read_records(self._session, [], list(fields))

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """The current values of `fields` for `ids` (batch reads of 100)."""
        return read.read_records(self._session, ids, list(fields))

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Batch-update records, 100 a call (see `write.write`)."""
        return write.write(self._session, updates, self._trace_ids)
