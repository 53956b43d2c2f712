"""Which ability Protocols each connector satisfies."""

from __future__ import annotations

from pathlib import Path

import pytest

from revrules.connectors.csvfile import CsvConnector
from revrules.connectors.hubspot import HubspotConnector
from revrules.connectors.protocols import (
    ApiBudget,
    ColumnListing,
    Connector,
    IncrementalRead,
    ListSync,
    OnlineCheck,
    OwnerLookup,
    PropertyCreation,
)
from revrules.connectors.salesforce import Credentials, SalesforceConnector

ABILITIES = [IncrementalRead, ListSync, OnlineCheck, PropertyCreation, ApiBudget, OwnerLookup, ColumnListing]


def connectors(tmp_path: Path) -> dict[str, object]:
    # Nothing is sent or read until records are asked for, so no CRM is needed here.
    return {
        "csv": CsvConnector(tmp_path / "accounts.csv", "Id", lists_dir=tmp_path),
        "hubspot": HubspotConnector("token", base_url="http://127.0.0.1:9"),
        "salesforce": SalesforceConnector(Credentials(auth="session", instance_url="http://127.0.0.1:9",
                                                      session_id="00D!x")),
    }


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("csv", {ListSync, ColumnListing}),
        ("hubspot", {IncrementalRead, ListSync, OnlineCheck, PropertyCreation, ApiBudget, OwnerLookup, ColumnListing}),
        ("salesforce", {IncrementalRead, ListSync, OnlineCheck, ApiBudget, OwnerLookup, ColumnListing}),
    ],
)
def test_each_connector_has_exactly_its_abilities(tmp_path: Path, kind: str, expected: set[type]) -> None:
    connector = connectors(tmp_path)[kind]
    assert {ability for ability in ABILITIES if isinstance(connector, ability)} == expected


def test_the_connector_protocol_is_still_importable_from_base() -> None:
    from revrules.connectors import protocols

    assert Connector is protocols.Connector
