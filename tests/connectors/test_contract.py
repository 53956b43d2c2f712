"""The connector contract (`revrules.testing.contract`) run against CSV and both CRM emulators."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from revrules.connectors.csvfile import CsvConnector
from revrules.connectors.hubspot import HubspotConnector
from revrules.connectors.salesforce import Credentials, SalesforceConnector, Tuning
from revrules.testing.contract import Ability, ConnectorContract, ConnectorHarness
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.salesforce import SalesforceEmulator

MAX_RETRIES = 2


def seeded(index: int) -> str:
    """The seeded text of record `index`: the first record's is empty."""
    return "" if index == 0 else f"Seeded territory {index}"


def no_sleep(_seconds: float) -> None:
    """Retries wait for nothing: the contract counts attempts, not time."""


class CsvHarness(ConnectorHarness):
    """A CSV export, written back in place, with list files beside it."""

    name = "csv"
    field = "Territory"
    unknown_id = "no-such-id"
    lacks: ClassVar = {
        Ability.CALL_LOG: "a CSV file is rewritten whole, with no API calls to count",
        Ability.TRANSIENT_FAULTS: "a local file has no rate limits or outages to retry",
        Ability.CREDENTIALS: "a CSV file needs no credentials",
    }

    def __init__(self, folder: Path) -> None:
        self.path = folder / "accounts.csv"
        self.lists = folder / "lists"
        self._ids: list[str] = []

    def make(self, records: int) -> CsvConnector:
        self._ids = [f"acct-{i:05d}" for i in range(records)]
        with self.path.open("w", encoding="utf-8", newline="") as sink:
            writer = csv.writer(sink)
            writer.writerow(["Id", "Name", self.field])
            writer.writerows([record, f"Account {i}", seeded(i)] for i, record in enumerate(self._ids))
        # A small batch size keeps the batch case quick; CSV takes any number per write.
        return CsvConnector(self.path, "Id", lists_dir=self.lists, batch_size=25)

    def ids(self) -> list[str]:
        return list(self._ids)

    def _rows(self) -> list[dict[str, str]]:
        with self.path.open(encoding="utf-8", newline="") as source:
            return list(csv.DictReader(source))

    def stored(self, record_id: str, field: str) -> str | None:
        found = [row for row in self._rows() if row["Id"] == record_id]
        return (found[0][field] or None) if found else None

    def refuse_writes(self, record_id: str) -> None:
        # The record is deleted from the export, as a CRM record deleted after the read.
        rows = [row for row in self._rows() if row["Id"] != record_id]
        with self.path.open("w", encoding="utf-8", newline="") as sink:
            writer = csv.DictWriter(sink, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    def stored_list(self, list_id: str, name: str) -> list[str]:
        lines = (self.lists / f"{list_id}.csv").read_text(encoding="utf-8").splitlines()
        return lines[1:]


class SalesforceHarness(ConnectorHarness):
    """The Salesforce emulator: Accounts with one Contact each, a client-credentials login."""

    name = "salesforce"
    field = "Territory__c"
    unknown_id = "001Dn0000999999AAA"
    max_retries = MAX_RETRIES
    secrets = ("contract-consumer-s3cr3t",)

    def __init__(self) -> None:
        self.emulator: SalesforceEmulator | None = None
        self._ids: list[str] = []

    def make(self, records: int) -> SalesforceConnector:
        self.close()
        self._ids = [f"001Dn0000{i:06d}AAA" for i in range(records)]
        accounts = [{"Id": record, "Name": f"Account {i}", self.field: seeded(i) or None}
                    for i, record in enumerate(self._ids)]
        contacts = [{"Id": f"003Dn0000{i:06d}AAA", "AccountId": record, "LastName": f"Person {i}"}
                    for i, record in enumerate(self._ids)]
        self.emulator = SalesforceEmulator(accounts, contacts=contacts).start()
        credentials = Credentials(auth="client_credentials", domain="acme.my", instance_url=self.emulator.url,
                                  consumer_key="3MVG9-contract", consumer_secret=self.secrets[0])
        tuning = Tuning(max_retries=self.max_retries, retry_backoff_seconds=0.001)
        return SalesforceConnector(credentials, tuning=tuning, sleep=no_sleep)

    @property
    def running(self) -> SalesforceEmulator:
        assert self.emulator is not None, "make() first"
        return self.emulator

    def ids(self) -> list[str]:
        return list(self._ids)

    def stored(self, record_id: str, field: str) -> str | None:
        value = self.running.records.get(record_id, {}).get(field)
        return None if value in (None, "") else str(value)

    def refuse_writes(self, record_id: str) -> None:
        errors = self.running.faults.record_errors
        self.running.faults.record_errors = {**(errors if isinstance(errors, dict) else {}),
                                             record_id: "refused by the contract"}

    def stored_list(self, list_id: str, name: str) -> list[str]:
        campaigns = [c["Id"] for c in self.running.campaigns.values() if c["Name"] == name]
        assert len(campaigns) == 1, f"{len(campaigns)} campaigns named {name!r}"
        contacts = self.running.contacts
        return [str(contacts[m["ContactId"]]["AccountId"]) for m in self.running.campaign_members.values()
                if m["CampaignId"] == campaigns[0]]

    def fail_next_calls(self, count: int) -> None:
        upcoming = self.running.call_count + 1
        self.running.faults.status_on_call = dict.fromkeys(range(upcoming, upcoming + count), 503)

    def api_calls(self) -> int:
        return self.running.call_count

    def write_calls(self) -> int:
        return len(self.running.requests("PATCH", "composite/sobjects"))

    def close(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None


class HubspotHarness(ConnectorHarness):
    """The HubSpot emulator: companies with a custom text property, contacts none."""

    name = "hubspot"
    field = "revrules_territory"
    unknown_id = "999999"
    max_retries = MAX_RETRIES
    secrets = ("pat-na1-contract-s3cr3t",)

    def __init__(self) -> None:
        self.emulator: HubSpotEmulator | None = None
        self._ids: list[str] = []

    def make(self, records: int) -> HubspotConnector:
        self.close()
        self._ids = [str(1000 + i) for i in range(records)]
        companies = [{"id": record, "name": f"Company {i}", self.field: seeded(i)}
                     for i, record in enumerate(self._ids)]
        self.emulator = HubSpotEmulator(companies, access_token=self.secrets[0]).start()
        return HubspotConnector(self.secrets[0], base_url=self.emulator.url, max_retries=self.max_retries,
                                retry_backoff_seconds=0.001, burst_limit=None, search_limit=None, sleep=no_sleep,
                                seed=7)

    @property
    def running(self) -> HubSpotEmulator:
        assert self.emulator is not None, "make() first"
        return self.emulator

    def ids(self) -> list[str]:
        return list(self._ids)

    def stored(self, record_id: str, field: str) -> str | None:
        return self.running.companies.get(record_id, {}).get(field) or None

    def refuse_writes(self, record_id: str) -> None:
        errors = self.running.faults.record_errors
        self.running.faults.record_errors = {**(errors if isinstance(errors, dict) else {}),
                                             record_id: "refused by the contract"}

    def stored_list(self, list_id: str, name: str) -> list[str]:
        found = [entry for entry in self.running.lists.values() if entry["name"] == name]
        assert len(found) == 1, f"{len(found)} lists named {name!r}"
        return [str(member) for member in found[0]["members"]]

    def fail_next_calls(self, count: int) -> None:
        upcoming = self.running.call_count + 1
        self.running.faults.status_on_call = dict.fromkeys(range(upcoming, upcoming + count), 503)

    def api_calls(self) -> int:
        return self.running.call_count

    def write_calls(self) -> int:
        return len(self.running.requests("POST", "/batch/update"))

    def close(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None


@pytest.fixture(params=["csv", "salesforce", "hubspot"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConnectorHarness]:
    """One harness per connector; each contract case runs once for each."""
    made: ConnectorHarness
    if request.param == "csv":
        made = CsvHarness(tmp_path)
    elif request.param == "salesforce":
        made = SalesforceHarness()
    else:
        made = HubspotHarness()
    with made:
        yield made


class TestConnectorContract(ConnectorContract):
    """CSV, Salesforce and HubSpot each keep the connector contract."""
