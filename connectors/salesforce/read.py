"""Reading Salesforce records: SOQL with `nextRecordsUrl` paging, Bulk API 2.0 above a threshold, by id, by modstamp."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import polars as pl
from simple_salesforce.api import Salesforce

from revrules.connectors.base import ID
from revrules.connectors.paging import cursor_pages
from revrules.connectors.salesforce.bulk import bulk_read
from revrules.connectors.salesforce.currency import converts, to_corporate, with_iso
from revrules.connectors.salesforce.describe import checked_fields, describe
from revrules.connectors.salesforce.session import SalesforceSession
from revrules.connectors.salesforce.soql import id_lists, record_ids, select
from revrules.connectors.salesforce.values import empty_frame, render
from revrules.errors import InvalidInputError

log = logging.getLogger(__name__)

FULL_READ_ABOVE = 3_000
"""Above this many ids, reading every record costs fewer calls than `Id IN` chunks."""
MODIFIED_PAGE = 2_000
"""Records per keyset page of an incremental read."""
STAMP_FIELD = "SystemModstamp"


def query(session: SalesforceSession, action: str, soql: str) -> Iterator[Mapping[str, Any]]:
    """Every row of a SOQL query, following `nextRecordsUrl` page by page."""
    return rows(session, action, session.call(action, partial(_run_soql, soql)))


def rows(session: SalesforceSession, action: str, first: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The rows of a query answer `first` and of the pages after it."""
    def fetch(url: str | None) -> Mapping[str, Any]:
        return session.call(action, partial(_query_more, str(url)))

    def next_url(page: Mapping[str, Any]) -> str | None:
        following = page.get("nextRecordsUrl")
        return None if page.get("done", True) or not following else str(following)

    for page in cursor_pages(fetch, next_url, what=action, first=first):
        yield from page.get("records", [])


def query_chunks(session: SalesforceSession, action: str, prefix: str, ids: Sequence[str]) -> list[Mapping[str, Any]]:
    """The rows of `<prefix> (<ids>)`, asked `ID_CHUNK` ids at a time; ids are checked first."""
    found: list[Mapping[str, Any]] = []
    for listed in id_lists(ids):
        found.extend(query(session, action, f"{prefix} ({listed})"))
    return found


def read_all(session: SalesforceSession, names: list[str], condition: str | None) -> pl.DataFrame:
    """Every record matching `condition`: REST pages, or one Bulk query job for many records."""
    converted = converts(session, names)
    selected = with_iso(names, converted)
    soql = select(session.object_name, selected, condition)
    first = session.call("query", partial(_run_soql, soql))
    total = int(first.get("totalSize", 0))
    if total > session.tuning.bulk_read_threshold and not first.get("done", True):
        log.info("reading %d %s records through Bulk API 2.0", total, session.object_name)
        return to_corporate(session, bulk_read(session, soql, selected), names, converted)
    return to_corporate(session, _frame(session, rows(session, "query", first), selected), names, converted)


def read_records(session: SalesforceSession, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
    """The current values of `fields` for `ids`, in the order asked; unknown ids are left out.

    Raises:
        InvalidInputError: A field is not on the object.
        CrmError: Salesforce failed or refused.
    """
    names = checked_fields(session, fields)
    wanted = record_ids(ids)
    order = pl.DataFrame({ID: wanted}, schema={ID: pl.String})
    if not wanted:
        return empty_frame(names)
    if len(wanted) > FULL_READ_ABOVE:
        found = read_all(session, names, None)
    else:
        converted = converts(session, names)
        selected = with_iso(names, converted)
        parts = [_rest_read(session, select(session.object_name, selected, f"Id IN ({listed})"), selected)
                 for listed in id_lists(wanted)]
        found = to_corporate(session, pl.concat(parts), names, converted)
    # Salesforce answers 18-character ids; a 15-character id asked for matches its prefix.
    found = found.with_columns(pl.col(ID).str.slice(0, 15).alias("__id15"))
    by_15 = order.with_columns(pl.col(ID).str.slice(0, 15).alias("__id15"))
    joined = by_15.join(found.drop(ID), on="__id15", how="inner", maintain_order="left")
    return joined.drop("__id15").select(ID, *names)


def read_modified_since(
    session: SalesforceSession, where: str | None, fields: Sequence[str], since: dt.datetime
) -> pl.DataFrame:
    """Records matching `where` whose `SystemModstamp` is after `since`, oldest first.

    Pages by (SystemModstamp, Id) so that no query cursor has to stay open and records
    sharing a timestamp are neither skipped nor read twice.

    Raises:
        InvalidInputError: A field is not on the object.
        CrmError: Salesforce failed or refused.
    """
    names = checked_fields(session, fields)
    if STAMP_FIELD not in describe(session):
        raise InvalidInputError(f"{session.object_name} has no {STAMP_FIELD} field")
    converted = converts(session, names)
    selected = with_iso(list(dict.fromkeys([*names, STAMP_FIELD])), converted)
    moment = since.astimezone(dt.UTC) if since.tzinfo else since.replace(tzinfo=dt.UTC)
    cursor: tuple[str, str | None] = (moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", None)
    parts: list[pl.DataFrame] = []
    while True:
        stamp, last_id = cursor
        after = f"{STAMP_FIELD} > {stamp}"
        if last_id is not None:
            after = f"({after} OR ({STAMP_FIELD} = {stamp} AND Id > '{last_id}'))"
        condition = after if where is None else f"({where}) AND {after}"
        soql = f"{select(session.object_name, selected, condition)} ORDER BY {STAMP_FIELD} ASC, Id ASC " \
               f"LIMIT {MODIFIED_PAGE}"
        frame = _rest_read(session, soql, selected)
        parts.append(frame)
        if frame.height < MODIFIED_PAGE:
            break
        cursor = (str(frame[STAMP_FIELD][-1]), str(frame[ID][-1]))
    result = pl.concat(parts) if parts else empty_frame(selected)
    return to_corporate(session, result, names, converted).select(ID, *names)


def active_owners(session: SalesforceSession, ids: Sequence[str]) -> set[str]:
    """Which of `ids` are active Salesforce Users (15- or 18-character ids both match).

    Raises:
        CrmError: Salesforce failed or refused.
    """
    wanted = record_ids(ids)
    found = query_chunks(session, "query users", "SELECT Id FROM User WHERE IsActive = true AND Id IN", wanted)
    active = {str(r["Id"])[:15] for r in found}
    return {i for i in wanted if i[:15] in active}


def _rest_read(session: SalesforceSession, soql: str, names: list[str]) -> pl.DataFrame:
    return _frame(session, query(session, "query", soql), names)


def _frame(session: SalesforceSession, records: Iterator[Mapping[str, Any]], names: list[str]) -> pl.DataFrame:
    info = describe(session)
    ids: list[str] = []
    columns: dict[str, list[str | None]] = {name: [] for name in names}
    for record in records:
        ids.append(str(record["Id"]))
        for name in names:
            columns[name].append(render(record.get(name), info[name].type))
    schema = {ID: pl.String, **dict.fromkeys(names, pl.String)}
    return pl.DataFrame({ID: ids, **columns}, schema=schema)


def _run_soql(soql: str, sf: Salesforce) -> Any:
    return sf.query(soql)


def _query_more(url: str, sf: Salesforce) -> Any:
    return sf.query_more(url, identifier_is_url=True)
