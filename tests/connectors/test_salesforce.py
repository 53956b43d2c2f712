"""The Salesforce connector, driving the real simple-salesforce client against the emulator."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
import requests

from revrules.config import SalesforceCrm
from revrules.connectors.base import RecordUpdate, WriteResult
from revrules.connectors.salesforce import (
    Credentials,
    SalesforceConnector,
    Tuning,
    http_session,
)
from revrules.errors import ApiBudgetExhaustedError, CrmError, InvalidInputError, RefusedError, RetriableCrmError
from revrules.testing.salesforce import ACCOUNT_FIELDS, SalesforceEmulator

SEGMENTS = ["SMB", "Mid-Market", "Enterprise"]
FIELDS = ["Name", "NumberOfEmployees", "AnnualRevenue", "Segment__c", "Score__c"]


def account_id(n: int) -> str:
    return f"001Dn0000{n:06d}AAA"


def accounts(count: int) -> list[dict[str, object]]:
    return [
        {
            "Id": account_id(i),
            "Name": f"Account {i}",
            "NumberOfEmployees": i * 10,
            "AnnualRevenue": i * 1000,
            "Segment__c": "SMB",
            "Score__c": 1.5 if i % 2 else None,
            "Active__c": i % 2 == 0,
        }
        for i in range(count)
    ]


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator(
        accounts(12),
        fields=[*_account_fields(), {"name": "Score__c", "type": "double"},
                {"name": "Active__c", "type": "boolean"}],
        picklists={"Segment__c": SEGMENTS},
        page_size=5,
    ) as running:
        yield running


def _account_fields() -> list[dict[str, object]]:
    return [dict(f) for f in ACCOUNT_FIELDS]


def session(emulator: SalesforceEmulator, sleep: Callable[[float], None] = lambda _: None,
            **tuning: float) -> SalesforceConnector:
    credentials = Credentials(auth="session", instance_url=emulator.url,
                              session_id=emulator.session_id)
    return SalesforceConnector(credentials, tuning=Tuning(**{"retry_backoff_seconds": 0.001,
                                                             **tuning}),  # type: ignore[arg-type]
                               sleep=sleep)


def client_credentials(emulator: SalesforceEmulator, **tuning: float) -> SalesforceConnector:
    credentials = Credentials(auth="client_credentials", domain="acme.my",
                              instance_url=emulator.url, consumer_key="3MVG9",
                              consumer_secret="s3cr3t-value")
    return SalesforceConnector(credentials, tuning=Tuning(**{"retry_backoff_seconds": 0.001,
                                                             **tuning}),  # type: ignore[arg-type]
                               sleep=lambda _: None)


def segment(record: int, value: str | None) -> RecordUpdate:
    return RecordUpdate(account_id(record), {"Segment__c": value})


def data_calls(emulator: SalesforceEmulator, prefix: str, method: str | None = None) -> int:
    return emulator.calls(prefix, method)


# -- reading --------------------------------------------------------------------------------


def test_read_pages_rest_query_with_the_fewest_calls(emulator: SalesforceEmulator) -> None:
    frame = session(emulator).read(FIELDS)

    assert frame.height == 12
    assert frame.columns == ["__id", *FIELDS]
    assert frame.schema == pl.Schema(dict.fromkeys(frame.columns, pl.String))
    # describe, then ceil(12 / 5) pages and no COUNT() query: the first page's totalSize decides.
    assert [e.path.split("v59.0/")[1][:9] for e in emulator.request_log] == [
        "sobjects/", "query/", "query/01g", "query/01g",
    ]


def test_read_renders_values_per_describe_type(emulator: SalesforceEmulator) -> None:
    frame = session(emulator).read(["NumberOfEmployees", "AnnualRevenue", "Score__c",
                                    "Active__c", "SystemModstamp"])
    row = frame.filter(pl.col("__id") == account_id(3)).row(0, named=True)

    assert row["NumberOfEmployees"] == "30"
    assert row["AnnualRevenue"] == "3000"  # a currency 3000.0 without the spurious .0
    assert row["Score__c"] == "1.5"
    assert row["Active__c"] == "false"
    assert row["SystemModstamp"].endswith(".000Z")
    assert frame.filter(pl.col("__id") == account_id(2))["Score__c"].to_list() == [None]


def test_read_above_the_threshold_uses_one_bulk_query_with_the_same_result(
    emulator: SalesforceEmulator,
) -> None:
    fields = ["NumberOfEmployees", "AnnualRevenue", "Score__c", "Active__c", "SystemModstamp",
              "Segment__c"]
    rest = session(emulator).read(fields)
    emulator.reset_log()
    emulator.faults.bulk_polls_before_complete = 1

    bulk = session(emulator, bulk_read_threshold=10).read(fields)

    assert bulk.sort("__id").equals(rest.sort("__id"))
    assert data_calls(emulator, "jobs/query", "POST") == 1
    assert data_calls(emulator, "query/01g") == 0  # REST paging stopped after the first page


def test_read_applies_the_where_condition_and_checks_it(emulator: SalesforceEmulator) -> None:
    credentials = Credentials(auth="session", instance_url=emulator.url,
                              session_id=emulator.session_id)
    connector = SalesforceConnector(credentials, where="NumberOfEmployees >= 50 OR Name = 'x'")

    assert connector.read(["Name"]).height == 7
    first = next(e for e in emulator.request_log if e.path.endswith("/query/"))
    assert "WHERE+%28NumberOfEmployees" in first.query
    for bad in ["Name = 'a'; DELETE", "Name = 'a') OR (Id != null", "Name = 'a' LIMIT 5",
                "Name = 'unterminated"]:
        with pytest.raises(InvalidInputError, match=r"crm\.where"):
            SalesforceConnector(credentials, where=bad)


def test_unknown_or_unsafe_field_names_never_reach_soql(emulator: SalesforceEmulator) -> None:
    connector = session(emulator)

    with pytest.raises(InvalidInputError) as caught:
        connector.read(["Name", "Segmnet__c", "Name FROM Account --", "Owner.Name"])

    message = str(caught.value)
    assert "no field 'Segmnet__c' (did you mean 'Segment__c'?)" in message
    assert "'Name FROM Account --' is not a field name" in message
    assert data_calls(emulator, "query") == 0


def test_read_records_returns_the_ids_asked_in_order(emulator: SalesforceEmulator) -> None:
    frame = session(emulator).read_records(
        [account_id(7), "not an id'", account_id(2), "001Dn0000999999AAA"], ["Segment__c"]
    )

    assert frame.rows() == [(account_id(7), "SMB"), (account_id(2), "SMB")]
    assert data_calls(emulator, "query") == 1


def test_read_modified_since_pages_by_timestamp_and_id(emulator: SalesforceEmulator) -> None:
    connector = session(emulator)
    connector.write([segment(4, "Enterprise"), segment(9, "Enterprise")])
    written = emulator.records[account_id(4)]["SystemModstamp"]
    since = dt.datetime.strptime(written[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)

    long_ago = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    everything = connector.read_modified_since(["Segment__c"], long_ago).frame
    recent = connector.read_modified_since(["Segment__c"], since - dt.timedelta(seconds=1)).frame

    assert everything.height == 12
    assert set(recent["__id"]) >= {account_id(4), account_id(9)}


# -- writing --------------------------------------------------------------------------------


def test_write_sends_typed_values_and_reports_every_field(emulator: SalesforceEmulator) -> None:
    results = session(emulator).write([
        RecordUpdate(account_id(1), {"Segment__c": "Enterprise", "NumberOfEmployees": "1200.0",
                                     "Score__c": "2.5", "Active__c": "true"}),
        RecordUpdate(account_id(2), {"Score__c": None, "Name": "Renamed"}),
    ])

    assert all(r.ok for r in results) and len(results) == 6
    stored = emulator.records
    assert stored[account_id(1)]["NumberOfEmployees"] == 1200
    assert stored[account_id(1)]["Score__c"] == 2.5
    assert stored[account_id(1)]["Active__c"] is True
    assert stored[account_id(2)]["Score__c"] is None
    assert data_calls(emulator, "composite/sobjects", "PATCH") == 1


def test_per_record_errors_are_reported_and_the_rest_lands(emulator: SalesforceEmulator) -> None:
    emulator.faults.record_errors = {account_id(2): "Segment needs an owner"}

    results = session(emulator).write([
        segment(1, "Enterprise"), segment(2, "Enterprise"), segment(3, "Strategic"),
        RecordUpdate(account_id(4), {"CreatedDate": "2020-01-01T00:00:00Z", "Segment__c": "SMB"}),
        RecordUpdate(account_id(5), {"NumberOfEmployees": "many"}),
    ])

    by_record = {(r.record_id, r.field): r for r in results}
    assert by_record[(account_id(1), "Segment__c")].ok
    assert by_record[(account_id(2), "Segment__c")].error == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Segment needs an owner"
    )
    assert by_record[(account_id(3), "Segment__c")].error.startswith(  # type: ignore[union-attr]
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: "
    )
    assert by_record[(account_id(4), "CreatedDate")].error == (
        "INVALID_FIELD_FOR_INSERT_UPDATE: CreatedDate is not updateable"
    )
    assert by_record[(account_id(4), "Segment__c")].ok
    assert by_record[(account_id(5), "NumberOfEmployees")].error == (
        "INVALID_VALUE: not a valid int value"
    )
    assert emulator.records[account_id(1)]["Segment__c"] == "Enterprise"
    assert emulator.records[account_id(2)]["Segment__c"] == "SMB"


def test_locked_rows_are_retried_alone_until_they_land(emulator: SalesforceEmulator) -> None:
    emulator.faults.lock_rows = {account_id(3): 2}

    results = session(emulator).write([segment(i, "Enterprise") for i in range(1, 6)])

    assert all(r.ok for r in results)
    patches = [e for e in emulator.request_log if e.method == "PATCH"]
    assert len(patches) == 3
    assert patches[1].body_size == patches[2].body_size < patches[0].body_size


def test_rows_still_locked_after_the_retries_are_reported(emulator: SalesforceEmulator) -> None:
    emulator.faults.lock_rows = {account_id(3)}

    results = session(emulator, max_retries=2).write([segment(i, "Enterprise") for i in (1, 3)])

    assert results[0].ok
    assert results[1].error is not None and results[1].error.startswith("UNABLE_TO_LOCK_ROW: ")
    assert data_calls(emulator, "composite/sobjects", "PATCH") == 3


def test_bulk_write_maps_failures_and_retries_locked_records(emulator: SalesforceEmulator) -> None:
    emulator.faults.record_errors = {account_id(2): "Owner required"}
    emulator.faults.lock_rows = {account_id(3): 1}
    emulator.faults.bulk_polls_before_complete = 1
    connector = session(emulator, bulk_write_threshold=3)

    results = connector.write([
        segment(1, "Enterprise"), segment(2, "Enterprise"), segment(3, "Enterprise"),
        segment(4, "Strategic"), RecordUpdate(account_id(5), {"Score__c": None}),
    ])

    errors = {r.record_id: r.error for r in results}
    assert errors == {
        account_id(1): None,
        account_id(2): "FIELD_CUSTOM_VALIDATION_EXCEPTION: Owner required",
        account_id(3): None,
        account_id(4): errors[account_id(4)],
        account_id(5): None,
    }
    assert (errors[account_id(4)] or "").startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: ")
    assert emulator.records[account_id(5)]["Score__c"] is None  # "#N/A" empties a field
    assert emulator.records[account_id(1)]["Score__c"] == 1.5  # a blank cell leaves it alone
    assert data_calls(emulator, "jobs/ingest", "POST") == 1
    assert data_calls(emulator, "composite/sobjects", "PATCH") == 1  # the locked record only


def test_check_budget_chooses_one_bulk_job_for_a_large_plan(emulator: SalesforceEmulator) -> None:
    connector = session(emulator, bulk_write_threshold=2_000, api_reserve=0)

    connector.check_budget(150)
    small = connector.batch_size
    connector.check_budget(5_000)

    assert (small, connector.batch_size) == (200, 5_000)
    assert connector.write_calls(401) == 3


def test_check_budget_refuses_when_the_reserve_would_be_spent(emulator: SalesforceEmulator) -> None:
    emulator.faults.daily_api_remaining = 53  # the limits call itself uses one
    connector = session(emulator, api_reserve=50)

    with pytest.raises(RefusedError, match=r"about 3 API call\(s\).*api_reserve keeps 50"):
        connector.check_budget(500)
    connector.check_budget(200)


# -- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_throttled_calls_are_retried_with_backoff(
    emulator: SalesforceEmulator, status: int
) -> None:
    delays: list[float] = []
    connector = session(emulator, sleep=delays.append, retry_backoff_seconds=0.5)
    emulator.faults.status_on_call = {2: status, 3: status}

    frame = connector.read(["Name"])

    assert frame.height == 12
    assert [e.status for e in emulator.request_log][:4] == [200, status, status, 200]
    assert len(delays) == 2 and 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0


def test_connection_errors_are_retried() -> None:
    credentials = Credentials(auth="session", instance_url="http://127.0.0.1:9",
                              session_id="00D!x")
    connector = SalesforceConnector(credentials, tuning=Tuning(max_retries=1),
                                    sleep=lambda _: None)

    with pytest.raises(RetriableCrmError, match="ConnectionError"):
        connector.read(["Name"])


def test_expired_session_is_renewed_on_rest_reads_and_writes(emulator: SalesforceEmulator) -> None:
    connector = client_credentials(emulator)
    emulator.faults.expire_session_on_call = 3  # a query page
    frame = connector.read(["Name"])
    emulator.faults.expire_session_on_call = emulator.request_log[-1].call + 1  # type: ignore[operator]

    results = connector.write([segment(1, "Enterprise")])

    assert frame.height == 12 and results[0].ok
    assert emulator.calls("/services/oauth2/token", "POST") == 3
    patches = [e.status for e in emulator.request_log if e.method == "PATCH"]
    assert patches == [401, 200]


def test_expired_session_is_renewed_mid_bulk_job_without_a_second_upload(
    emulator: SalesforceEmulator,
) -> None:
    connector = client_credentials(emulator, bulk_write_threshold=2)
    connector.read(["Name"])  # logs in and describes
    emulator.reset_log()
    emulator.faults.expire_session_on_call = 4  # create, upload, close, then the first poll

    results = connector.write([segment(1, "Enterprise"), segment(2, "Mid-Market")])

    assert all(r.ok for r in results)
    assert data_calls(emulator, "jobs/ingest", "POST") == 1
    assert data_calls(emulator, "jobs/ingest/", "PUT") == 1
    assert emulator.calls("/services/oauth2/token", "POST") == 1
    assert emulator.records[account_id(2)]["Segment__c"] == "Mid-Market"


def test_expired_session_is_renewed_mid_bulk_query(emulator: SalesforceEmulator) -> None:
    connector = client_credentials(emulator, bulk_read_threshold=3)
    connector.read(["Name"])
    emulator.reset_log()
    emulator.faults.expire_session_on_call = 3  # first REST page, bulk create, then the poll

    assert connector.read(["Name"]).height == 12
    # A query is safe to repeat: after logging in again the public bulk2 query starts anew.
    assert data_calls(emulator, "jobs/query", "POST") == 2
    assert emulator.calls("/services/oauth2/token", "POST") == 1


def test_session_auth_cannot_renew_and_says_so(emulator: SalesforceEmulator) -> None:
    connector = session(emulator)
    emulator.expire_sessions()

    with pytest.raises(CrmError, match=r"provide a fresh crm\.session_id") as caught:
        connector.read(["Name"])
    assert emulator.session_id not in str(caught.value)


def test_request_limit_exceeded_stops_without_another_call(emulator: SalesforceEmulator) -> None:
    connector = session(emulator)
    connector.read(["Name"])
    emulator.faults.daily_limit_after = emulator.request_log[-1].call

    with pytest.raises(ApiBudgetExhaustedError, match="REQUEST_LIMIT_EXCEEDED"):
        connector.write([segment(1, "Enterprise")])
    with pytest.raises(ApiBudgetExhaustedError):
        connector.write([segment(2, "Enterprise")])
    assert data_calls(emulator, "composite/sobjects", "PATCH") == 1


def test_request_limit_during_lock_retries_reports_what_landed(
    emulator: SalesforceEmulator,
) -> None:
    connector = session(emulator)
    connector.read(["Name"])
    emulator.faults.lock_rows = {account_id(2)}
    emulator.faults.daily_limit_after = emulator.request_log[-1].call + 1  # type: ignore[operator]

    results = connector.write([segment(1, "Enterprise"), segment(2, "Enterprise")])

    assert results[0] == WriteResult(account_id(1), "Segment__c", True, None)
    assert results[1].error is not None and results[1].error.startswith("not attempted: ")


# -- auth, routing and secrets ---------------------------------------------------------------


def test_jwt_bearer_login_signs_with_the_private_key(
    emulator: SalesforceEmulator, tmp_path: Path
) -> None:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa",
                              reason="cryptography is needed to make an RSA key for JWT")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "server.key"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    crm = SalesforceCrm(kind="salesforce", auth="jwt", username="rev@example.com",
                        consumer_key="3MVG9", private_key_file="server.key",
                        instance_url=emulator.url)

    connector = SalesforceConnector.from_config(crm, base=tmp_path)

    assert connector.read(["Name"]).height == 12
    assert emulator.calls("/services/oauth2/token", "POST") == 1


def test_password_login_uses_the_oauth_flow_and_warns_of_its_retirement(
    emulator: SalesforceEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """SOAP login() is unavailable from API 65.0 and retired in Summer '27 (Salesforce release
    notes); the OAuth username-password flow takes the security token appended to the password
    (REST API Developer Guide, "OAuth 2.0 Username-Password Flow")."""
    crm = SalesforceCrm.model_validate({
        "kind": "salesforce", "auth": "password", "username": "rev@example.com",
        "password": "pw", "security_token": "tok", "consumer_key": "3MVG9", "consumer_secret": "cs",
        "instance_url": emulator.url,
    })

    assert SalesforceConnector.from_config(crm, base=Path()).read(["Name"]).height == 12
    assert emulator.calls("/services/Soap/u/", "POST") == 0
    assert emulator.calls("/services/oauth2/token", "POST") == 1
    assert "Summer '27" in caplog.text
    assert "pwtok" not in caplog.text


def test_login_failure_is_a_crm_error_without_secrets(emulator: SalesforceEmulator) -> None:
    emulator.faults.auth_failure = True

    with pytest.raises(CrmError, match="login failed") as caught:
        client_credentials(emulator).read(["Name"])
    assert "s3cr3t-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({"auth": "jwt", "username": "u"}, "consumer_key, private_key_file"),
        ({"auth": "client_credentials", "consumer_key": "k", "consumer_secret": "s"}, "instance_url"),
        ({"auth": "password", "username": "u", "password": "p"}, "consumer_key, consumer_secret"),
        ({"auth": "session", "session_id": "x"}, "instance_url"),
    ],
)
def test_missing_auth_keys_are_named(settings: dict[str, str], missing: str) -> None:
    crm = SalesforceCrm.model_validate({"kind": "salesforce", **settings})

    with pytest.raises(InvalidInputError, match=missing):
        SalesforceConnector.from_config(crm, base=Path())


def test_loopback_routing_never_reaches_another_host(emulator: SalesforceEmulator) -> None:
    routed = http_session(emulator.url, timeout=5)
    plain = http_session("https://acme.my.salesforce.com", timeout=5)

    with pytest.raises(requests.ConnectionError, match="only reaches"):
        routed.get("https://example.com/")
    assert routed.get(f"https://{emulator.url.removeprefix('http://')}/services/data/").ok
    assert plain.adapters["https://"]._loopback is None  # type: ignore[attr-defined]


def test_secrets_stay_out_of_logs_and_reprs(
    emulator: SalesforceEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connector = client_credentials(emulator)
    emulator.faults.expire_session_on_call = 2

    connector.read(["Name"])

    assert "s3cr3t-value" not in repr(connector.credentials)
    assert "s3cr3t-value" not in caplog.text
    assert emulator.session_id not in caplog.text


# -- check --online -------------------------------------------------------------------------


def test_check_online_lists_every_problem(emulator: SalesforceEmulator) -> None:
    problems = session(emulator).check_online(
        ["Name", "NumberOfEmployes", "BillingAddress"],
        ["Segment__c", "CreatedDate"],
        {"Segment__c": {"SMB", "Strategic"}, "Name": {"anything"}},
    )

    assert problems == [
        "Account.NumberOfEmployes: no such field (did you mean 'NumberOfEmployees'?)",
        "Account.BillingAddress: no such field (did you mean 'BillingState'?)",
        "Account.CreatedDate: the field is not updateable",
        "Account.Segment__c: the rulebook can write 'Strategic', which is not a value of this "
        "restricted picklist",
    ]
    assert session(emulator).check_online(["Name"], ["Segment__c"], {"Segment__c": {"SMB"}}) == []
