"""Tests for the HubSpot emulator, driven through the real hubspot-api-client."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hubspot.crm.companies as hs_companies
import hubspot.crm.lists as hs_lists
import hubspot.crm.properties as hs_properties
import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
)
from hubspot.crm.companies.exceptions import ServiceException, UnauthorizedException
from hubspot.crm.lists import ListCreateRequest, ListSearchRequest, MembershipChangeRequest
from hubspot.crm.lists.exceptions import NotFoundException as ListsNotFoundException
from hubspot.crm.lists.exceptions import UnauthorizedException as ListsUnauthorizedException
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyUpdate
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from revrules.testing.hubspot import (
    DEFAULT_SEARCH_CAP,
    INDUSTRY_VALUES,
    HubSpotEmulator,
    column_to_property,
    load_companies_csv,
)
from revrules.testing.hubspot.cli import _rule, owners_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hubspot"
TOKEN = "test-token"
BASE = datetime(2024, 1, 1, tzinfo=UTC)
INDUSTRIES = ("COMPUTER_SOFTWARE", "HOSPITAL_HEALTH_CARE", "BANKING")
COUNTRIES = ("United States", "Germany", "Japan")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_companies(count: int) -> list[dict[str, str]]:
    """Companies 1000.. with a modified date one day apart; every fifth has no industry."""
    rows = []
    for i in range(count):
        row = {
            "id": str(1000 + i),
            "name": f"Company {i:03d}",
            "domain": f"c{i}.example.com",
            "numberofemployees": str(10 * i),
            "country": COUNTRIES[i % 3],
            "is_public": "true" if i % 2 else "false",
            "createdate": iso(BASE),
            "hs_lastmodifieddate": iso(BASE + timedelta(days=i)),
        }
        if i % 5:
            row["industry"] = INDUSTRIES[i % 3]
        rows.append(row)
    return rows


@pytest.fixture
def emu() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(make_companies(25), burst_limit=None, search_limit=None) as emulator:
        yield emulator


def client_for(emulator: HubSpotEmulator, **kwargs: Any) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=emulator.url, **kwargs)


def call(emulator: HubSpotEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
    return requests.request(method, emulator.url + path, headers=headers, timeout=10, **kwargs)


def search(emulator: HubSpotEmulator, **body: Any) -> Any:
    request = PublicObjectSearchRequest(**body)
    return client_for(emulator).crm.companies.search_api.do_search(request)


# ------------------------------------------------------------ schema checks


SCHEMAS = json.loads((FIXTURES / "openapi_schemas.json").read_text(encoding="utf-8"))["specs"]
RECORDED = {
    entry["id"]: entry
    for entry in json.loads(
        (FIXTURES / "hubspot_error_and_batch_bodies_from_public_sources.json").read_text(
            encoding="utf-8"
        )
    )["entries"]
}


def check(value: Any, spec: str, name: str) -> None:
    """Assert that value satisfies the named schema: required keys, types, enums, formats."""
    schemas = SCHEMAS[spec]["schemas"]
    _check(value, schemas[name], schemas, name)


def _check(value: Any, schema: dict[str, Any], schemas: dict[str, Any], path: str) -> None:
    if "$ref" in schema:
        target = schema["$ref"].rsplit("/", 1)[1]
        if target in schemas:  # pruned schemas (list filters) are not checked
            _check(value, schemas[target], schemas, f"{path}<{target}>")
        return
    if value is None:
        assert schema.get("nullable"), f"{path}: null where the schema does not allow it"
        return
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind == "object":
        assert isinstance(value, dict), f"{path}: expected object, got {value!r}"
        for key in schema.get("required", []):
            assert key in value, f"{path}: missing required {key!r}"
        known = schema.get("properties", {})
        for key, item in value.items():
            if key in known:
                _check(item, known[key], schemas, f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                _check(item, schema["additionalProperties"], schemas, f"{path}.{key}")
    elif kind == "array":
        assert isinstance(value, list), f"{path}: expected array, got {value!r}"
        for index, item in enumerate(value):
            _check(item, schema.get("items", {}), schemas, f"{path}[{index}]")
    elif kind == "string":
        assert isinstance(value, str), f"{path}: expected string, got {value!r}"
        if "enum" in schema:
            assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
        if schema.get("format") in {"date-time", "datetime"}:
            datetime.fromisoformat(value)
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r}"
    elif kind == "number":
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: expected boolean, got {value!r}"


# ----------------------------------------------------------------- reading


def test_list_pages_follow_paging_next_after_and_stop_on_last_page(
    emu: HubSpotEmulator,
) -> None:
    api = client_for(emu).crm.companies.basic_api
    seen, after, pages = [], None, 0
    while True:
        page = api.get_page(limit=10, after=after, properties=["name"])
        pages += 1
        seen += [c.id for c in page.results]
        if page.paging is None:
            break
        assert page.paging.next.link.startswith(emu.url + "/crm/v3/objects/companies?")
        after = page.paging.next.after
    assert pages == 3
    assert seen == [str(1000 + i) for i in range(25)]
    assert len(client_for(emu).crm.companies.get_all(properties=["name"])) == 25


def test_list_serves_only_requested_properties_all_as_strings(emu: HubSpotEmulator) -> None:
    wanted = ["numberofemployees", "is_public", "annualrevenue", "hs_lastmodifieddate"]
    page = client_for(emu).crm.companies.basic_api.get_page(limit=3, properties=wanted)
    props = page.results[1].properties
    assert set(props) == set(wanted)
    assert props["numberofemployees"] == "10"
    assert props["is_public"] == "true"
    assert props["annualrevenue"] is None
    assert props["hs_lastmodifieddate"] == "2024-01-02T00:00:00.000Z"
    # The SDK repeats `properties=`; the comma-separated form is accepted too.
    raw = call(emu, "GET", "/crm/v3/objects/companies?limit=1&properties=name,domain").json()
    assert set(raw["results"][0]["properties"]) == {"name", "domain"}
    assert raw["results"][0]["archived"] is False


def test_list_without_properties_returns_the_default_set(emu: HubSpotEmulator) -> None:
    page = call(emu, "GET", "/crm/v3/objects/companies?limit=1").json()
    assert set(page["results"][0]["properties"]) == {
        "name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id",
    }  # fmt: skip
    assert page["results"][0]["properties"]["hs_object_id"] == "1000"


def test_list_limit_above_100_is_rejected(emu: HubSpotEmulator) -> None:
    response = call(emu, "GET", "/crm/v3/objects/companies?limit=101")
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_get_one_company_and_404(emu: HubSpotEmulator) -> None:
    api = client_for(emu).crm.companies.basic_api
    assert api.get_by_id("1003", properties=["name"]).properties == {"name": "Company 003"}
    with pytest.raises(hs_companies.ApiException) as caught:
        api.get_by_id("999999")
    assert caught.value.status == 404


# ------------------------------------------------------------------ search


def test_search_by_modified_date_sorted_ascending_200_per_page(emu: HubSpotEmulator) -> None:
    start, end = BASE + timedelta(days=5), BASE + timedelta(days=15)
    result = search(
        emu,
        filter_groups=[
            FilterGroup(
                filters=[
                    Filter(property_name="hs_lastmodifieddate", operator="GTE", value=iso(start)),
                    Filter(
                        property_name="hs_lastmodifieddate",
                        operator="LT",
                        value=str(int(end.timestamp() * 1000)),
                    ),
                ]
            )
        ],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        properties=["hs_lastmodifieddate"],
        limit=200,
    )
    assert result.total == 10
    assert [c.id for c in result.results] == [str(1000 + i) for i in range(5, 15)]
    assert result.paging is None


def test_search_between_descending_string_sort_and_offsets(emu: HubSpotEmulator) -> None:
    low, high = iso(BASE + timedelta(days=2)), iso(BASE + timedelta(days=8))
    body = {
        "filter_groups": [
            FilterGroup(
                filters=[
                    Filter(
                        property_name="hs_lastmodifieddate",
                        operator="BETWEEN",
                        value=low,
                        high_value=high,
                    )
                ]
            )
        ],
        "sorts": ["-hs_lastmodifieddate"],
        "limit": 4,
    }
    first = search(emu, **body)
    assert first.total == 7
    assert [c.id for c in first.results] == ["1008", "1007", "1006", "1005"]
    assert first.paging.next.after == "4"
    second = search(emu, **body, after=first.paging.next.after)
    assert [c.id for c in second.results] == ["1004", "1003", "1002"]
    assert second.paging is None
    as_json = search(emu, **{**body, "sorts": [json.dumps({"propertyName": "name"})]})
    assert [c.id for c in as_json.results] == ["1002", "1003", "1004", "1005"]


def flt(name: str, operator: str, **extra: Any) -> dict[str, Any]:
    return {"propertyName": name, "operator": operator, **extra}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([flt("industry", "EQ", value="banking")], 6),
        ([flt("country", "NEQ", value="Japan")], 17),
        ([flt("numberofemployees", "GT", value="200")], 4),
        ([flt("numberofemployees", "LTE", value="20")], 3),
        ([flt("industry", "IN", values=["BANKING", "COMPUTER_SOFTWARE"])], 13),
        ([flt("industry", "NOT_IN", values=["BANKING"])], 19),
        ([flt("industry", "HAS_PROPERTY")], 20),
        ([flt("industry", "NOT_HAS_PROPERTY")], 5),
        ([flt("domain", "CONTAINS_TOKEN", value="c1*")], 11),
        ([flt("is_public", "EQ", value="true")], 12),
        ([flt("industry", "HAS_PROPERTY"), flt("country", "EQ", value="germany")], 7),
    ],
)
def test_search_operators(emu: HubSpotEmulator, filters: list[Any], expected: int) -> None:
    body = {"filterGroups": [{"filters": filters}], "limit": 1}
    response = call(emu, "POST", "/crm/v3/objects/companies/search", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == expected


def test_search_filter_groups_are_ored(emu: HubSpotEmulator) -> None:
    groups = [
        {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": "1001"}]},
        {"filters": [{"propertyName": "name", "operator": "EQ", "value": "Company 002"}]},
    ]
    body = {"filterGroups": groups}
    found = call(emu, "POST", "/crm/v3/objects/companies/search", json=body).json()
    assert sorted(r["id"] for r in found["results"]) == ["1001", "1002"]


def test_search_rejects_unknown_operator_property_and_big_limit(emu: HubSpotEmulator) -> None:
    path = "/crm/v3/objects/companies/search"
    bad_op = {"filterGroups": [{"filters": [flt("name", "LIKE")]}]}
    bad_prop = {"filterGroups": [{"filters": [flt("nope", "EQ", value="x")]}]}
    too_many_groups: dict[str, Any] = {"filterGroups": [{"filters": []}] * 6}
    bodies: list[dict[str, Any]] = [bad_op, bad_prop, {"limit": 201}, too_many_groups]
    for body in bodies:
        response = call(emu, "POST", path, json=body)
        assert response.status_code == 400, body
        assert response.json()["category"] == "VALIDATION_ERROR"


def test_search_paging_past_the_cap_answers_400() -> None:
    with HubSpotEmulator(
        make_companies(60), burst_limit=None, search_limit=None, search_cap=50
    ) as emulator:
        after: str | None = None
        fetched = 0
        with pytest.raises(hs_companies.ApiException) as caught:
            while True:
                page = search(emulator, limit=20, after=after)
                assert page.total == 60
                fetched += len(page.results)
                after = page.paging.next.after
        assert fetched == 50
        assert after == "50"
        assert caught.value.status == 400
        assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"
    assert DEFAULT_SEARCH_CAP == 10_000
    with HubSpotEmulator(burst_limit=None, search_limit=None) as default_cap:
        body = {"limit": 200, "after": "10000"}
        response = call(default_cap, "POST", "/crm/v3/objects/companies/search", json=body)
        assert response.status_code == 400
        body["after"] = "9999"
        response = call(default_cap, "POST", "/crm/v3/objects/companies/search", json=body)
        assert response.status_code == 200


def test_search_sees_writes_only_after_the_lag() -> None:
    with HubSpotEmulator(
        make_companies(3), burst_limit=None, search_limit=None, search_lag_seconds=0.4
    ) as emulator:
        client = client_for(emulator)
        client.crm.companies.basic_api.update("1001", {"properties": {"name": "Renamed"}})
        wanted = FilterGroup(filters=[Filter(property_name="name", operator="EQ", value="Renamed")])
        assert search(emulator, filter_groups=[wanted]).total == 0
        fresh = client.crm.companies.basic_api.get_by_id("1001", properties=["name"])
        assert fresh.properties["name"] == "Renamed"
        time.sleep(0.5)
        assert search(emulator, filter_groups=[wanted]).total == 1


# ------------------------------------------------------------------- writes


def batch(*inputs: SimplePublicObjectBatchInput) -> BatchInputSimplePublicObjectBatchInput:
    return BatchInputSimplePublicObjectBatchInput(inputs=list(inputs))


def test_batch_update_all_valid_returns_200_and_bumps_modified_date(
    emu: HubSpotEmulator,
) -> None:
    api = client_for(emu).crm.companies.batch_api
    result = api.update(
        batch(
            SimplePublicObjectBatchInput(
                id="1001",
                properties={"numberofemployees": 1200, "industry": "BANKING"},
                object_write_trace_id="w-1",
            ),
            SimplePublicObjectBatchInput(id="1002", properties={"is_public": True}),
        )
    )
    assert isinstance(result, BatchResponseSimplePublicObject)
    assert result.status == "COMPLETE"
    assert result.results[0].object_write_trace_id == "w-1"
    stored = emu.companies
    assert stored["1001"]["numberofemployees"] == "1200"
    assert stored["1002"]["is_public"] == "true"
    assert str(stored["1001"]["hs_lastmodifieddate"]) > "2024-01-02T00:00:00.000Z"
    assert emu.count("POST", "/crm/v3/objects/companies/batch/update", status=200) == 1


def test_batch_update_partial_failure_returns_207_with_errors_mapped_to_ids(
    emu: HubSpotEmulator,
) -> None:
    api = client_for(emu).crm.companies.batch_api
    result = api.update(
        batch(
            SimplePublicObjectBatchInput(id="1001", properties={"industry": "Fintech"},
                                         object_write_trace_id="w-1"),
            SimplePublicObjectBatchInput(id="1002", properties={"segment__c": "SMB"},
                                         object_write_trace_id="w-2"),
            SimplePublicObjectBatchInput(id="1003", properties={"name": "Fine"},
                                         object_write_trace_id="w-3"),
            SimplePublicObjectBatchInput(id="424242", properties={"name": "Ghost"}),
            SimplePublicObjectBatchInput(id="1004", properties={"numberofemployees": "1,200"}),
        )
    )  # fmt: skip
    assert isinstance(result, BatchResponseSimplePublicObjectWithErrors)
    assert result.status == "COMPLETE"
    assert result.num_errors == 4
    assert [r.id for r in result.results] == ["1003"]
    by_id = {e.context["ids"][0]: e for e in result.errors}
    assert by_id["424242"].category == "OBJECT_NOT_FOUND"
    assert by_id["1001"].category == "VALIDATION_ERROR"
    assert by_id["1001"].context["objectWriteTraceId"] == ["w-1"]
    assert by_id["1001"].errors[0].code == "INVALID_OPTION"
    assert "Fintech was not one of the allowed options: [ACCOUNTING," in by_id["1001"].message
    assert by_id["1002"].errors[0].code == "PROPERTY_DOESNT_EXIST"
    assert by_id["1004"].errors[0].code == "INVALID_FLOAT"
    stored = emu.companies
    assert stored["1003"]["name"] == "Fine"
    assert stored["1001"]["industry"] == "HOSPITAL_HEALTH_CARE"


def test_batch_update_over_100_inputs_is_rejected_whole(emu: HubSpotEmulator) -> None:
    inputs = [
        SimplePublicObjectBatchInput(id=str(1000 + i % 25), properties={"name": "x"})
        for i in range(101)
    ]
    with pytest.raises(hs_companies.ApiException) as caught:
        client_for(emu).crm.companies.batch_api.update(batch(*inputs))
    assert caught.value.status == 400
    body = json.loads(caught.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert "100" in body["message"]
    assert all(c["name"] != "x" for c in emu.companies.values())


def test_read_only_and_single_patch_validation(emu: HubSpotEmulator) -> None:
    api = client_for(emu).crm.companies.basic_api
    with pytest.raises(hs_companies.ApiException) as caught:
        api.update("1001", {"properties": {"hs_lastmodifieddate": "2020-01-01"}})
    assert caught.value.status == 400
    assert "READ_ONLY_VALUE" in json.loads(caught.value.body)["message"]


# ------------------------------------------------------------------- faults


def test_invalid_option_fault_fails_chosen_records_with_207(emu: HubSpotEmulator) -> None:
    emu.faults.record_errors = {"1002"}
    result = client_for(emu).crm.companies.batch_api.update(
        batch(
            SimplePublicObjectBatchInput(id="1001", properties={"industry": "BANKING"}),
            SimplePublicObjectBatchInput(
                id="1002", properties={"industry": "BANKING"}, object_write_trace_id="t2"
            ),
        )
    )
    assert isinstance(result, BatchResponseSimplePublicObjectWithErrors)
    (error,) = result.errors
    assert error.context == {"ids": ["1002"], "objectWriteTraceId": ["t2"]}
    assert error.errors[0].code == "INVALID_OPTION"
    assert emu.companies["1001"]["industry"] == "BANKING"


@pytest.mark.parametrize("retry_after", [0, None])
def test_injected_429_with_and_without_retry_after(
    emu: HubSpotEmulator, retry_after: int | None
) -> None:
    emu.faults.retry_after = retry_after
    emu.faults.status_on_call = {1: 429}
    first = call(emu, "GET", "/crm/v3/objects/companies")
    assert first.status_code == 429
    assert first.headers.get("Retry-After") == (None if retry_after is None else "0")
    body = first.json()
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert call(emu, "GET", "/crm/v3/objects/companies").status_code == 200


def test_sdk_surfaces_429_and_urllib3_retry_recovers_only_when_posts_are_allowed(
    emu: HubSpotEmulator,
) -> None:
    emu.faults.retry_after = 0
    emu.faults.status_on_call = {1: 429}
    with pytest.raises(hs_companies.ApiException) as caught:
        search(emu, limit=1)
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "0"
    # urllib3's Retry skips POST by default: a 429 on search is not retried ...
    emu.reset_log()
    emu.faults.status_on_call = {1: 429}
    default_retry = client_for(emu, retry=Retry(total=3, status_forcelist=(429,)))
    with pytest.raises(hs_companies.ApiException):
        default_retry.crm.companies.search_api.do_search(PublicObjectSearchRequest(limit=1))
    # ... unless allowed_methods=None.
    emu.reset_log()
    emu.faults.status_on_call = {1: 429}
    retry_all = Retry(total=3, status_forcelist=(429,), allowed_methods=None)
    recovered = client_for(emu, retry=retry_all).crm.companies.search_api.do_search(
        PublicObjectSearchRequest(limit=1)
    )
    assert recovered.total == 25
    assert [e.status for e in emu.request_log] == [429, 200]
    # Exhausted retries raise urllib3's MaxRetryError, not an ApiException.
    emu.reset_log()
    emu.faults.status_on_call = {1: 429, 2: 429, 3: 429}
    short = client_for(emu, retry=Retry(total=1, status_forcelist=(429,)))
    with pytest.raises(MaxRetryError):
        short.crm.companies.basic_api.get_page()


def test_daily_limit_answers_429_daily_after_n_calls(emu: HubSpotEmulator) -> None:
    emu.faults.daily_limit_after = 2
    statuses = [call(emu, "GET", "/crm/v3/owners").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    body = emu.request_log[-1].response
    assert body["policyName"] == "DAILY"
    assert body["message"] == "You have reached your daily limit."


def test_the_daily_headers_count_every_call_as_the_limit_does(emu: HubSpotEmulator) -> None:
    """`X-HubSpot-RateLimit-Daily-Remaining` is what is left with this call counted (changelog 2018-11-06
    "Rate limit information headers will be included in HTTP responses"): the last call the limit lets
    through reports 0. Searches carry no rate limit headers (developer community, replies to "Rate limit
    headers will now appear for OAuth authenticated calls"), nor does any call of a portal that sends
    no daily headers, as for an OAuth app (that changelog: no daily limit for such calls)."""
    emu.faults.daily_limit_after = 3
    answers = [call(emu, "GET", "/crm/v3/owners") for _ in range(2)]
    searched = call(emu, "POST", "/crm/v3/objects/companies/search", json={"limit": 1})
    over = call(emu, "GET", "/crm/v3/owners")
    assert [a.headers["X-HubSpot-RateLimit-Daily-Remaining"] for a in answers] == ["2", "1"]
    assert answers[0].headers["X-HubSpot-RateLimit-Daily"] == "3"
    assert searched.status_code == 200
    assert not [name for name in searched.headers if name.lower().startswith("x-hubspot-ratelimit")]
    assert (over.status_code, over.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == (429, "0")
    emu.faults.daily_limit_after = None
    emu.faults.no_daily_headers = True
    oauth = call(emu, "GET", "/crm/v3/owners")
    assert oauth.status_code == 200
    assert "X-HubSpot-RateLimit-Daily" not in oauth.headers
    assert "X-HubSpot-RateLimit-Daily-Remaining" not in oauth.headers


@pytest.mark.parametrize("status", [500, 502, 503])
def test_injected_server_errors_raise_service_exception(emu: HubSpotEmulator, status: int) -> None:
    emu.faults.status_on_call = {1: status}
    with pytest.raises(ServiceException) as caught:
        client_for(emu).crm.companies.basic_api.get_page()
    assert caught.value.status == status
    assert json.loads(caught.value.body)["status"] == "error"


def test_unauthorized_switch_and_wrong_token_answer_401(emu: HubSpotEmulator) -> None:
    wrong = HubSpot(access_token="nope", host=emu.url)
    with pytest.raises(UnauthorizedException):
        wrong.crm.companies.basic_api.get_page()
    emu.faults.auth_failure = True
    with pytest.raises(ListsUnauthorizedException) as caught:
        client_for(emu).crm.lists.lists_api.get_by_id("1")
    body = json.loads(caught.value.body)
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert set(body) >= {"status", "message", "correlationId", "category"}
    # Each sub-package has its own exception classes.
    assert not issubclass(hs_lists.ApiException, hs_companies.ApiException)


def test_delay_switch_slows_every_call(emu: HubSpotEmulator) -> None:
    emu.faults.delay_seconds = 0.2
    started = time.monotonic()
    call(emu, "GET", "/crm/v3/owners")
    assert time.monotonic() - started >= 0.2


def test_faults_and_log_over_http(emu: HubSpotEmulator) -> None:
    switches: dict[str, Any] = {
        "status_on_call": {"2": 503},
        "retry_after": 3,
        "record_errors": ["1001"],
    }
    answer = requests.post(emu.url + "/__emulator/faults", json=switches, timeout=5).json()
    assert answer["status_on_call"] == {"2": 503}
    assert emu.faults.record_errors == {"1001"}
    assert call(emu, "GET", "/crm/v3/owners").status_code == 200
    assert call(emu, "GET", "/crm/v3/owners").status_code == 503
    log = requests.get(emu.url + "/__emulator/log", timeout=5).json()["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/crm/v3/owners", 200),
        ("GET", "/crm/v3/owners", 503),
    ]
    assert requests.post(emu.url + "/__emulator/reset-log", timeout=5).status_code == 204
    assert emu.request_log == []
    requests.post(emu.url + "/__emulator/faults", json={"reset": True}, timeout=5)
    assert emu.faults.status_on_call == {}
    bad = requests.post(emu.url + "/__emulator/faults", json={"typo": 1}, timeout=5)
    assert bad.status_code == 400


# -------------------------------------------------------------- rate limits


def test_burst_limit_answers_429_ten_secondly_rolling_with_headers() -> None:
    with HubSpotEmulator(make_companies(2), burst_limit=5, search_limit=None) as emulator:
        responses = [call(emulator, "GET", "/crm/v3/owners") for _ in range(6)]
        assert [r.status_code for r in responses] == [200] * 5 + [429]
        remaining = [int(r.headers["X-HubSpot-RateLimit-Remaining"]) for r in responses]
        assert remaining == [4, 3, 2, 1, 0, 0]
        assert all(r.headers["X-HubSpot-RateLimit-Max"] == "5" for r in responses)
        assert responses[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert responses[-1].json()["policyName"] == "TEN_SECONDLY_ROLLING"
        assert emulator.count(status=429) == 1


def test_search_limit_per_second() -> None:
    with HubSpotEmulator(make_companies(2), burst_limit=None, search_limit=2) as emulator:
        path = "/crm/v3/objects/companies/search"
        codes = [call(emulator, "POST", path, json={}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert emulator.request_log[-1].response["policyName"] == "SECONDLY"
        assert call(emulator, "GET", "/crm/v3/owners").status_code == 200
        time.sleep(1.05)
        assert call(emulator, "POST", path, json={}).status_code == 200


# ---------------------------------------------------- properties and owners


def test_properties_and_groups_read_and_create(emu: HubSpotEmulator) -> None:
    props = client_for(emu).crm.properties
    names = {p.name for p in props.core_api.get_all("companies").results}
    assert {"name", "industry", "numberofemployees", "hubspot_owner_id", "is_public"} <= names
    industry = props.core_api.get_by_name("companies", "industry")
    assert industry.type == "enumeration"
    assert industry.field_type == "select"
    groups = {g.name for g in props.groups_api.get_all("companies").results}
    assert "companyinformation" in groups

    created_group = props.groups_api.create(
        "companies", PropertyGroupCreate(name="revrules", label="revrules")
    )
    assert created_group.name == "revrules"
    segment = PropertyCreate(
        name="segment__c",
        label="Segment",
        type="enumeration",
        field_type="select",
        group_name="revrules",
        options=[OptionInput(label="SMB", value="SMB", hidden=False, display_order=0)],
    )
    assert props.core_api.create("companies", segment).name == "segment__c"
    with pytest.raises(hs_properties.ApiException) as caught:
        props.core_api.create("companies", segment)
    assert caught.value.status == 409
    options = [
        OptionInput(label="SMB", value="SMB", hidden=False, display_order=0),
        OptionInput(label="Enterprise", value="Enterprise", hidden=False, display_order=1),
    ]
    updated = props.core_api.update("companies", "segment__c", PropertyUpdate(options=options))
    assert [o.value for o in updated.options] == ["SMB", "Enterprise"]
    result = client_for(emu).crm.companies.batch_api.update(
        batch(
            SimplePublicObjectBatchInput(id="1001", properties={"segment__c": "Enterprise"}),
            SimplePublicObjectBatchInput(id="1002", properties={"segment__c": "Mid"}),
        )
    )
    assert isinstance(result, BatchResponseSimplePublicObjectWithErrors)
    assert emu.companies["1001"]["segment__c"] == "Enterprise"


def test_industry_options_agree_with_the_realdata_enum_lists(emu: HubSpotEmulator) -> None:
    sources = json.loads(
        (FIXTURES / "hubspot_company_industry_enum_sources.json").read_text(encoding="utf-8")
    )
    industry = call(emu, "GET", "/crm/v3/properties/companies/industry").json()
    served = [o["value"] for o in industry["options"]]
    assert served == list(INDUSTRY_VALUES)
    assert served == sources["sources"]["A_validated_2026"]["values"]
    assert set(sources["comparison"]["in_at_least_3_of_4_sources"]) <= set(served)


def test_owners_paging_email_and_archived(emu: HubSpotEmulator) -> None:
    api = client_for(emu).crm.owners.owners_api
    first = api.get_page(limit=2)
    assert [o.id for o in first.results] == ["1000001", "1000002"]
    rest = api.get_page(limit=2, after=first.paging.next.after)
    assert [o.id for o in rest.results] == ["1000003"]
    assert rest.paging is None
    assert [o.id for o in api.get_page(archived=True).results] == ["1000004"]
    assert api.get_page(email="blake.moreno@example.com").results[0].first_name == "Blake"
    owner_property = call(emu, "GET", "/crm/v3/properties/companies/hubspot_owner_id").json()
    owner_ids = {o["value"] for o in owner_property["options"]}
    assert owner_ids == {"1000001", "1000002", "1000003"}


# -------------------------------------------------------------------- lists


def test_lists_v3_manual_list_lifecycle(emu: HubSpotEmulator) -> None:
    lists = client_for(emu).crm.lists
    created = lists.lists_api.create(
        ListCreateRequest(name="Enterprise ABM", object_type_id="0-2", processing_type="MANUAL")
    ).list
    assert created.processing_type == "MANUAL"
    list_id = created.list_id
    assert lists.lists_api.get_by_id(list_id).list.name == "Enterprise ABM"
    by_name = lists.lists_api.get_by_name("Enterprise ABM", "0-2").list
    assert by_name.list_id == list_id
    found = lists.lists_api.do_search(ListSearchRequest(query="abm", processing_types=["MANUAL"]))
    assert [item.list_id for item in found.lists] == [list_id]
    assert found.total == 1
    assert found.has_more is False

    added = lists.memberships_api.add(list_id, ["1003", "1001", "777"])
    assert added.records_ids_added == ["1003", "1001"]
    assert added.record_ids_missing == ["777"]
    changed = lists.memberships_api.add_and_remove(
        list_id, MembershipChangeRequest(record_ids_to_add=["1005"], record_ids_to_remove=["1001"])
    )
    assert changed.records_ids_added == ["1005"]
    assert changed.record_ids_removed == ["1001"]
    page = lists.memberships_api.get_page(list_id, limit=1)
    assert [m.record_id for m in page.results] == ["1003"]
    rest = lists.memberships_api.get_page(list_id, after=page.paging.next.after)
    assert [m.record_id for m in rest.results] == ["1005"]
    removed = lists.memberships_api.remove(list_id, ["1003"])
    assert removed.record_ids_removed == ["1003"]
    assert emu.lists[list_id]["members"] == ["1005"]
    assert lists.lists_api.get_by_id(list_id).list.size == 1

    with pytest.raises(hs_lists.ApiException) as caught:
        lists.lists_api.create(
            ListCreateRequest(name="enterprise abm", object_type_id="0-2", processing_type="MANUAL")
        )
    assert caught.value.status == 409
    with pytest.raises(ListsNotFoundException):
        lists.lists_api.get_by_name("Missing", "0-2")


def test_dynamic_lists_refuse_membership_changes(emu: HubSpotEmulator) -> None:
    lists = client_for(emu).crm.lists
    dynamic = lists.lists_api.create(
        ListCreateRequest(name="Dynamic", object_type_id="0-2", processing_type="DYNAMIC")
    ).list
    with pytest.raises(hs_lists.ApiException) as caught:
        lists.memberships_api.add(dynamic.list_id, ["1001"])
    assert caught.value.status == 400


# ------------------------------------------------ agreement with real shapes


def test_responses_match_the_openapi_schemas(emu: HubSpotEmulator) -> None:
    def get(path: str) -> Any:
        return call(emu, "GET", path).json()

    def post(path: str, body: Any, method: str = "POST") -> Any:
        return call(emu, method, path, json=body).json()

    check(
        get("/crm/v3/objects/companies?limit=2&properties=name"),
        "companies",
        "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
    )
    check(
        post("/crm/v3/objects/companies/search", {"limit": 2}),
        "companies",
        "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
    )
    ok = post(
        "/crm/v3/objects/companies/batch/update",
        {"inputs": [{"id": "1001", "properties": {"name": "A"}}]},
    )
    check(ok, "companies", "BatchResponseSimplePublicObject")
    partial = post(
        "/crm/v3/objects/companies/batch/update",
        {"inputs": [{"id": "1001", "properties": {"industry": "X"}, "objectWriteTraceId": "t"}]},
    )
    check(partial, "companies", "BatchResponseSimplePublicObjectWithErrors")
    check(get("/crm/v3/objects/companies/1"), "companies", "Error")
    check(get("/crm/v3/properties/companies"), "properties", "CollectionResponsePropertyNoPaging")
    check(get("/crm/v3/properties/companies/industry"), "properties", "Property")
    check(
        get("/crm/v3/properties/companies/groups"),
        "properties",
        "CollectionResponsePropertyGroupNoPaging",
    )
    check(get("/crm/v3/properties/companies/nope"), "properties", "Error")
    created = post(
        "/crm/v3/lists", {"name": "L", "objectTypeId": "0-2", "processingType": "MANUAL"}
    )
    check(created, "lists", "ListCreateResponse")
    list_id = created["list"]["listId"]
    check(get(f"/crm/v3/lists/{list_id}"), "lists", "ListFetchResponse")
    check(get(f"/crm/v3/lists?listIds={list_id}"), "lists", "ListsByIdResponse")
    check(
        post(f"/crm/v3/lists/{list_id}/memberships/add", ["1001", "1002"], "PUT"),
        "lists",
        "MembershipsUpdateResponse",
    )
    check(post("/crm/v3/lists/search", {"query": "L"}), "lists", "ListSearchResponse")
    check(
        get(f"/crm/v3/lists/{list_id}/memberships?limit=1"),
        "lists",
        "ApiCollectionResponseJoinTimeAndRecordId",
    )


def test_request_bodies_the_sdk_sends_match_the_openapi_schemas(emu: HubSpotEmulator) -> None:
    client = client_for(emu)
    search(
        emu,
        filter_groups=[
            FilterGroup(filters=[Filter(property_name="name", operator="HAS_PROPERTY")])
        ],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        properties=["name"],
        limit=200,
    )
    client.crm.companies.batch_api.update(
        batch(SimplePublicObjectBatchInput(id="1001", properties={"name": "A"},
                                           object_write_trace_id="t"))
    )  # fmt: skip
    client.crm.lists.lists_api.create(
        ListCreateRequest(name="Q", object_type_id="0-2", processing_type="MANUAL")
    )
    bodies = {entry.path: entry.body for entry in emu.request_log}
    # The spec (and so the SDK model) types `sorts` as strings, while HubSpot's
    # docs send objects; the emulator accepts both, so check sorts separately.
    sent = dict(bodies["/crm/v3/objects/companies/search"])
    assert sent.pop("sorts") == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    check(sent, "companies", "PublicObjectSearchRequest")
    check(
        bodies["/crm/v3/objects/companies/batch/update"],
        "companies",
        "BatchInputSimplePublicObjectBatchInput",
    )
    check(bodies["/crm/v3/lists"], "lists", "ListCreateRequest")


def test_error_bodies_agree_with_the_recorded_ones(emu: HubSpotEmulator) -> None:
    recorded_429 = RECORDED["429_secondly_2018"]["body"]
    emu.faults.daily_limit_after = 0
    daily = call(emu, "GET", "/crm/v3/owners").json()
    assert set(daily) == set(recorded_429)
    assert daily["policyName"] == RECORDED["429_daily_docs_example"]["body"]["policyName"]
    assert daily["message"] == RECORDED["429_daily_docs_example"]["body"]["message"]
    emu.faults.daily_limit_after = None

    patch = call(emu, "PATCH", "/crm/v3/objects/companies/1001", json={"properties": {}}).json()
    recorded_400 = RECORDED["400_validation_no_properties"]["body"]
    assert set(patch) == set(recorded_400)
    assert patch["message"] == recorded_400["message"]
    assert patch["category"] == recorded_400["category"]

    # A 207 where every input failed starts exactly like the recorded one.
    body = {"inputs": [{"id": "1001", "properties": {"numberofemployees": "many"}}]}
    failed = call(emu, "POST", "/crm/v3/objects/companies/batch/update", json=body)
    assert failed.status_code == 207
    compact = json.dumps(failed.json(), separators=(",", ":"))
    prefix = re.sub(r"\n\s*", "", RECORDED["207_batch_upsert_validation_error"]["body_prefix"])
    assert compact.startswith(prefix)

    # INVALID_OPTION messages follow the recorded v3 wording.
    recorded = RECORDED["400_invalid_option_enum_property_v3"]["body_prefix"]
    pattern = r"\S+ was not one of the allowed options: \[[A-Z_, ]+"
    assert re.search(pattern, recorded.replace('\\"', '"'))
    bad = {"properties": {"industry": "Fintech"}}
    invalid = call(emu, "PATCH", "/crm/v3/objects/companies/1001", json=bad).json()
    assert invalid["message"].startswith('Property values were not valid: [{"isValid":false,')
    details = json.loads(invalid["message"].split(": ", 1)[1])
    assert details[0]["error"] == "INVALID_OPTION"
    assert details[0]["name"] == "industry"
    assert re.match(pattern, details[0]["message"])


# ------------------------------------------------------------ CSV and CLI


def test_csv_columns_map_to_properties_and_custom_ones_are_typed() -> None:
    assert column_to_property("BillingCountry") == "country"
    assert column_to_property("Number Of Employees") == "number_of_employees"
    rows = load_companies_csv(FIXTURES / "companies.csv")
    assert rows[0]["id"] == "5000000001"
    with HubSpotEmulator.from_csv(FIXTURES / "companies.csv") as emulator:
        company = emulator.companies["5000000004"]
        assert company["name"] == "Yum! Brands"
        assert company["numberofemployees"] == "505000"
        assert company["sector"] == "restaurants"
        props = emulator.properties
        assert props["sector"]["type"] == "string"
        assert props["wiki_id"]["type"] == "string"
        assert props["numberofemployees"]["type"] == "number"


def test_runs_as_a_module_in_a_subprocess() -> None:
    command = [
        sys.executable, "-m", "revrules.testing.hubspot",
        "--port", "0", "--accounts", str(FIXTURES / "companies.csv"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        client = HubSpot(access_token=TOKEN, host=match[1])
        everything = client.crm.companies.get_all(properties=["name", "country"])
        assert len(everything) == 12
        assert {c.properties["country"] for c in everything} >= {"Japan", "Tanzania"}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_command_line_owners_include_declared_and_seeded_ids() -> None:
    """`--owner ID` and every `hubspot_owner_id` of the seed become active owners."""
    ids = {owner["id"] for owner in owners_for(["77", "88", "77"])}
    assert {"77", "88", "1000001"} <= ids
    assert _rule("description:revrules_segment=Enterprise") == {
        "property": "description", "when": {"revrules_segment": "Enterprise"}}
    with pytest.raises(ValueError, match="PROP:OTHER=VALUE"):
        _rule("description")


def test_a_token_without_a_scope_gets_hubspots_403() -> None:
    """403 MISSING_SCOPES with the scopes under errors[].context (hubspot-api-nodejs issue #50)."""
    with HubSpotEmulator([{"id": "1", "name": "A"}], scopes=["crm.objects.companies.read"]) as emulator:
        reply = emulator.handle("POST", "/crm/objects/2026-03/companies/batch/update",
                                {"Authorization": "Bearer test-token"}, b'{"inputs": []}')
        assert reply.status == 403
        assert reply.body["category"] == "MISSING_SCOPES"
        assert reply.body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.companies.write"]
        assert emulator.handle("GET", "/crm/objects/2026-03/companies", {"Authorization": "Bearer test-token"},
                               b"").status == 200


def test_only_the_served_api_families_answer() -> None:
    with HubSpotEmulator([{"id": "1", "name": "A"}], api_versions={"2026-03"}) as emulator:
        headers = {"Authorization": "Bearer test-token"}
        assert emulator.handle("GET", "/crm/objects/2026-03/companies", headers, b"").status == 200
        assert emulator.handle("GET", "/crm/v3/objects/companies", headers, b"").status == 404
