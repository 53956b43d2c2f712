"""The Salesforce emulator's Contacts and Opportunities: what an owner change that carries them needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from revrules.testing.salesforce import SalesforceEmulator, loopback_session

ACTIVE, INACTIVE = "005Dn000000AAAAAAA", "005Dn000000BBBBAAA"
ACCOUNT, CONTACT, OPEN, WON = "001Dn0000000001AAA", "003Dn0000000001AAA", "006Dn0000000001AAA", "006Dn0000000002AAA"


@pytest.fixture
def sf() -> Iterator[Salesforce]:
    deal = {"AccountId": ACCOUNT, "OwnerId": ACTIVE, "CloseDate": "2027-01-31"}
    with SalesforceEmulator(
        [{"Id": ACCOUNT, "Name": "A"}], users=[{"Id": ACTIVE}, {"Id": INACTIVE, "IsActive": False}],
        contacts=[{"Id": CONTACT, "AccountId": ACCOUNT, "OwnerId": ACTIVE, "LastName": "L"}],
        opportunities=[{"Id": OPEN, "Name": "o", "StageName": "Prospecting", "IsClosed": False, **deal},
                       {"Id": WON, "Name": "w", "StageName": "Closed Won", "IsClosed": True, **deal}],
    ) as emulator:
        yield Salesforce(instance_url=emulator.url, session_id=emulator.session_id,
                         session=loopback_session(emulator.url))


def patch(sf: Salesforce, kind: str, record_id: str, **values: Any) -> dict[str, Any]:
    body = {"allOrNone": False, "records": [{"attributes": {"type": kind}, "id": record_id, **values}]}
    answer = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert isinstance(answer, list)
    first: dict[str, Any] = answer[0]
    return first


def test_open_opportunities_of_accounts_and_owners_are_found_with_soql(sf: Salesforce) -> None:
    """`IsClosed` is filterable (Object Reference, Opportunity), so `IsClosed = false` leaves closed deals out."""
    soql = (f"SELECT Id, AccountId, OwnerId FROM Opportunity WHERE IsClosed = false AND OwnerId IN ('{ACTIVE}')"
            f" AND AccountId IN ('{ACCOUNT}')")
    assert [r["Id"] for r in sf.query(soql)["records"]] == [OPEN]


def test_a_contact_cannot_be_given_to_an_inactive_user(sf: Salesforce) -> None:
    """Contacts and Opportunities refuse an inactive owner with `INACTIVE_OWNER_OR_USER`, "operation performed
    with inactive user" (Salesforce Help 000205862; simplysfdc.com, "Salesforce: Inactive User", 2025)."""
    answer = patch(sf, "Contact", CONTACT, OwnerId=INACTIVE)
    assert answer["errors"][0]["statusCode"] == "INACTIVE_OWNER_OR_USER"
    assert patch(sf, "Opportunity", OPEN, OwnerId="005Dn000000ZZZZAAA")["errors"][0]["statusCode"] == \
        "INVALID_CROSS_REFERENCE_KEY"
    assert patch(sf, "Contact", CONTACT, OwnerId=ACTIVE)["success"] is True


def test_is_closed_is_not_updateable(sf: Salesforce) -> None:
    """`IsClosed` follows the stage and cannot be written (Object Reference, Opportunity: no Update property)."""
    answer = patch(sf, "Opportunity", WON, IsClosed=False)
    assert answer["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
