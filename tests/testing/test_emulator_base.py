"""The shared emulator base: one fault vocabulary, one log API and one control surface on both CRMs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from revrules.testing.emulator import Emulator, JsonRequestHandler, SharedFaults
from revrules.testing.hubspot import HubSpotEmulator
from revrules.testing.salesforce import SalesforceEmulator

SF_ID = "001EM0000000001AAA"


def sf_get(emu: Emulator[Any, Any], path: str) -> requests.Response:
    assert isinstance(emu, SalesforceEmulator)
    headers = {"Authorization": f"Bearer {emu.session_id}"}
    return requests.get(f"{emu.url}/services/data/v59.0/{path}", headers=headers, timeout=5)


def hs_get(emu: Emulator[Any, Any], path: str) -> requests.Response:
    return requests.get(f"{emu.url}/crm/v3/{path}", headers={"Authorization": "Bearer test-token"}, timeout=5)


Getter = Callable[[Emulator[Any, Any], str], requests.Response]
CRMS: dict[str, tuple[Callable[[], Emulator[Any, Any]], Getter, str]] = {
    "salesforce": (lambda: SalesforceEmulator([{"Id": SF_ID, "Name": "Acme"}]), sf_get, "limits"),
    "hubspot": (lambda: HubSpotEmulator([{"id": "1001", "name": "Acme"}]), hs_get, "owners"),
}


@pytest.fixture(params=sorted(CRMS))
def crm(request: pytest.FixtureRequest) -> Iterator[tuple[Emulator[Any, Any], Callable[[str], requests.Response], str]]:
    make, get, path = CRMS[request.param]
    with make() as emulator:
        yield emulator, lambda p: get(emulator, p), path


def test_both_crms_share_the_fault_names(crm: tuple[Emulator[Any, Any], Any, str]) -> None:
    emulator, _get, _path = crm
    shared = {f.name for f in dataclasses.fields(SharedFaults)}
    answer = requests.get(f"{emulator.url}/__emulator/faults", timeout=5).json()

    assert isinstance(emulator.faults, SharedFaults)
    assert shared == {"status_on_call", "daily_limit_after", "auth_failure", "delay_seconds", "retry_after",
                      "record_errors", "lose_response_on_call", "field_errors"}
    assert shared <= set(answer)


def test_faults_set_and_reset_with_the_same_keys_on_both(crm: tuple[Emulator[Any, Any], Any, str]) -> None:
    emulator, get, path = crm
    switches = {"status_on_call": {"2": 503}, "retry_after": 2.2, "daily_limit_after": 9, "record_errors": ["x"]}
    answer = requests.post(f"{emulator.url}/__emulator/faults", json=switches, timeout=5)

    assert answer.status_code == 200
    assert emulator.faults.status_on_call == {2: 503}
    assert emulator.faults.retry_after == 3
    assert emulator.faults.record_errors == {"x"}
    assert [get(path).status_code for _ in range(2)] == [200, 503]

    reset = requests.post(f"{emulator.url}/__emulator/faults", json={"reset": True}, timeout=5)
    assert reset.status_code == 200
    assert emulator.faults.status_on_call == {}
    assert emulator.faults.daily_limit_after is None
    assert emulator.faults.record_errors == {}


def test_field_errors_refuse_one_field_of_a_record_on_both(crm: tuple[Emulator[Any, Any], Any, str]) -> None:
    emulator, _get, _path = crm
    answer = requests.post(f"{emulator.url}/__emulator/faults", json={"field_errors": {"r1": {"f": "no"}}}, timeout=5)

    assert answer.status_code == 200
    assert answer.json()["field_errors"] == {"r1": {"f": "no"}}
    assert emulator.faults.field_error("r1", "f") == "no"
    assert emulator.faults.field_error("r1", "g") is None and emulator.faults.field_error("r2", "f") is None


def test_an_unknown_switch_is_refused_and_changes_nothing(crm: tuple[Emulator[Any, Any], Any, str]) -> None:
    emulator, _get, _path = crm
    answer = requests.post(
        f"{emulator.url}/__emulator/faults", json={"delay_seconds": 1, "no_such_switch": 1}, timeout=5
    )

    assert answer.status_code == 400
    assert "no_such_switch" in answer.text
    assert emulator.faults.delay_seconds == 0


def test_the_auth_failure_switch_has_one_name(crm: tuple[Emulator[Any, Any], Any, str]) -> None:
    emulator, get, path = crm
    emulator.faults.auth_failure = True
    if isinstance(emulator, HubSpotEmulator):
        assert get(path).status_code == 401
    else:
        token = requests.post(f"{emulator.url}/services/oauth2/token", data={"grant_type": "password"}, timeout=5)
        assert token.status_code == 400


def test_one_log_query_api(crm: tuple[Emulator[Any, Any], Any, str]) -> None:
    emulator, get, path = crm
    get(path)
    get(path)
    requests.post(f"{emulator.url}/__emulator/reset-log", timeout=5)
    get(path)
    requests.get(f"{emulator.url}/__emulator/log", timeout=5)  # control requests are not logged

    assert emulator.call_count == 1
    assert [e.call for e in emulator.requests()] == [1]
    assert len(emulator.requests(method="get", path_contains=path)) == 1
    assert emulator.requests(method="POST") == []
    assert emulator.requests(path_contains="no-such-path") == []
    emulator.reset_log()
    assert emulator.requests() == emulator.request_log == []
    assert emulator.call_count == 0


def test_both_handlers_turn_nagle_off() -> None:
    for emulator in (SalesforceEmulator(), HubSpotEmulator()):
        assert issubclass(emulator.handler_class, JsonRequestHandler)
        assert emulator.handler_class.disable_nagle_algorithm is True


def test_record_errors_take_a_set_of_ids_or_messages() -> None:
    with SalesforceEmulator([{"Id": SF_ID, "Name": "Acme"}]) as emulator:
        emulator.faults.record_errors = {SF_ID}
        headers = {"Authorization": f"Bearer {emulator.session_id}"}
        url = f"{emulator.url}/services/data/v59.0/sobjects/Account/{SF_ID}"
        refused = requests.patch(url, json={"Name": "x"}, headers=headers, timeout=5)
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"

    with HubSpotEmulator([{"id": "1001", "name": "Acme"}]) as emulator:
        emulator.faults.record_errors = {"1001": "industry needs review"}
        answer = requests.patch(
            f"{emulator.url}/crm/v3/objects/companies/1001",
            json={"properties": {"name": "x"}},
            headers={"Authorization": "Bearer test-token"},
            timeout=5,
        )
    assert answer.status_code == 400
    assert "industry needs review" in answer.json()["message"]
    assert "INVALID_OPTION" in answer.json()["message"]
