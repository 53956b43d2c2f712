"""The related-owners ability of the HubSpot connector, against the emulator through the SDK."""

from __future__ import annotations

from revrules.connectors.base import RecordUpdate
from revrules.connectors.hubspot import HubspotConnector
from revrules.testing.hubspot import HubSpotEmulator

OWNERS = [{"id": "101", "email": "a@example.com", "archived": False},
          {"id": "303", "email": "c@example.com", "archived": True}]


def test_hubspot_finds_open_deals_and_refuses_an_archived_owner() -> None:
    """Only open deals are found (`hs_is_closed` is calculated from `dealstage`), and a deal given to an
    archived owner fails alone with `INVALID_OPTION` in a 207 (batch shape as recorded in
    /work/shared/realdata/hubspot/hubspot_error_and_batch_bodies_from_public_sources.json)."""
    deals = [{"id": "700", "dealstage": "qualifiedtobuy", "hubspot_owner_id": "101", "associatedcompanyid": "500"},
             {"id": "701", "dealstage": "closedlost", "hubspot_owner_id": "101", "associatedcompanyid": "500"}]
    with HubSpotEmulator([{"Id": "500", "name": "C"}], owners=OWNERS, deals=deals) as portal:
        connector = HubspotConnector("test-token", base_url=portal.url, burst_limit=None, retry_backoff_seconds=0.001)
        found = connector.related_owners("deals", ["500"], ["101"])
        assert found.rows() == [("700", "500", "101")]
        results = connector.related_records("deals").write([RecordUpdate("700", {"hubspot_owner_id": "303"})])
        assert not results[0].ok
        assert "INVALID_OPTION" in str(results[0].error)
        assert portal.deals["700"]["hubspot_owner_id"] == "101"
