"""Contacts and open Opportunities of accounts: who holds them, and their `OwnerId` written by id."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import polars as pl

from revrules.connectors.base import ID, RecordUpdate, WriteResult
from revrules.connectors.salesforce import read, write
from revrules.connectors.salesforce.session import SalesforceSession
from revrules.connectors.salesforce.soql import id_lists, record_ids

OWNER_FIELD = "OwnerId"
_OPEN_ONLY = {"Opportunity": "IsClosed = false AND "}
"""Opportunities follow an account only while open: a closed deal stays with whoever won or lost it."""
_SCHEMA = {ID: pl.String, "account": pl.String, "owner": pl.String}


def sibling(session: SalesforceSession, object_name: str) -> SalesforceSession:
    """A session for another object of the same org: the same login and retry boundary, its own describe."""
    other = copy.copy(session)
    other.object_name = object_name
    other.fields = None
    other.record_types = {}
    return other


def related_owners(session: SalesforceSession, account_ids: Sequence[str], owner_ids: Sequence[str]) -> pl.DataFrame:
    """`__id`, `account`, `owner` of the session object's records on `account_ids` held by one of `owner_ids`.

    One SOQL query per chunk of accounts and owners (both are checked record ids).
    """
    name = session.object_name
    rows: list[tuple[str, str, str]] = []
    for owners in id_lists(owner_ids):
        prefix = f"SELECT Id, AccountId, OwnerId FROM {name} WHERE {_OPEN_ONLY.get(name, '')}OwnerId IN ({owners})" \
                 " AND AccountId IN"
        found = read.query_chunks(session, f"query {name}", prefix, record_ids(account_ids))
        rows += [(str(r["Id"]), str(r["AccountId"]), str(r["OwnerId"])) for r in found]
    return pl.DataFrame(rows, schema=_SCHEMA, orient="row")


class RelatedRecords:
    """One related object (`Contact`, `Opportunity`) as a connector writing `OwnerId` through sObject Collections."""

    kind = "salesforce"

    def __init__(self, session: SalesforceSession) -> None:
        self._session = session

    @property
    def batch_size(self) -> int:
        """One sObject Collections call: related records are never many per run, so no Bulk job."""
        return write.COLLECTION_SIZE

    def read(self, fields: Sequence[str]) -> pl.DataFrame:
        """Related records are read by account (`related_owners`) or by id, never all at once."""
        return read.read_records(self._session, [], fields)

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """The current values of `fields` for `ids` (see `read.read_records`)."""
        return read.read_records(self._session, ids, fields)

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Write one batch through sObject Collections (see `write.write`)."""
        return write.write(self._session, updates)
