"""The Salesforce emulator, driven by the real simple-salesforce client, against recordings."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.bulk2 import SFBulk2Handler, SFBulk2Type
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from revrules.testing.salesforce import SalesforceEmulator, load_records_csv, loopback_session

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "salesforce"
SEGMENTS = ["Enterprise", "Mid-Market", "SMB"]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def recorded_entry(entry_id: str) -> dict[str, Any]:
    entries = fixture("salesforce_error_and_job_bodies_excerpt.json")["entries"]
    return next(e for e in entries if e["id"] == entry_id)


def account_id(n: int) -> str:
    return f"001Dn00000{n:05d}AAA"


def make_accounts(count: int = 8) -> list[dict[str, object]]:
    return [
        {
            "Id": account_id(i),
            "Name": f"Account {i}",
            "Industry": "Banking" if i % 2 else "Healthcare",
            "NumberOfEmployees": str(i * 100),
            "AnnualRevenue": str(i * 1_000_000),
            "BillingCountry": "US" if i < 5 else "France",
            "Segment__c": "SMB",
            "SystemModstamp": "2024-01-01T00:00:00Z",
        }
        for i in range(count)
    ]


def same_shape(actual: Any, recorded: Any, where: str = "$") -> None:
    """Assert two JSON values have the same keys, nesting and types (values may differ)."""
    if where == "$":
        actual = json.loads(json.dumps(actual))  # simple-salesforce answers OrderedDicts
    assert type(actual) is type(recorded), f"{where}: {type(actual)} != {type(recorded)}"
    if isinstance(recorded, dict):
        assert set(actual) == set(recorded), f"{where}: keys {set(actual) ^ set(recorded)}"
        for key, value in recorded.items():
            same_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(recorded, list) and recorded and actual:
        same_shape(actual[0], recorded[0], f"{where}[0]")


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator(make_accounts(), picklists={"Segment__c": SEGMENTS}) as running:
        yield running


def account(sf: Salesforce) -> SFType:
    """`sf.Account`: simple-salesforce types attribute access as a union with its bulk handlers."""
    found = sf.Account
    assert isinstance(found, SFType)
    return found


def bulk2_account(sf: Salesforce) -> SFBulk2Type:
    """`sf.bulk2.Account`, typed (see `account`)."""
    handler = sf.bulk2
    assert isinstance(handler, SFBulk2Handler)
    return handler.Account


def content(error: SalesforceError) -> Any:
    """The decoded error body: simple-salesforce annotates `content` as bytes but keeps the parsed JSON."""
    return error.content


def client(emulator: SalesforceEmulator) -> Salesforce:
    return Salesforce(
        instance_url=emulator.url,
        session_id=emulator.session_id,
        session=loopback_session(emulator.url),
    )


def password_client(emulator: SalesforceEmulator) -> Salesforce:
    """simple-salesforce's username/password/token flow (SOAP login), which re-authenticates."""
    return Salesforce(
        username="rev@example.com",
        password="pw",
        security_token="tok",
        session=loopback_session(emulator.url),
    )


def update(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool = False) -> Any:
    body = {
        "allOrNone": all_or_none,
        "records": [{"attributes": {"type": "Account"}, **r} for r in records],
    }
    return sf.restful("composite/sobjects", method="PATCH", json=body)


# -- queries ---------------------------------------------------------------------------------


def test_query_all_follows_next_records_url_pages() -> None:
    with SalesforceEmulator(make_accounts(7), page_size=3) as emulator:
        sf = client(emulator)
        first = sf.query("SELECT Id, Name FROM Account")
        everything = sf.query_all("SELECT Id, Name FROM Account")

        assert first["done"] is False and first["totalSize"] == 7
        assert re.fullmatch(r"/services/data/v59\.0/query/01g\w{15}-3", first["nextRecordsUrl"])
        assert [r["Id"] for r in everything["records"]] == [account_id(i) for i in range(7)]
        assert everything["done"] is True
        assert emulator.calls("query/01g") == 2


def test_query_pages_have_the_recorded_shape() -> None:
    with SalesforceEmulator(make_accounts(3), page_size=2) as emulator:
        session = loopback_session(emulator.url)
        headers = {"Authorization": f"Bearer {emulator.session_id}"}
        base = f"{emulator.url}/services/data/v59.0"
        first = session.get(
            f"{base}/query", params={"q": "SELECT Name FROM Account"}, headers=headers
        ).json()
        last = session.get(emulator.url + first["nextRecordsUrl"], headers=headers).json()

    for page, name in [(first, "first"), (last, "last")]:
        recorded = fixture(f"restforce_query_paginated_{name}_page_response.json")
        # The recorded object is "Whizbang" with a Text_Label field; ours is Account.Name.
        recorded["records"] = [
            {"attributes": r["attributes"], "Name": r["Text_Label"]} for r in recorded["records"]
        ]
        same_shape(page, recorded)
    documented = recorded_entry("query_more_documented")["body_first_page"]["nextRecordsUrl"]
    pattern = r"/services/data/v\d+\.\d+/query/\w+-\d+"
    assert re.fullmatch(pattern, documented) and re.fullmatch(pattern, first["nextRecordsUrl"])
    assert "nextRecordsUrl" not in last


def test_query_records_match_a_recorded_query_key_by_key(emulator: SalesforceEmulator) -> None:
    recorded = fixture("cumulusci_rest_interactions_excerpt.json")["interactions"][2]
    assert recorded["uri"].endswith("q=SELECT+Id%2CName+FROM+Account")

    result = client(emulator).query("SELECT Id,Name FROM Account")

    same_shape(json.loads(json.dumps(result)), recorded["response_body"])
    attributes = result["records"][0]["attributes"]
    assert attributes["url"] == f"/services/data/v59.0/sobjects/Account/{account_id(0)}"


def test_count_queries_return_total_size_or_an_aggregate(emulator: SalesforceEmulator) -> None:
    sf = client(emulator)
    recorded = fixture("cumulusci_rest_interactions_excerpt.json")["interactions"][0]

    plain = sf.query("SELECT COUNT() FROM Account WHERE Industry = 'Banking'")
    aggregate = sf.query("select count(Id) from Account")

    assert dict(plain) == {"totalSize": 4, "done": True, "records": []}
    same_shape(json.loads(json.dumps(aggregate)), recorded["response_body"])
    assert aggregate["records"][0]["expr0"] == 8


def test_where_clause_supports_an_incremental_read() -> None:
    stamps = [
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
        "2024-01-02T08:00:00Z",
        "2023-12-31T23:59:59Z",
    ]
    records = [
        {"Id": account_id(i), "Name": f"A{i}", "SystemModstamp": s} for i, s in enumerate(stamps)
    ]
    with SalesforceEmulator(records) as emulator:
        soql = (
            "SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > 2024-01-01T00:00:00Z"
            f" OR (SystemModstamp = 2024-01-01T00:00:00.000+00:00 AND Id > '{account_id(0)}')"
            " ORDER BY SystemModstamp ASC, Id ASC"
        )
        rows = client(emulator).query(soql)["records"]

    assert [r["Id"] for r in rows] == [account_id(1), account_id(2)]
    assert rows[0]["SystemModstamp"] == "2024-01-01T00:00:00.000+0000"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'o\\'brien'", [3]),
        ("Name IN ('Account 1', 'ACCOUNT 2')", [1, 2]),
        ("Industry != null AND NumberOfEmployees <= 100", [0, 1]),
        ("NOT (BillingCountry = 'US')", [3]),
        ("Name LIKE 'acc%'", [0, 1, 2]),
        ("BillingCountry = null", [3]),
    ],
)
def test_where_operators_follow_soql_semantics(where: str, expected: list[int]) -> None:
    records: list[dict[str, object]] = [
        {
            "Id": account_id(i),
            "Name": f"Account {i}",
            "Industry": "Banking",
            "NumberOfEmployees": i * 100,
            "BillingCountry": "US",
        }
        for i in range(3)
    ]
    records.append({"Id": account_id(3), "Name": "O'Brien", "NumberOfEmployees": 5})
    with SalesforceEmulator(records) as emulator:
        rows = client(emulator).query(f"SELECT Id FROM Account WHERE {where} ORDER BY Id")

    assert [r["Id"] for r in rows["records"]] == [account_id(i) for i in expected]


def test_order_by_desc_and_limit(emulator: SalesforceEmulator) -> None:
    rows = client(emulator).query(
        "SELECT Name FROM Account ORDER BY NumberOfEmployees DESC NULLS LAST LIMIT 2"
    )["records"]

    assert [r["Name"] for r in rows] == ["Account 7", "Account 6"]


@pytest.mark.parametrize(
    ("soql", "code", "text"),
    [
        ("SELECT Foo FROM Account", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'"),
        ("SELECT Id FROM Contact", "INVALID_TYPE", "sObject type 'Contact' is not supported"),
        (
            "SELECT Id FROM Account WHERE Name = 'a' AND Id = 'b' OR Id = 'c'",
            "MALFORMED_QUERY",
            "unexpected token: OR",
        ),
        (
            "SELECT Id FROM Account WHERE NumberOfEmployees = '5'",
            "INVALID_FIELD",
            "must be of type double",
        ),
        (
            "SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01'",
            "INVALID_FIELD",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'unterminated",
            "MALFORMED_QUERY",
            "unexpected token",
        ),
        ("SELECT Id Account", "MALFORMED_QUERY", "unexpected token: Account"),
    ],
)
def test_bad_soql_is_a_400_error_list(
    emulator: SalesforceEmulator, soql: str, code: str, text: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        client(emulator).query(soql)

    same_shape(content(caught.value), fixture("restforce_query_error_response.json"))
    assert content(caught.value)[0]["errorCode"] == code
    assert text in content(caught.value)[0]["message"]


# -- describe --------------------------------------------------------------------------------


def test_describe_matches_the_recorded_describe_key_by_key_and_type_by_type(
    emulator: SalesforceEmulator,
) -> None:
    recorded = fixture("cumulusci_account_describe_v48_excerpt.json")
    recorded_fields = {f["name"]: f for f in recorded["fields"]}

    describe = json.loads(json.dumps(account(client(emulator)).describe()))
    fields = {f["name"]: f for f in describe["fields"]}

    assert set(describe) == set(recorded)
    for key, value in recorded.items():
        assert type(describe[key]) is type(value), key
    standard = [name for name in fields if name in recorded_fields]
    assert len(standard) == 13
    for name in standard:  # standard fields carry the recorded metadata verbatim
        assert fields[name] == recorded_fields[name], name
    same_shape(fields["Segment__c"], recorded_fields["Industry"])
    assert fields["Segment__c"]["restrictedPicklist"] is True
    assert [p["value"] for p in fields["Segment__c"]["picklistValues"]] == SEGMENTS
    assert fields["Segment__c"]["custom"] is True


def test_csv_columns_are_typed_per_describe(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(
        "\ufeffId,Name,NumberOfEmployees,AnnualRevenue,Score__c,Territory__c\n"
        f'{account_id(1)},Acme,"1,200",950000000,4.5,NA-ENT\n'
        f"{account_id(2)},Beta,,,,\n",
        encoding="utf-8",
    )
    with SalesforceEmulator(load_records_csv(path)) as emulator:
        sf = client(emulator)
        rows = sf.query(
            "SELECT NumberOfEmployees, AnnualRevenue, Score__c, Territory__c "
            "FROM Account ORDER BY Id"
        )["records"]
        types = {f["name"]: f["type"] for f in account(sf).describe()["fields"]}

    assert rows[0]["NumberOfEmployees"] == 1200
    assert rows[0]["AnnualRevenue"] == 950000000.0 and isinstance(rows[0]["AnnualRevenue"], float)
    assert rows[0]["Score__c"] == 4.5 and rows[0]["Territory__c"] == "NA-ENT"
    assert rows[1]["NumberOfEmployees"] is None
    assert types["Score__c"] == "double" and types["Territory__c"] == "string"


# -- sObject Collections -----------------------------------------------------------------------


def test_collection_update_reports_partial_failure_inside_http_200(
    emulator: SalesforceEmulator,
) -> None:
    emulator.faults.record_errors = {account_id(2): "Segment needs an owner"}
    emulator.faults.lock_rows = {account_id(3)}
    before = emulator.records[account_id(0)]["SystemModstamp"]

    results = update(
        client(emulator),
        [
            {"id": account_id(0), "Segment__c": "Enterprise"},
            {"id": account_id(1), "Segment__c": "Strategic"},
            {"id": account_id(2), "Segment__c": "SMB"},
            {"id": account_id(3), "Segment__c": "SMB"},
            {"id": "001Dn00000zzzzzAAA", "Segment__c": "SMB"},
            {"id": account_id(4), "SystemModstamp": "2020-01-01T00:00:00Z"},
            {"id": "not-an-id", "Segment__c": "SMB"},
        ],
    )

    recorded = recorded_entry("sobject_collections_partial_failure_allOrNone_false")["body"]
    same_shape(results[0], recorded[1])
    for failed in results[1:]:
        same_shape(failed, recorded[0])
    codes = [r["errors"][0]["statusCode"] if r["errors"] else None for r in results]
    assert codes == [
        None,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "UNABLE_TO_LOCK_ROW",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "MALFORMED_ID",
    ]
    assert results[1]["errors"][0]["fields"] == ["Segment__c"]
    assert results[2]["errors"][0]["message"] == "Segment needs an owner"
    stored = emulator.records
    assert stored[account_id(0)]["Segment__c"] == "Enterprise"
    assert before == "2024-01-01T00:00:00.000+0000"
    assert stored[account_id(0)]["SystemModstamp"] > before
    assert stored[account_id(1)]["SystemModstamp"] == before
    assert stored[account_id(0)]["LastModifiedDate"] == stored[account_id(0)]["SystemModstamp"]
    assert stored[account_id(1)]["Segment__c"] == "SMB"


def test_all_or_none_rolls_back_every_record(emulator: SalesforceEmulator) -> None:
    emulator.faults.record_errors = {account_id(1): "No"}

    results = update(
        client(emulator),
        [
            {"id": account_id(0), "Segment__c": "Enterprise"},
            {"id": account_id(1), "Segment__c": "Enterprise"},
        ],
        all_or_none=True,
    )

    recorded = recorded_entry("sobject_collections_failure_allOrNone_true")["body"]
    assert results[0]["errors"][0] == recorded[1]["errors"][0]
    assert results[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert emulator.records[account_id(0)]["Segment__c"] == "SMB"


def test_more_than_200_records_are_rejected_like_salesforce(emulator: SalesforceEmulator) -> None:
    sf = client(emulator)
    ok = update(sf, [{"id": account_id(i % 8), "Name": f"N{i}"} for i in range(200)])

    with pytest.raises(SalesforceMalformedRequest) as caught:
        update(sf, [{"id": account_id(i % 8), "Name": f"N{i}"} for i in range(201)])

    assert len(ok) == 200
    assert content(caught.value) == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]


def test_unknown_field_fails_the_whole_request(emulator: SalesforceEmulator) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        update(client(emulator), [{"id": account_id(0), "Foo__c": "x"}])

    same_shape(content(caught.value), fixture("restforce_write_error_response.json"))
    assert content(caught.value)[0]["errorCode"] == "INVALID_FIELD"


def test_single_record_get_and_patch(emulator: SalesforceEmulator) -> None:
    sf = client(emulator)

    status = account(sf).update(account_id(1), {"Name": "Renamed"})
    record = account(sf).get(account_id(1))
    with pytest.raises(SalesforceResourceNotFound):
        account(sf).get("001Dn00000zzzzzAAA")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        account(sf).update(account_id(1), {"Name": None})

    assert status == 204
    assert record["Name"] == "Renamed" and record["attributes"]["type"] == "Account"
    assert content(caught.value)[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_create_then_delete_then_update_reports_entity_is_deleted(
    emulator: SalesforceEmulator,
) -> None:
    sf = client(emulator)

    created = account(sf).create({"Name": "New Co", "NumberOfEmployees": 12})
    status = account(sf).delete(created["id"])
    results = update(sf, [{"id": created["id"], "Name": "Again"}])

    assert created["success"] is True and re.fullmatch(r"001\w{15}", created["id"])
    assert status == 204
    assert results[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert created["id"] not in emulator.records


# -- fault switches ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_fail_status_on_the_nth_call(emulator: SalesforceEmulator, status: int) -> None:
    sf = client(emulator)
    emulator.faults.status_on_call = {2: status}

    sf.query("SELECT Id FROM Account")
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM Account")
    sf.query("SELECT Id FROM Account")

    assert caught.value.status == status
    assert [e.status for e in emulator.request_log] == [200, status, 200]
    assert [e.call for e in emulator.request_log] == [1, 2, 3]


def test_expired_session_is_renewed_by_the_password_flow(emulator: SalesforceEmulator) -> None:
    sf = password_client(emulator)
    emulator.faults.expire_session_on_call = 2

    sf.query("SELECT Id FROM Account")
    rows = sf.query("SELECT Id FROM Account")["records"]
    record = account(sf).get(account_id(0))

    assert len(rows) == 8 and record["Id"] == account_id(0)
    steps = [(e.method, e.path.split("/")[2], e.status) for e in emulator.request_log]
    assert steps == [
        ("POST", "Soap", 200),
        ("GET", "data", 200),
        ("GET", "data", 401),
        ("POST", "Soap", 200),
        ("GET", "data", 200),
        ("GET", "data", 200),
    ]


def test_expired_session_surfaces_on_each_path_without_a_login_to_repeat(
    emulator: SalesforceEmulator,
) -> None:
    sf = client(emulator)
    emulator.expire_sessions()

    with pytest.raises(SalesforceExpiredSession) as rest:
        sf.query("SELECT Id FROM Account")
    with pytest.raises(SalesforceExpiredSession):
        update(sf, [{"id": account_id(0), "Name": "x"}])
    with pytest.raises(SalesforceExpiredSession):
        list(bulk2_account(sf).query("SELECT Id FROM Account", wait=0))

    assert content(rest.value) == fixture("restforce_expired_session_response.json")
    assert content(rest.value) == recorded_entry("invalid_session_401")["body"]


def test_locked_rows_fail_only_for_the_first_attempts(emulator: SalesforceEmulator) -> None:
    sf = client(emulator)
    emulator.faults.lock_rows = {account_id(5): 1}

    first = update(sf, [{"id": account_id(5), "Segment__c": "Enterprise"}])
    second = update(sf, [{"id": account_id(5), "Segment__c": "Enterprise"}])

    assert first[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert second[0] == {"id": account_id(5), "success": True, "errors": []}


def test_request_limit_exceeded_after_n_calls(emulator: SalesforceEmulator) -> None:
    sf = client(emulator)
    emulator.faults.daily_limit_after = 2

    sf.query("SELECT Id FROM Account")
    sf.limits()
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Account")

    recorded = recorded_entry("request_limit_exceeded")
    assert caught.value.status == 403
    assert content(caught.value) == [
        {"message": recorded["message"], "errorCode": recorded["errorCode"]}
    ]


def test_limits_report_and_decrement_the_daily_allowance(emulator: SalesforceEmulator) -> None:
    sf = client(emulator)
    emulator.faults.daily_api_max = 100
    emulator.faults.daily_api_remaining = 3

    first = sf.limits()["DailyApiRequests"]
    second = sf.limits()["DailyApiRequests"]
    sf.query("SELECT Id FROM Account")
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT Id FROM Account")

    assert dict(first) == {"Max": 100, "Remaining": 2}
    assert second["Remaining"] == 1
    assert sf.api_usage["api-usage"].total == 100


def test_delay_seconds_slows_every_response(emulator: SalesforceEmulator) -> None:
    sf = client(emulator)
    emulator.faults.delay_seconds = 0.3

    started = time.monotonic()
    sf.query("SELECT Id FROM Account")

    assert time.monotonic() - started >= 0.3


def test_faults_and_log_are_controllable_over_http(emulator: SalesforceEmulator) -> None:
    control = requests.Session()
    sf = client(emulator)
    sf.query("SELECT Id FROM Account")

    reset = control.post(f"{emulator.url}/__emulator/reset-log")
    set_faults = control.post(
        f"{emulator.url}/__emulator/faults",
        json={
            "status_on_call": {"1": 503},
            "lock_rows": {account_id(1): 1},
            "record_errors": {account_id(2): "Bad"},
        },
    )
    with pytest.raises(SalesforceGeneralError):
        sf.query("SELECT Id FROM Account")
    results = update(sf, [{"id": account_id(1), "Name": "x"}, {"id": account_id(2), "Name": "y"}])
    log = control.get(f"{emulator.url}/__emulator/log").json()
    unknown = control.post(f"{emulator.url}/__emulator/faults", json={"no_such_switch": 1})

    assert reset.status_code == 204 and set_faults.status_code == 200
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "UNABLE_TO_LOCK_ROW",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    ]
    assert [(e["method"], e["status"], e["call"]) for e in log] == [
        ("GET", 503, 1),
        ("PATCH", 200, 2),
    ]
    assert log[1]["path"] == "/services/data/v59.0/composite/sobjects" and log[1]["body_size"] > 0
    assert unknown.status_code == 400
    assert emulator.calls("composite/sobjects", method="PATCH") == 1
    assert emulator.calls("/__emulator") == 0


# -- authentication --------------------------------------------------------------------------


def test_bad_token_is_invalid_session_id(emulator: SalesforceEmulator) -> None:
    sf = Salesforce(
        instance_url=emulator.url,
        session_id="00Dbogus!token",
        session=loopback_session(emulator.url),
    )

    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Account")

    assert content(caught.value)[0]["errorCode"] == "INVALID_SESSION_ID"


def test_jwt_bearer_flow(emulator: SalesforceEmulator) -> None:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

    sf = Salesforce(
        username="rev@example.com",
        consumer_key="3MVG9",
        privatekey=pem,
        session=loopback_session(emulator.url),
    )
    total = sf.query("SELECT COUNT() FROM Account")["totalSize"]

    assert total == 8
    assert emulator.calls("/services/oauth2/token", method="POST") == 1


def test_client_credentials_flow(emulator: SalesforceEmulator) -> None:
    sf = Salesforce(
        consumer_key="3MVG9",
        consumer_secret="secret",
        domain="acme.my",
        session=loopback_session(emulator.url),
    )

    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 8
    assert sf.session_id != emulator.session_id


def test_token_endpoint_answers_with_the_oauth_shape(emulator: SalesforceEmulator) -> None:
    session = loopback_session(emulator.url)
    url = "https://login.salesforce.com/services/oauth2/token"

    token = session.post(
        url,
        data={
            "grant_type": "password",
            "client_id": "k",
            "client_secret": "s",
            "username": "u",
            "password": "p",
        },
    )
    bad_jwt = session.post(
        url,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": "not.a.jwt",
        },
    )
    unsupported = session.post(url, data={"grant_type": "magic"})

    assert set(token.json()) >= {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert token.json()["instance_url"] == emulator.url
    assert token.json()["token_type"] == "Bearer"
    assert (bad_jwt.status_code, bad_jwt.json()["error"]) == (400, "invalid_grant")
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_auth_failure_switch_refuses_logins(emulator: SalesforceEmulator) -> None:
    emulator.faults.auth_failure = True

    with pytest.raises(SalesforceAuthenticationFailed) as soap:
        password_client(emulator)
    with pytest.raises(SalesforceAuthenticationFailed) as oauth:
        Salesforce(
            consumer_key="k",
            consumer_secret="s",
            domain="acme.my",
            session=loopback_session(emulator.url),
        )

    assert soap.value.code == "INVALID_LOGIN"
    assert oauth.value.code == "invalid_grant"


def test_loopback_session_refuses_other_hosts(emulator: SalesforceEmulator) -> None:
    with pytest.raises(requests.ConnectionError):
        loopback_session(emulator.url).get("https://example.com/")


# -- Bulk API 2.0 ----------------------------------------------------------------------------


def test_bulk2_query_pages_csv_results_with_locators(emulator: SalesforceEmulator) -> None:
    emulator.faults.bulk_polls_before_complete = 2
    sf = client(emulator)

    pages = [
        str(page)  # CSV text; the stubs also allow an int
        for page in bulk2_account(sf).query(
            "SELECT Id, Name, NumberOfEmployees, SystemModstamp FROM Account ORDER BY Id",
            max_records=3,
            wait=0,
        )
    ]

    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(pages) == 3
    assert [r["Id"] for r in rows] == [account_id(i) for i in range(8)]
    assert rows[2]["NumberOfEmployees"] == "200"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", rows[0]["SystemModstamp"])
    assert pages[0].startswith('"Id","Name","NumberOfEmployees","SystemModstamp"\n')
    job_polls = [e for e in emulator.request_log if re.search(r"jobs/query/\w+$", e.path)]
    assert len(job_polls) == 3


def test_bulk2_update_reports_failed_records(emulator: SalesforceEmulator) -> None:
    emulator.faults.record_errors = {account_id(1): "Owner required"}
    emulator.faults.lock_rows = {account_id(2)}
    sf = client(emulator)
    rows = [{"Id": account_id(i), "Segment__c": "Enterprise"} for i in range(4)]
    rows.append({"Id": account_id(4), "Segment__c": "Unknown"})

    (result,) = bulk2_account(sf).update(records=rows, wait=0)
    failed = list(
        csv.DictReader(io.StringIO(bulk2_account(sf).get_failed_records(str(result["job_id"]))))
    )
    succeeded = list(
        csv.DictReader(io.StringIO(bulk2_account(sf).get_successful_records(str(result["job_id"]))))
    )
    unprocessed = bulk2_account(sf).get_unprocessed_records(str(result["job_id"]))
    job = sf.restful(f"jobs/ingest/{result['job_id']}")
    assert job is not None

    assert result["numberRecordsProcessed"] == 5 and result["numberRecordsFailed"] == 3
    assert {r["sf__Id"]: r["sf__Error"].split(":")[0] for r in failed} == {
        account_id(1): "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        account_id(2): "UNABLE_TO_LOCK_ROW",
        account_id(4): "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    }
    assert failed[0]["sf__Error"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION:Owner required:--"
    assert failed[0]["Segment__c"] == "Enterprise"
    assert [(r["sf__Id"], r["sf__Created"]) for r in succeeded] == [
        (account_id(0), "false"),
        (account_id(3), "false"),
    ]
    assert unprocessed.strip() in {"Id,Segment__c", "Segment__c,Id"}
    assert emulator.records[account_id(3)]["Segment__c"] == "Enterprise"
    assert emulator.records[account_id(1)]["Segment__c"] == "SMB"
    documented = recorded_entry("bulk2_ingest_jobinfo_complete_documented")["body"]
    assert set(job) >= set(documented)
    for key, value in documented.items():
        assert type(job[key]) is type(value), key


# -- command line ----------------------------------------------------------------------------


def test_runs_as_a_module_with_a_csv_of_accounts(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text(
        f"Id,Name,NumberOfEmployees\n{account_id(1)},Acme,250\n{account_id(2)},Beta,12\n",
        encoding="utf-8",
    )
    command = [
        sys.executable,
        "-m",
        "revrules.testing.salesforce",
        "--port",
        "0",
        "--accounts",
        str(path),
        "--picklist",
        "Segment__c=SMB,Enterprise",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines: dict[str, str] = {}
        while "session_id" not in lines:
            line = process.stdout.readline()
            assert line, "the emulator exited before announcing its URL"
            if "=" in line:
                key, value = line.strip().split("=", 1)
                lines[key] = value
        url = lines["instance_url"]
        sf = Salesforce(
            instance_url=url, session_id=lines["session_id"], session=loopback_session(url)
        )
        rows = sf.query("SELECT Name FROM Account WHERE NumberOfEmployees > 100")["records"]
        results = update(sf, [{"id": account_id(2), "Segment__c": "Enterprise"}])
    finally:
        process.terminate()
        code = process.wait(timeout=10)

    assert [r["Name"] for r in rows] == ["Acme"]
    assert results[0]["success"] is True
    assert code == 0
