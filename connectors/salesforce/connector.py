"""`SalesforceConnector`: the thin class that gives the session, read, write, describe and campaign modules one face."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from revrules.connectors.base import ListWrite, ModifiedRecords, RecordUpdate, WriteResult
from revrules.connectors.protocols import Connector, RelatedKind
from revrules.connectors.salesforce import currency, describe, export, read, related, write
from revrules.connectors.salesforce.campaigns import Campaigns, CampaignSettings
from revrules.connectors.salesforce.session import (
    Credentials,
    SalesforceSession,
    Tuning,
    credential_problems,
    missing_keys,
)
from revrules.connectors.salesforce.soql import NAME_RE, checked_where
from revrules.connectors.salesforce.write import COLLECTION_SIZE
from revrules.errors import InvalidInputError

if TYPE_CHECKING:
    from revrules.config import SalesforceCrm


class SalesforceConnector:
    """Reads one sObject's records and writes field changes back, through simple-salesforce.

    Nothing is sent until records are asked for. Field and object names are checked
    against a strict pattern and the object's describe before they reach SOQL; record
    ids are checked against the Salesforce id pattern; the configured `where` is the
    user's own condition, checked minimally and ANDed in parentheses.
    """

    kind = "salesforce"

    def __init__(
        self,
        credentials: Credentials,
        *,
        object_name: str = "Account",
        where: str | None = None,
        api_version: str = "59.0",
        write_fields: Sequence[str] = (),
        tuning: Tuning | None = None,
        campaigns: CampaignSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Describe the org and object; no call is made yet.

        Raises:
            InvalidInputError: The object name or `where` condition is not acceptable.
        """
        if not NAME_RE.match(object_name):
            raise InvalidInputError(f"crm.object: {object_name!r} is not a Salesforce object name")
        self.credentials = credentials
        self.object_name = object_name
        self.where = checked_where(where)
        self.api_version = api_version.removeprefix("v")
        self.write_fields = tuple(dict.fromkeys(write_fields))
        self.tuning = tuning or Tuning()
        self.campaigns = campaigns or CampaignSettings()
        self._session = SalesforceSession(credentials, object_name=object_name, api_version=self.api_version,
                                          tuning=self.tuning, sleep=sleep)
        self._campaigns = Campaigns(self._session, self.campaigns)
        self._planned_records = 0
        """Always None: an incremental read reaches the present, so the run's start is the watermark."""
        self._related: dict[str, SalesforceSession] = {}

    @classmethod
    def from_config(
        cls, crm: SalesforceCrm, *, base: Path, write_fields: Sequence[str] = ()
    ) -> SalesforceConnector:
        """A connector for the `crm:` section of a config; relative paths are against `base`.

        Raises:
            InvalidInputError: A key the chosen `auth` needs is missing.
        """
        def secret(value: Any) -> str | None:
            return None if value is None else str(value.get_secret_value())

        key_file = None
        if crm.private_key_file:
            key_file = Path(crm.private_key_file)
            key_file = key_file if key_file.is_absolute() else base / key_file
        credentials = Credentials(
            auth=crm.auth,
            domain=crm.domain,
            instance_url=crm.instance_url,
            username=crm.username,
            consumer_key=crm.consumer_key,
            consumer_secret=secret(crm.consumer_secret),
            private_key_file=key_file,
            password=secret(crm.password),
            security_token=secret(crm.security_token),
            session_id=secret(crm.session_id),
        )
        missing = missing_keys(credentials)
        if missing:
            raise InvalidInputError(
                f"crm: auth {crm.auth} needs {', '.join(missing)} (secrets may come from ${{VAR}})"
            )
        problems = credential_problems(credentials)
        if problems:
            raise InvalidInputError("\n".join(problems))
        tuning = Tuning(
            bulk_read_threshold=crm.bulk_read_threshold,
            bulk_write_threshold=crm.bulk_write_threshold,
            api_reserve=crm.api_reserve,
            max_retries=crm.max_retries,
            retry_backoff_seconds=crm.retry_backoff_seconds,
            timeout_seconds=crm.timeout_seconds,
            bulk_upload_bytes=crm.bulk_upload_bytes,
            duplicate_rules=crm.duplicate_rules,
            currency=crm.currency,
        )
        campaigns = CampaignSettings(type=crm.campaign_type, status=crm.campaign_status,
                                     member_status=crm.campaign_member_status,
                                     marker_field=crm.campaign_member_marker_field)
        return cls(credentials, object_name=crm.object, where=crm.where,
                   api_version=crm.api_version, write_fields=write_fields, tuning=tuning,
                   campaigns=campaigns)

    # -- the Connector protocol ---------------------------------------------------------

    @property
    def batch_size(self) -> int:
        """Records per `write` call: one Collections call, or one Bulk job for a large plan.

        A plan announced through `check_budget` with at least `bulk_write_threshold`
        records is written as a single Bulk API 2.0 job.
        """
        if self._planned_records >= self.tuning.bulk_write_threshold:
            return self._planned_records
        return COLLECTION_SIZE

    def read(self, fields: Sequence[str]) -> pl.DataFrame:
        """Every record matching `where`: `__id` plus each field as text, null when empty.

        Raises:
            InvalidInputError: A field is not on the object or cannot be read as text, or an
                output is a currency field read converted (see `currency.output_problems`).
            CrmError: Salesforce failed or refused.
        """
        problems = currency.output_problems(self._session, self.write_fields)
        if problems:
            raise InvalidInputError(problems[0])
        return read.read_all(self._session, describe.checked_fields(self._session, fields), self.where)

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """The current values of `fields` for `ids` (see `read.read_records`)."""
        return read.read_records(self._session, ids, fields)

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Write one batch (see `write.write`)."""
        return write.write(self._session, updates)

    # -- optional abilities -------------------------------------------------------------

    def read_modified_since(self, fields: Sequence[str], since: dt.datetime) -> ModifiedRecords:
        """Records matching `where` modified after `since` (see `read.read_modified_since`); up to now."""
        return ModifiedRecords(read.read_modified_since(self._session, self.where, fields, since), None)

    def active_owners(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are active Salesforce Users (see `read.active_owners`)."""
        return read.active_owners(self._session, ids)

    def export_metadata(self, fields: Sequence[str], owner_ids: Sequence[str], list_names: Mapping[str, str],
                        record_ids: Sequence[str]) -> dict[str, Any]:
        """The org's metadata a rehearsal needs, as plain JSON (see `export.export_metadata`)."""
        return export.export_metadata(self._session, fields=fields, owner_ids=owner_ids,
                                      list_names=list(list_names.values()), record_ids=record_ids,
                                      marker_field=self.campaigns.marker_field)

    def check_budget(self, records_to_write: int, other_calls: int = 0) -> None:
        """Refuse a write the org's remaining daily API requests cannot afford, `other_calls` included.

        Also fixes the write mode: a plan of at least `bulk_write_threshold` records is
        written as one Bulk API 2.0 job (see `batch_size`).

        Raises:
            RefusedError: The calls the write needs plus `api_reserve` exceed what is left.
            CrmError: The limits could not be read.
        """
        self._planned_records = max(records_to_write, 0)
        write.check_budget(self._session, records_to_write, other_calls)

    def write_calls(self, records: int) -> int:
        """The API calls writing `records` records costs without faults."""
        return write.write_calls(self._session, records)

    def check_online(
        self,
        read_fields: Sequence[str],
        write_fields: Sequence[str],
        allowed_values: Mapping[str, Iterable[str]],
    ) -> list[str]:
        """Problems with the config against the org (see `describe.check_online`)."""
        return (describe.check_online(self._session, read_fields, write_fields, allowed_values)
                + currency.output_problems(self._session, write_fields))

    def picklist_options(self, fields: Sequence[str]) -> dict[str, frozenset[str]]:
        """Field -> its active picklist values (see `describe.picklist_options`)."""
        return describe.picklist_options(self._session, fields)

    def online_notes(self) -> list[str]:
        """How currency fields are read, in a multi-currency org (see `currency.currency_mode`)."""
        mode = currency.currency_mode(self._session)
        return [] if mode is None else [mode]

    def api_calls(self) -> dict[tuple[str, str], int]:
        """(HTTP method, URL path) -> requests the org answered so far."""
        return dict(self._session.calls)

    def text_lengths(self, fields: Sequence[str]) -> dict[str, int]:
        """Field -> the most characters it holds (see `describe.text_lengths`)."""
        return describe.text_lengths(self._session, fields)

    def columns(self) -> list[str]:
        """The object's field names, as the describe lists them."""
        return list(describe.describe(self._session))

    # -- records that follow an account's owner change -----------------------------------

    related_owner_field = related.OWNER_FIELD

    def related_object(self, kind: RelatedKind) -> str:
        """`Contact` for contacts, `Opportunity` for open deals."""
        return "Contact" if kind == "contacts" else "Opportunity"

    def related_owners(self, object_name: str, account_ids: Sequence[str], owner_ids: Sequence[str]) -> pl.DataFrame:
        """Contacts or open Opportunities of `account_ids` held by `owner_ids` (see `related.related_owners`)."""
        return related.related_owners(self._related_session(object_name), account_ids, owner_ids)

    def related_records(self, object_name: str) -> Connector:
        """`object_name`'s records, read and written by id (see `related.RelatedRecords`)."""
        return related.RelatedRecords(self._related_session(object_name))

    def _related_session(self, object_name: str) -> SalesforceSession:
        if not NAME_RE.match(object_name):
            raise InvalidInputError(f"{object_name!r} is not a Salesforce object name")
        found = self._related.get(object_name)
        if found is None:
            found = self._related[object_name] = related.sibling(self._session, object_name)
        return found

    # -- marketing lists: one Campaign per rulebook list ---------------------------------

    def list_members(self, list_id: str, name: str) -> set[str]:
        """The member accounts of the Campaign named `name` (see `Campaigns.list_members`)."""
        return self._campaigns.list_members(list_id, name)

    def write_list_changes(
        self, list_id: str, name: str, adds: Sequence[str], removes: Sequence[str]
    ) -> list[ListWrite]:
        """Add and remove member accounts of the Campaign named `name` (see `Campaigns.write_list_changes`)."""
        return self._campaigns.write_list_changes(list_id, name, adds, removes)

    def list_write_calls(self, list_id: str, name: str, adds: int, removes: int, members: int) -> int:  # noqa: ARG002
        """About the calls `write_list_changes` makes (see `Campaigns.write_calls`); the Campaign's size costs none."""
        return self._campaigns.write_calls(name, adds, removes)

    def check_lists(self, names: Mapping[str, str]) -> list[str]:
        """Problems with the Campaigns the rulebook's lists map to (list id -> display name)."""
        return self._campaigns.check_lists(names)
