"""The connector contract suite: the behaviour every connector owes the engine, runnable against any connector.

A test module runs it for one or more connectors (meltano-sdk style) by giving a
`ConnectorHarness` per connector through a fixture named `harness` and subclassing
`ConnectorContract`::

    @pytest.fixture(params=["csv", "salesforce"])
    def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConnectorHarness]:
        with build(request.param, tmp_path) as made:
            yield made

    class TestConnectorContract(ConnectorContract):
        \"\"\"Every connector keeps the contract.\"\"\"

A case that needs an ability the CRM lacks (a CSV file has no transient failures)
is skipped with a reason naming the ability, never silently passed.
"""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import ClassVar, Self

import polars as pl
import pytest

from revrules.connectors.base import ID, RecordUpdate, WriteResult
from revrules.connectors.protocols import Connector, ListSync
from revrules.errors import InvalidInputError, RetriableCrmError

LIST_ID = "contract"
LIST_NAME = "Contract List"


class Ability(enum.Enum):
    """A CRM-side ability some contract cases need; a harness names those its CRM lacks."""

    CALL_LOG = "counting the API calls the connector makes"
    TRANSIENT_FAULTS = "injecting transient failures"
    CREDENTIALS = "credentials the connector must keep secret"


class ConnectorHarness(ABC):
    """What the contract needs from one connector's test module: a CRM to seed, inspect and break.

    `make` seeds a fresh CRM whose records hold text in `field`: the first record's
    `field` is empty, every other record's is a distinct non-empty text. Every other
    method looks at, or changes, the CRM made by the latest `make`, from the CRM's
    side (the emulator's store, the file on disk), never through the connector.
    """

    name: ClassVar[str]
    """The connector's name in skip reasons, e.g. "csv"."""
    field: ClassVar[str]
    """A text field the connector can read and write."""
    unknown_id: ClassVar[str]
    """An id shaped like the CRM's ids that no seeded record has."""
    max_retries: ClassVar[int] = 0
    """How many times the connector `make` builds retries a transient failure."""
    secrets: ClassVar[tuple[str, ...]] = ()
    """Secrets the connector is given (tokens, passwords); none may be shown."""
    lacks: ClassVar[Mapping[Ability, str]] = {}
    """The abilities this CRM does not have, each with the reason why."""

    @abstractmethod
    def make(self, records: int) -> Connector:
        """Seed a fresh CRM with `records` records and return a connector over it."""

    @abstractmethod
    def ids(self) -> list[str]:
        """The seeded record ids, in seeding order."""

    @abstractmethod
    def stored(self, record_id: str, field: str) -> str | None:
        """The CRM's raw value of one field as text; None when empty or the record is gone."""

    @abstractmethod
    def refuse_writes(self, record_id: str) -> None:
        """Make the CRM refuse every later write to the record (and only to it)."""

    @abstractmethod
    def stored_list(self, list_id: str, name: str) -> list[str]:
        """The record ids in the CRM's list, one entry per membership (so a duplicate shows).

        Raises:
            AssertionError: The CRM holds several lists for it.
        """

    def fail_next_calls(self, count: int) -> None:
        """Make the next `count` API calls fail with a transient (retriable) failure."""
        raise NotImplementedError(Ability.TRANSIENT_FAULTS.value)

    def api_calls(self) -> int:
        """API calls the CRM has answered since `make`."""
        raise NotImplementedError(Ability.CALL_LOG.value)

    def write_calls(self) -> int:
        """API calls that wrote records since `make`."""
        raise NotImplementedError(Ability.CALL_LOG.value)

    def close(self) -> None:  # noqa: B027  # optional: a harness over files has nothing to stop
        """Stop whatever `make` started."""

    def require(self, ability: Ability) -> None:
        """Skip the running case when this CRM lacks `ability`, saying which and why."""
        if ability in self.lacks:
            pytest.skip(f"{self.name} lacks the ability of {ability.value}: {self.lacks[ability]}")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _new_value(record_id: str) -> str:
    """A value the contract writes: distinct per record and unlike any seeded value."""
    return f"Contract written {record_id}"


def _misspelt(field: str) -> str:
    """`field` with one inner letter dropped: close enough for a did-you-mean."""
    middle = len(field) // 2
    return field[:middle] + field[middle + 1 :]


def _writes(updates: Sequence[RecordUpdate]) -> list[tuple[str, str]]:
    """The (record, field) pairs of `updates`, in order: the shape `write` answers in."""
    return [(update.record_id, field) for update in updates for field in update.values]


def _outcomes(results: Sequence[WriteResult]) -> list[tuple[str, str]]:
    return [(result.record_id, result.field) for result in results]


class ConnectorContract:
    """The contract cases; a test class inheriting them runs each against the `harness` fixture."""

    # -- reading ---------------------------------------------------------------------------

    def test_read_returns_the_id_column_and_each_field_as_text(self, harness: ConnectorHarness) -> None:
        """`read` gives `__id` plus each asked field, as strings, one row per record; empty is null."""
        connector = harness.make(4)
        frame = connector.read([harness.field])

        assert frame.columns == [ID, harness.field]
        assert frame.schema == pl.Schema({ID: pl.String, harness.field: pl.String})
        assert sorted(frame[ID].to_list()) == sorted(harness.ids())
        values = dict(zip(frame[ID].to_list(), frame[harness.field].to_list(), strict=True))
        assert values == {record: harness.stored(record, harness.field) for record in harness.ids()}
        assert values[harness.ids()[0]] is None

    def test_read_refuses_an_unknown_field_with_did_you_mean(self, harness: ConnectorHarness) -> None:
        """A field the CRM lacks is an `InvalidInputError` naming it and the closest field."""
        connector = harness.make(2)
        typo = _misspelt(harness.field)

        with pytest.raises(InvalidInputError) as caught:
            connector.read([typo])

        assert repr(typo) in str(caught.value)
        assert f"did you mean '{harness.field}'" in str(caught.value)

    def test_read_records_returns_the_asked_ids_in_the_asked_order(self, harness: ConnectorHarness) -> None:
        """`read_records` answers the known ids asked, in the order asked, shaped like `read`."""
        connector = harness.make(5)
        ids = harness.ids()
        asked = [ids[3], harness.unknown_id, ids[0], ids[4]]

        frame = connector.read_records(asked, [harness.field])

        assert frame.columns == [ID, harness.field]
        assert frame.schema == pl.Schema({ID: pl.String, harness.field: pl.String})
        assert frame.rows() == [(record, harness.stored(record, harness.field)) for record in (ids[3], ids[0], ids[4])]

    # -- writing ---------------------------------------------------------------------------

    def test_write_answers_each_field_in_order_and_the_values_read_back(self, harness: ConnectorHarness) -> None:
        """One result per (record, field) in the order sent; the CRM and later reads hold the values."""
        connector = harness.make(4)
        ids = harness.ids()
        updates = [
            RecordUpdate(ids[2], {harness.field: _new_value(ids[2])}),
            RecordUpdate(ids[1], {harness.field: None}),
            RecordUpdate(ids[0], {harness.field: _new_value(ids[0])}),
        ]

        results = connector.write(updates)

        assert _outcomes(results) == _writes(updates)
        assert [(result.ok, result.error) for result in results] == [(True, None)] * len(updates)
        expected = {ids[2]: _new_value(ids[2]), ids[1]: None, ids[0]: _new_value(ids[0])}
        assert {record: harness.stored(record, harness.field) for record in expected} == expected
        again = connector.read_records(list(expected), [harness.field])
        assert again.rows() == list(expected.items())

    def test_a_refused_record_fails_alone_and_the_rest_lands(self, harness: ConnectorHarness) -> None:
        """A per-record refusal fails that record's result with a message; the other records land."""
        connector = harness.make(4)
        ids = harness.ids()
        refused = ids[2]
        harness.refuse_writes(refused)
        updates = [RecordUpdate(record, {harness.field: _new_value(record)}) for record in ids[1:]]

        results = connector.write(updates)

        assert _outcomes(results) == _writes(updates)
        failed = [result for result in results if not result.ok]
        assert [result.record_id for result in failed] == [refused]
        assert failed[0].error
        assert harness.stored(refused, harness.field) != _new_value(refused)
        for record in (ids[1], ids[3]):
            assert harness.stored(record, harness.field) == _new_value(record)

    def test_a_batch_of_batch_size_records_lands_whole(self, harness: ConnectorHarness) -> None:
        """`write` takes `batch_size` records at once and lands every one."""
        size = harness.make(1).batch_size
        assert size >= 1
        connector = harness.make(size)
        updates = [RecordUpdate(record, {harness.field: _new_value(record)}) for record in harness.ids()]

        results = connector.write(updates)

        assert len(results) == size
        assert all(result.ok for result in results)
        last = harness.ids()[-1]
        assert harness.stored(last, harness.field) == _new_value(last)

    def test_write_sends_at_most_batch_size_records_per_call(self, harness: ConnectorHarness) -> None:
        """`batch_size` records cost one write call; one record more costs a second."""
        harness.require(Ability.CALL_LOG)
        size = harness.make(1).batch_size
        connector = harness.make(size + 1)
        ids = harness.ids()

        before = harness.write_calls()
        connector.write([RecordUpdate(record, {harness.field: _new_value(record)}) for record in ids[:size]])
        one_batch = harness.write_calls() - before
        connector.write([RecordUpdate(record, {harness.field: f"again {record}"}) for record in ids])
        two_batches = harness.write_calls() - before - one_batch

        assert (one_batch, two_batches) == (1, 2)

    def test_an_empty_write_changes_nothing(self, harness: ConnectorHarness) -> None:
        """`write([])` answers nothing and leaves the CRM as it was."""
        connector = harness.make(3)
        before = {record: harness.stored(record, harness.field) for record in harness.ids()}

        assert connector.write([]) == []
        assert {record: harness.stored(record, harness.field) for record in harness.ids()} == before

    def test_an_empty_write_makes_no_call(self, harness: ConnectorHarness) -> None:
        """`write([])` sends nothing to the CRM."""
        harness.require(Ability.CALL_LOG)
        connector = harness.make(3)
        before = harness.api_calls()

        connector.write([])

        assert harness.api_calls() == before

    # -- lists -----------------------------------------------------------------------------

    def test_list_sync_of_the_same_adds_twice_changes_nothing_the_second_time(
        self, harness: ConnectorHarness
    ) -> None:
        """`ListSync`: adding members that are already in the list succeeds and changes no membership."""
        connector = harness.make(4)
        if not isinstance(connector, ListSync):
            pytest.skip(f"{harness.name} lacks the ListSync ability (marketing lists)")
        adds = harness.ids()[1:3]

        first = connector.write_list_changes(LIST_ID, LIST_NAME, adds, [])
        stored = sorted(harness.stored_list(LIST_ID, LIST_NAME))
        second = connector.write_list_changes(LIST_ID, LIST_NAME, adds, [])

        for results in (first, second):
            assert [(w.list_id, w.record_id, w.action, w.ok) for w in results] == [
                (LIST_ID, record, "add", True) for record in adds
            ]
        assert stored == sorted(adds)
        assert sorted(harness.stored_list(LIST_ID, LIST_NAME)) == stored
        assert connector.list_members(LIST_ID, LIST_NAME) == set(adds)

    # -- failures --------------------------------------------------------------------------

    def test_transient_failures_within_the_retry_bound_are_retried(self, harness: ConnectorHarness) -> None:
        """As many transient failures in a row as `max_retries` still read everything."""
        harness.require(Ability.TRANSIENT_FAULTS)
        connector = harness.make(3)
        expected = connector.read([harness.field]).sort(ID)

        harness.fail_next_calls(harness.max_retries)

        assert connector.read([harness.field]).sort(ID).equals(expected)

    def test_retries_stop_at_the_bound_with_a_retriable_error(self, harness: ConnectorHarness) -> None:
        """One transient failure more than `max_retries` ends in `RetriableCrmError` after exactly that many tries."""
        harness.require(Ability.TRANSIENT_FAULTS)
        harness.require(Ability.CALL_LOG)
        connector = harness.make(3)
        connector.read([harness.field])  # log in and learn the schema, so only the read itself is retried
        before = harness.api_calls()
        harness.fail_next_calls(harness.max_retries + 1)

        with pytest.raises(RetriableCrmError):
            connector.read([harness.field])

        assert harness.api_calls() - before == harness.max_retries + 1

    # -- what must never be shown ----------------------------------------------------------

    def test_secrets_stay_out_of_repr_and_logs(
        self, harness: ConnectorHarness, caplog: pytest.LogCaptureFixture
    ) -> None:
        """No secret the connector holds appears in its `repr`/`str` or in any log record."""
        harness.require(Ability.CREDENTIALS)
        caplog.set_level(logging.DEBUG)
        connector = harness.make(3)
        connector.read([harness.field])
        harness.fail_next_calls(1)
        record = harness.ids()[1]
        connector.write([RecordUpdate(record, {harness.field: _new_value(record)})])

        assert harness.secrets
        shown = [repr(connector), str(connector), caplog.text, *(str(r.args) for r in caplog.records)]
        for secret in harness.secrets:
            assert all(secret not in text for text in shown), "a secret was shown"

    def test_field_values_stay_out_of_logs(self, harness: ConnectorHarness, caplog: pytest.LogCaptureFixture) -> None:
        """Reading and writing log record ids at most, never the values of customer fields."""
        caplog.set_level(logging.DEBUG)
        connector = harness.make(3)
        values = [value for record in harness.ids() if (value := harness.stored(record, harness.field))]
        connector.read([harness.field])
        connector.read_records(harness.ids(), [harness.field])
        written = _new_value(harness.ids()[0])
        connector.write([RecordUpdate(harness.ids()[0], {harness.field: written})])

        assert values
        for value in [*values, written]:
            assert value not in caplog.text
