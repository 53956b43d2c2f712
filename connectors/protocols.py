"""The connector contract as Protocols: what every connector does, and one Protocol per optional ability.

A caller asks `isinstance(connector, ListSync)` (and so on) instead of probing for
method names; every ability Protocol is `runtime_checkable` for that reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import datetime as dt

    import polars as pl

    from revrules.connectors.base import ListWrite, ModifiedRecords, PropertySpec, RecordUpdate, WriteResult


class Connector(Protocol):
    """What every CRM connector does."""

    kind: str

    def read(self, fields: Sequence[str]) -> pl.DataFrame:
        """All records: column `__id` plus each asked-for CRM field, raw, as strings.

        A field the CRM does not have is an error; a missing value is null.
        """
        ...

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        """The current values of `fields` for the given records, same shape as `read`."""
        ...

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Write one batch; one result per (record, field) in `updates`."""
        ...

    @property
    def batch_size(self) -> int:
        """How many records one `write` call takes."""
        ...


@runtime_checkable
class BufferedWrite(Protocol):
    """A CRM that can hold writes in memory and make them durable at once (the CSV file, written once per apply)."""

    def buffer_writes(self) -> None:
        """From now until `flush`, `write` changes the records in memory only."""
        ...

    def flush(self) -> None:
        """Make every buffered write durable, atomically; raise `CrmError`, changing nothing, when it cannot."""
        ...


@runtime_checkable
class FrameWrite(Protocol):
    """A CRM that takes a batch as one frame and answers with its failures only (the CSV file).

    It spares a Python object per field change on both sides of the write.
    """

    def write_frame(self, changes: pl.DataFrame) -> pl.DataFrame:
        """Write one batch, as `Connector.write` does: columns `id`, `field`, `after` (CRM text, null empties).

        Returns the writes that failed (`id`, `field`, `error`); every other write landed.
        """
        ...


@runtime_checkable
class IncrementalRead(Protocol):
    """A CRM that can read only the records modified since a moment (HubSpot, Salesforce)."""

    def read_modified_since(self, fields: Sequence[str], since: dt.datetime) -> ModifiedRecords:
        """The records modified at or after `since`, and the watermark the read reached."""
        ...


@runtime_checkable
class ListSync(Protocol):
    """A CRM whose marketing lists are found by name and changed by diff (all three connectors)."""

    def list_members(self, list_id: str, name: str) -> set[str]:
        """The record ids in the CRM list named `name`; empty when it does not exist yet."""
        ...

    def write_list_changes(
        self, list_id: str, name: str, adds: Sequence[str], removes: Sequence[str]
    ) -> list[ListWrite]:
        """Add and remove members of the list named `name` (created when missing); one result per id."""
        ...


@runtime_checkable
class OnlineCheck(Protocol):
    """A CRM that can check a config against its live schema and lists (`check --online`)."""

    def check_online(
        self,
        read_fields: Sequence[str],
        write_fields: Sequence[str],
        allowed_values: Mapping[str, Iterable[str]],
    ) -> list[str]:
        """Problems with the fields and values the config uses; one readable line each."""
        ...

    def check_lists(self, names: Mapping[str, str]) -> list[str]:
        """Problems with the CRM lists the rulebook's lists map to (list id -> display name)."""
        ...


@runtime_checkable
class PicklistOptions(Protocol):
    """A CRM whose fields may offer a fixed list of values (Salesforce picklists, HubSpot enumerations)."""

    def picklist_options(self, fields: Sequence[str]) -> dict[str, frozenset[str]]:
        """Field -> its active options, for those of `fields` that offer a list of values (restricted or not)."""
        ...


@runtime_checkable
class ScopeCheck(Protocol):
    """A CRM whose access token carries scopes (HubSpot): `check --online` names those a config needs but lacks."""

    def missing_scopes(self, *, owners: bool, lists: bool, related: Sequence[str] = ()) -> list[str]:
        """One readable line per missing scope; `owners`: territories route owners, `lists`: the rulebook has lists.

        `related`: the objects (`contacts`, `deals`) whose owners follow an account's (`owner_change`).
        """
        ...


@runtime_checkable
class OnlineNotes(Protocol):
    """A CRM with settings worth naming when `check --online` passes (e.g. how currencies are read)."""

    def online_notes(self) -> list[str]:
        """One readable line per setting in use."""
        ...


@runtime_checkable
class TextLimits(Protocol):
    """A CRM whose text fields hold a limited number of characters (Salesforce: the describe's `length`)."""

    def text_lengths(self, fields: Sequence[str]) -> dict[str, int]:
        """Field -> the most characters it holds, for those of `fields` that have a limit."""
        ...


@runtime_checkable
class PropertyCreation(Protocol):
    """A CRM in which revrules can create missing output fields (`check --create-properties`)."""

    def create_properties(self, specs: Sequence[PropertySpec]) -> list[str]:
        """Create what is missing; one line per change made."""
        ...


@runtime_checkable
class ApiBudget(Protocol):
    """A CRM with a daily API allowance that a write must fit in."""

    def check_budget(self, records_to_write: int, other_calls: int = 0) -> None:
        """Refuse (raise `RefusedError`) a write the remaining allowance cannot afford.

        `other_calls` are the calls the write makes besides writing the records: the
        related records an owner change carries, written and read by id, and the list
        membership writes (`list_write_calls`).
        """
        ...

    def list_write_calls(self, list_id: str, name: str, adds: int, removes: int, members: int) -> int:
        """About the calls adding `adds` and removing `removes` members of one list costs, its reads included.

        `members` is how many the list has now. Makes no call.
        """
        ...


@runtime_checkable
class OwnerLookup(Protocol):
    """A CRM that knows which record owners are active users."""

    def active_owners(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are active owners."""
        ...


@runtime_checkable
class ColumnListing(Protocol):
    """A source that can name the fields it has (used by `check` to spot missing inputs)."""

    def columns(self) -> list[str]:
        """Every field name the source has."""
        ...


@runtime_checkable
class CallCount(Protocol):
    """A CRM connector that counts the HTTP requests it has had answered (`snapshot` reports what it cost)."""

    def api_calls(self) -> Mapping[tuple[str, str], int]:
        """(HTTP method, URL path) -> requests answered so far, errors included."""
        ...


@runtime_checkable
class MetadataExport(Protocol):
    """A CRM that can copy the metadata a rehearsal needs (`revrules snapshot`)."""

    def export_metadata(self, fields: Sequence[str], owner_ids: Sequence[str], list_names: Mapping[str, str],
                        record_ids: Sequence[str]) -> dict[str, Any]:
        """Field definitions, active owners among `owner_ids`, lists and the daily API budget, as plain JSON."""
        ...


RelatedKind = Literal["contacts", "open_deals"]
"""Records that may follow an account's owner change: its contacts, its open opportunities (deals)."""


@runtime_checkable
class RelatedOwners(Protocol):
    """A CRM whose accounts' contacts and open deals can move with an account's owner (Salesforce, HubSpot)."""

    def related_object(self, kind: RelatedKind) -> str:
        """The CRM's name of the object `kind` means (`Contact`, `Opportunity`; `contacts`, `deals`)."""
        ...

    def related_owners(self, object_name: str, account_ids: Sequence[str], owner_ids: Sequence[str]) -> pl.DataFrame:
        """Records of `object_name` on the accounts `account_ids`, held by one of `owner_ids`.

        Deals are read open only. Columns: `__id`, `account`, `owner` (strings); a record
        on several of the accounts is one row per account.
        """
        ...

    def related_records(self, object_name: str) -> Connector:
        """`object_name`'s records as a connector: read and write their owner field by record id.

        The write loop, its settling and recovery, and rollback use it as they use the
        account connector; its writes go in the CRM's batches (Collections, batch update).
        """
        ...

    @property
    def related_owner_field(self) -> str:
        """The owner field of contacts and deals (`OwnerId`, `hubspot_owner_id`)."""
        ...
