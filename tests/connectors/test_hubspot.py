"""The HubSpot connector against the HubSpot emulator, through the real hubspot-api-client."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

import revrules.testing.hubspot as emulator_module
from revrules.connectors.base import ID, PropertySpec, RecordUpdate
from revrules.connectors.hubspot import HubspotConnector, RateLimiter
from revrules.errors import ApiBudgetExhaustedError, CrmError, InvalidInputError, RetriableCrmError
from revrules.testing.hubspot import HubSpotEmulator

TOKEN = "test-token"
BASE = datetime(2024, 1, 1, tzinfo=UTC)
LIST = "/crm/v3/objects/companies"
BATCH_UPDATE = "/crm/v3/objects/companies/batch/update"
SEARCH = "/crm/v3/objects/companies/search"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def companies(count: int, *, start: int = 1000) -> list[dict[str, str]]:
    """Companies `start`.. modified one second apart; every fourth has no employee count."""
    rows = []
    for i in range(count):
        row = {
            "id": str(start + i),
            "name": f"Company {i}",
            "country": "United States" if i % 2 else "Germany",
            "createdate": iso(BASE),
            "hs_lastmodifieddate": iso(BASE + timedelta(seconds=i)),
        }
        if i % 4:
            row["numberofemployees"] = str(10 * i)
        rows.append(row)
    return rows


@pytest.fixture
def emu() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(companies(250)) as emulator:
        yield emulator


class Sleeper:
    """Records the waits asked for; waits for real only when told to."""

    def __init__(self, *, real: bool = False) -> None:
        self.waits: list[float] = []
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.real:
            time.sleep(seconds)


def connect(emulator: HubSpotEmulator, **kwargs: Any) -> HubspotConnector:
    # The legacy family, whose paths these tests name; tests/connectors/test_hubspot_versions.py runs both.
    options: dict[str, Any] = {"base_url": emulator.url, "retry_backoff_seconds": 0.01, "seed": 7, "api_version": "v3"}
    options.update(kwargs)
    return HubspotConnector(options.pop("access_token", TOKEN), **options)


def updated_ids(emulator: HubSpotEmulator) -> list[str]:
    """Every record id in a batch update that answered 200 or 207, in order."""
    return [
        str(item["id"])
        for entry in emulator.request_log
        if entry.path == BATCH_UPDATE and entry.status in (200, 207)
        for item in entry.body["inputs"]
    ]


# ------------------------------------------------------------------ reading


def test_read_pages_by_100_asking_only_for_the_fields_needed(emu: HubSpotEmulator) -> None:
    frame = connect(emu).read(["name", "numberofemployees"])

    assert frame.columns == [ID, "name", "numberofemployees"]
    assert frame.height == 250
    assert frame[ID].to_list() == [str(1000 + i) for i in range(250)]
    row = frame.row(5, named=True)
    assert row == {ID: "1005", "name": "Company 5", "numberofemployees": "50"}
    assert frame.row(4, named=True)["numberofemployees"] is None
    pages = [e for e in emu.request_log if e.method == "GET" and e.path == LIST]
    assert len(pages) == math.ceil(250 / 100)
    assert all(e.query["limit"] == ["100"] for e in pages)
    assert all(",".join(e.query["properties"]).split(",") == ["name", "numberofemployees"] for e in pages)


def test_read_of_a_missing_output_property_points_at_create_properties(
    emu: HubSpotEmulator,
) -> None:
    connector = connect(emu, write_fields=["revrules_segment"])
    with pytest.raises(InvalidInputError, match="--create-properties"):
        connector.read(["name", "revrules_segment"])


def test_read_records_returns_asked_ids_in_order_and_leaves_out_unknown(
    emu: HubSpotEmulator,
) -> None:
    ids = ["1003", "999999", "1001", *[str(1000 + i) for i in range(100, 180)]]
    frame = connect(emu).read_records(ids, ["name"])

    assert frame[ID].to_list() == [i for i in ids if i != "999999"]
    assert frame.row(0) == ("1003", "Company 3")
    assert emu.count(path="/crm/v3/objects/companies/batch/read") == 1


def test_the_sdk_api_client_is_built_once(emu: HubSpotEmulator) -> None:
    connector = connect(emu)
    connector.read(["name"])
    first = connector._session.client
    connector.read(["name"])
    connector.write([RecordUpdate("1000", {"name": "x"})])
    assert connector._session.client is first


# ------------------------------------------------------------------ writing


def test_write_sends_100_inputs_a_call_each_with_a_trace_id(emu: HubSpotEmulator) -> None:
    updates = [RecordUpdate(str(1000 + i), {"name": f"New {i}"}) for i in range(250)]
    results = connect(emu).write(updates)

    assert all(r.ok for r in results) and len(results) == 250
    calls = [e for e in emu.request_log if e.path == BATCH_UPDATE]
    assert [len(e.body["inputs"]) for e in calls] == [100, 100, 50]
    traces = [item["objectWriteTraceId"] for e in calls for item in e.body["inputs"]]
    assert len(set(traces)) == 250
    assert emu.companies["1249"]["name"] == "New 249"


def test_write_maps_207_errors_back_to_their_records_and_the_rest_lands(
    emu: HubSpotEmulator,
) -> None:
    emu.faults.record_errors = {"1001"}
    updates = [
        RecordUpdate("1000", {"industry": "BANKING", "name": "A"}),
        RecordUpdate("1001", {"industry": "BANKING", "name": "B"}),
        RecordUpdate("1002", {"industry": "NOT_AN_INDUSTRY"}),
        RecordUpdate("424242", {"name": "ghost"}),
        RecordUpdate("1003", {"numberofemployees": 12.0, "is_public": True, "country": None}),
    ]
    results = {(r.record_id, r.field): r for r in connect(emu).write(updates)}

    assert len(results) == 9
    assert results["1000", "industry"].ok and results["1000", "name"].ok
    assert results["1001", "industry"].error is not None
    assert results["1001", "industry"].error.startswith("INVALID_OPTION: ")
    assert not results["1001", "name"].ok
    assert "rejected the whole record" in (results["1001", "name"].error or "")
    assert (results["1002", "industry"].error or "").startswith(
        "INVALID_OPTION: NOT_AN_INDUSTRY was not one of the allowed options"
    )
    assert (results["424242", "name"].error or "").startswith("OBJECT_NOT_FOUND: ")
    assert all(results["1003", f].ok for f in ("numberofemployees", "is_public", "country"))
    state = emu.companies
    assert state["1000"]["industry"] == "BANKING"
    assert state["1001"]["name"] == "Company 1"
    assert state["1003"]["numberofemployees"] == "12"
    assert state["1003"]["is_public"] == "true"
    assert state["1003"]["country"] is None
    assert emu.count(path=BATCH_UPDATE) == 1


# ------------------------------------------------------------ rate limits


@pytest.mark.parametrize("verb", ["read", "write", "search"])
def test_429_without_retry_after_is_retried_with_backoff(emu: HubSpotEmulator, verb: str) -> None:
    sleeper = Sleeper()
    connector = connect(emu, sleep=sleeper, search_limit=0)
    connector.columns()
    emu.reset_log()
    emu.faults.status_on_call = {1: 429}
    if verb == "read":
        assert connector.read(["name"]).height == 250
    elif verb == "write":
        assert all(r.ok for r in connector.write([RecordUpdate("1000", {"name": "x"})]))
    else:
        assert connector.read_modified_since(["name"], BASE).frame.height == 250

    assert emu.request_log[0].status == 429
    assert len(sleeper.waits) == 1 and 0.01 <= sleeper.waits[0] <= 0.02
    if verb == "write":
        assert updated_ids(emu) == ["1000"]


def test_429_with_retry_after_waits_that_long(emu: HubSpotEmulator) -> None:
    sleeper = Sleeper()
    connector = connect(emu, sleep=sleeper)
    connector.columns()
    emu.reset_log()
    emu.faults.status_on_call = {1: 429, 2: 429}
    emu.faults.retry_after = 3
    connector.write([RecordUpdate("1000", {"name": "x"})])

    assert sleeper.waits == [3.0, 3.0]
    assert updated_ids(emu) == ["1000"]


def test_a_retry_after_longer_than_a_minute_ends_the_run(emu: HubSpotEmulator) -> None:
    connector = connect(emu, sleep=Sleeper())
    connector.columns()
    emu.reset_log()
    emu.faults.status_on_call = {1: 429}
    emu.faults.retry_after = 3600
    with pytest.raises(RetriableCrmError, match="wait 3600 s"):
        connector.write([RecordUpdate("1000", {"name": "x"})])


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_and_the_batch_lands_once(emu: HubSpotEmulator, status: int) -> None:
    sleeper = Sleeper()
    connector = connect(emu, sleep=sleeper)
    connector.columns()
    emu.reset_log()
    emu.faults.status_on_call = {1: status, 2: status}
    updates = [RecordUpdate(str(1000 + i), {"name": "x"}) for i in range(150)]
    assert all(r.ok for r in connector.write(updates))

    assert [e.status for e in emu.request_log] == [status, status, 200, 200]
    assert sorted(updated_ids(emu)) == sorted(u.record_id for u in updates)
    assert len(sleeper.waits) == 2 and sleeper.waits[1] > sleeper.waits[0] / 2


def test_daily_limit_stops_at_once_without_retrying(emu: HubSpotEmulator) -> None:
    sleeper = Sleeper()
    connector = connect(emu, sleep=sleeper)
    connector.columns()
    emu.reset_log()
    emu.faults.daily_limit_after = 1
    updates = [RecordUpdate(str(1000 + i), {"name": "x"}) for i in range(150)]
    with pytest.raises(ApiBudgetExhaustedError, match="DAILY API limit"):
        connector.write(updates)
    assert [e.status for e in emu.request_log] == [200, 429]
    assert sleeper.waits == []
    assert isinstance(ApiBudgetExhaustedError("x"), CrmError)


def test_401_is_a_clear_error_that_never_shows_the_token(emu: HubSpotEmulator) -> None:
    connector = connect(emu, access_token="pat-na1-secret-value")
    with pytest.raises(CrmError, match="rejected the access token") as raised:
        connector.read(["name"])
    assert "pat-na1-secret-value" not in str(raised.value)
    assert "secret" not in repr(connector)
    assert emu.call_count == 1


def test_an_unreachable_host_is_retried_then_reported() -> None:
    with HubSpotEmulator() as emulator:
        url = emulator.url
    sleeper = Sleeper()
    connector = HubspotConnector(TOKEN, base_url=url, max_retries=2, sleep=sleeper)
    with pytest.raises(RetriableCrmError, match="cannot reach HubSpot"):
        connector.read(["name"])
    assert len(sleeper.waits) == 2


def test_the_burst_limiter_keeps_every_request_under_the_portal_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A one-second window (in the emulator and the limiter) keeps this test short;
    # the 190-per-10-seconds default is exercised by the benchmark.
    monkeypatch.setattr(emulator_module, "BURST_WINDOW_SECONDS", 1.0)
    with HubSpotEmulator(companies(3000), burst_limit=10) as emulator:
        connector = connect(emulator, burst_limit=10, burst_window_seconds=1.0)
        started = time.monotonic()
        frame = connector.read(["name"])
        elapsed = time.monotonic() - started

        assert frame.height == 3000
        assert emulator.count(status=429) == 0
        assert emulator.count(path=LIST) == 30
        assert elapsed >= 2.5


def test_the_limiter_counts_requests_other_clients_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator_module, "BURST_WINDOW_SECONDS", 1.0)
    with HubSpotEmulator(companies(500), burst_limit=10) as emulator:
        connector = connect(emulator, burst_limit=10, burst_window_seconds=1.0)
        connector.columns()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(8):
            requests.get(f"{emulator.url}/crm/v3/owners", headers=headers, timeout=5)
        connector.read(["name"])
        assert emulator.count(status=429) == 0


def test_the_search_limiter_keeps_searches_under_five_a_second() -> None:
    with HubSpotEmulator(companies(1400), burst_limit=None, search_limit=5) as emulator:
        frame = connect(emulator).read_modified_since(["name"], BASE).frame
        assert frame.height == 1400
        assert emulator.count(path=SEARCH) == 7
        assert emulator.count(status=429) == 0


def test_rate_limiter_waits_for_the_oldest_request_to_leave_the_window() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(3, 10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.acquire()
    limiter.acquire()
    assert waits == [pytest.approx(10.25)]
    limiter.observe(3, 0)
    limiter.acquire()
    assert len(waits) == 2


# ------------------------------------------------------------ incremental


def test_incremental_read_continues_past_the_10000_result_cap() -> None:
    rows = companies(10_500)
    # 300 records around the cap share one modification time, so the restart
    # re-reads some of them; each must come back once.
    tied = iso(BASE + timedelta(seconds=9_850))
    for row in rows[9_850:10_150]:
        row["hs_lastmodifieddate"] = tied
    with HubSpotEmulator(rows, burst_limit=None, search_limit=None) as emulator:
        connector = connect(emulator, search_limit=0, burst_limit=0)
        frame = connector.read_modified_since(["name"], BASE).frame

        assert frame.height == 10_500
        assert frame[ID].n_unique() == 10_500
        assert emulator.count(status=400) == 0
        searches = [e for e in emulator.request_log if e.path == SEARCH]
        # 50 pages reach the cap; the restart from the tied time reads the 650
        # records from there on in 4 more pages.
        assert len(searches) == 54
        assert {e.body["limit"] for e in searches} == {200}
        assert max(int(e.body["after"]) for e in searches) == 9_800


def test_incremental_read_starts_at_since_and_stops_the_lag_before_now() -> None:
    now = datetime(2024, 1, 1, 0, 10, tzinfo=UTC)
    with HubSpotEmulator(companies(700), burst_limit=None, search_limit=None) as emulator:
        connector = connect(emulator, now=lambda: now, incremental_lag_seconds=60)
        modified = connector.read_modified_since(["name"], BASE + timedelta(seconds=100))
        # 100..540 s: now (600 s) minus the 60 s lag
        assert modified.frame[ID].to_list() == [str(1000 + i) for i in range(100, 541)]
        assert modified.watermark == now - timedelta(seconds=60)


def test_incremental_reads_lose_nothing_to_the_search_indexing_delay() -> None:
    with HubSpotEmulator(companies(50), search_lag_seconds=0.6, search_limit=None) as emulator:
        connector = connect(emulator, incremental_lag_seconds=1.0)
        since = datetime.now(UTC) - timedelta(seconds=5)
        seen: set[str] = set()
        written: set[str] = set()
        for round_ in range(3):
            batch = [str(1000 + round_ * 10 + i) for i in range(10)]
            connector.write([RecordUpdate(record, {"name": f"r{round_}"}) for record in batch])
            written |= set(batch)
            modified = connector.read_modified_since(["name"], since)
            seen |= set(modified.frame[ID].to_list())
            assert modified.watermark is not None
            since = modified.watermark
            time.sleep(0.5)
        time.sleep(1.1)
        seen |= set(connector.read_modified_since(["name"], since).frame[ID].to_list())
        assert written <= seen


# ------------------------------------------------------------ schema


def test_check_online_reports_missing_read_only_and_invalid_options(emu: HubSpotEmulator) -> None:
    problems = connect(emu).check_online(
        ["name", "NumberOfEmployees", "industry", "revrules_segment"],
        ["industry", "revrules_segment", "hs_object_id", "revrules_note"],
        {"industry": {"BANKING", "Healthcare"}, "revrules_note": {"x"}},
    )
    assert problems == [
        "HubSpot companies have no property 'NumberOfEmployees' (did you mean 'numberofemployees'?)",
        "output property 'industry' has no option(s) 'Healthcare'; its options are: "
        + ", ".join(emulator_module.INDUSTRY_VALUES[:12])
        + f", ... ({len(emulator_module.INDUSTRY_VALUES) - 12} more)",
        "HubSpot companies have no property 'revrules_segment'; create output properties with "
        "`revrules check --online --create-properties`",
        "output property 'hs_object_id' is read-only in HubSpot and cannot be written",
        "HubSpot companies have no property 'revrules_note'; create output properties with "
        "`revrules check --online --create-properties`",
    ]


def test_create_properties_is_idempotent(emu: HubSpotEmulator) -> None:
    connector = connect(emu)
    specs = [
        PropertySpec("revrules_segment", "Segment", "enumeration", ("Enterprise", "SMB")),
        PropertySpec("revrules_reasons", "Reasons", "enumeration", ("a", "b"), multiple=True),
        PropertySpec("revrules_score", "Score", "number"),
        PropertySpec("revrules_reason", "Reason", "string"),
        PropertySpec("industry", "Industry", "enumeration", ("BANKING",)),
    ]
    done = connector.create_properties(specs)
    assert done == [
        "created property group revrules",
        "created property revrules_segment (enumeration, 2 options) in group revrules",
        "created property revrules_reasons (enumeration, 2 options) in group revrules",
        "created property revrules_score (number) in group revrules",
        "created property revrules_reason (string) in group revrules",
    ]
    assert connector.create_properties(specs) == []
    grown = [PropertySpec("revrules_segment", "Segment", "enumeration", ("Enterprise", "SMB", "Mid"))]
    assert connector.create_properties(grown) == ["added 1 option(s) to property revrules_segment"]

    definitions = emu.properties
    assert definitions["revrules_reasons"]["fieldType"] == "checkbox"
    assert definitions["revrules_score"]["type"] == "number"
    assert [o["value"] for o in definitions["revrules_segment"]["options"]] == [
        "Enterprise",
        "SMB",
        "Mid",
    ]
    assert emu.count("POST", "/crm/v3/properties/companies/groups") == 1
    assert emu.count("POST", "/crm/v3/properties/companies") == 4
    assert connector.check_online([], ["revrules_segment"], {"revrules_segment": {"Mid"}}) == []


def test_create_properties_refuses_names_hubspot_cannot_take(emu: HubSpotEmulator) -> None:
    with pytest.raises(InvalidInputError, match="'Segment__c'"):
        connect(emu).create_properties([PropertySpec("Segment__c", "Segment", "string")])
    assert emu.count("POST") == 0


def test_incremental_read_pages_again_when_a_record_leaves_the_range_mid_read(monkeypatch: pytest.MonkeyPatch) -> None:
    with HubSpotEmulator(companies(500), burst_limit=None, search_limit=None) as emulator:
        connector = connect(emulator, now=lambda: BASE + timedelta(hours=1), incremental_lag_seconds=0)
        original = connector._session.request

        def search_then_modify(*args: Any, **kwargs: Any) -> Any:
            response = original(*args, **kwargs)
            if emulator.count(path=SEARCH) == 1:
                # Record 1000 is modified after the first page: it leaves the
                # range, and every later record moves one place up.
                emulator.put_company({"id": "1000", "hs_lastmodifieddate": iso(BASE + timedelta(days=1))})
            return response

        monkeypatch.setattr(connector._session, "request", search_then_modify)
        frame = connector.read_modified_since(["name"], BASE).frame

        assert sorted(frame[ID].to_list()) == [str(1000 + i) for i in range(500)]
        searches = [e.body for e in emulator.request_log if e.path == SEARCH]
        lower_bounds = [body["filterGroups"][0]["filters"][0]["value"] for body in searches]
        assert len(set(lower_bounds)) == 2
