"""Loading a portal copied by `revrules snapshot`: its company properties, owners, lists and companies."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from revrules.testing.hubspot.emulator import HubSpotEmulator
from revrules.testing.hubspot.loading import load_companies_csv
from revrules.testing.hubspot.protocol import COMPANY_OBJECT_TYPE_ID, CONTACT_OBJECT_TYPE_ID
from revrules.testing.hubspot.state import _List
from revrules.testing.hubspot.values import now_iso


def emulator_from_snapshot(folder: Path, *, port: int = 0, access_token: str | None = None,
                           burst_limit: int | None = 190, search_limit: int | None = 5) -> HubSpotEmulator:
    """An emulator (not started) serving the portal a snapshot folder copied.

    The copied properties keep their types and options; only the copied (active) owners
    exist; the lists revrules keeps hold their members (a contact list its contacts); the
    copied companies' contacts are associated with them; companies hold the copied values.
    With `related.csv` (`owner_change`), the contacts and open deals the companies' owners
    hold are associated with them and held by that owner.

    Args:
        folder: A folder written by `revrules snapshot` from a HubSpot portal.
        port: The TCP port (0 picks a free one).
        burst_limit: Requests per 10 s before a 429 (None: no limit).
        search_limit: Searches per second before a 429 (None: no limit).
        access_token: The bearer token every call must carry (None: any).

    Raises:
        OSError: A file of the snapshot cannot be read.
        ValueError: The snapshot is not a HubSpot one.
    """
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("crm") != "hubspot":
        raise ValueError(f"{folder}: a snapshot of a {manifest.get('crm')} CRM, not of a HubSpot portal")
    metadata: dict[str, Any] = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    version = str(manifest.get("api_version", "2026-03"))
    emulator = HubSpotEmulator(
        load_companies_csv(folder / "records.csv"),
        properties=[dict(p) for p in metadata.get("properties", [])],
        owners=[dict(o) for o in metadata.get("owners", [])],
        access_token=access_token,
        port=port,
        burst_limit=burst_limit,
        search_limit=search_limit,
        api_versions=sorted({version, "v3"}),
    )
    if str(metadata.get("portal_id") or "").isdigit():
        emulator.portal_id = int(metadata["portal_id"])
    contacts = {str(c["id"]): {"id": c["id"], "associatedcompanyid": list(c.get("companies", []))}
                for c in metadata.get("contacts", [])}
    deals: dict[str, dict[str, Any]] = {}
    for row in _related(folder / "related.csv"):
        table = contacts if row["object"] == "contacts" else deals
        record = table.setdefault(row["id"], {"id": row["id"], "associatedcompanyid": []})
        record["hubspot_owner_id"] = row["owner"]
        if row["account"] not in record["associatedcompanyid"]:
            record["associatedcompanyid"].append(row["account"])
    for contact in contacts.values():
        emulator.put_contact(contact)
    # No `dealstage`: only open deals are copied, and a deal without a closed stage is open.
    for deal in deals.values():
        emulator.put_deal(deal)
    stamp = now_iso()
    for number, item in enumerate(metadata.get("lists", []), start=1):
        list_id = str(number)
        kind = CONTACT_OBJECT_TYPE_ID if item.get("object") == "contacts" else COMPANY_OBJECT_TYPE_ID
        record = {"listId": list_id, "listVersion": 1, "name": item["name"], "objectTypeId": kind,
                  "processingType": "MANUAL", "processingStatus": "COMPLETE", "createdAt": stamp,
                  "updatedAt": stamp, "filtersUpdatedAt": stamp, "createdById": "2000001", "updatedById": "2000001"}
        emulator.seed_list(_List(record, dict.fromkeys((str(m) for m in item.get("members", [])), stamp)))
    return emulator


def _related(path: Path) -> list[dict[str, str]]:
    """The rows of `related.csv` (object, id, account, owner); none without the file."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]
