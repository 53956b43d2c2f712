"""Loading an org copied by `revrules snapshot`: its describe, users, campaigns, currencies and records."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from revrules.testing.salesforce.describe import _LIST_OBJECTS
from revrules.testing.salesforce.emulator import SalesforceEmulator


def emulator_from_snapshot(folder: Path, *, port: int = 0, session_id: str | None = None) -> SalesforceEmulator:
    """An emulator (not started) serving the org a snapshot folder copied.

    The copied describe fields keep their lengths, picklists and restricted flags; record
    types keep the picklist values each offers; only the copied active users may own
    records (an inactive one is copied inactive); campaigns, their members and the copied
    records' contacts are served; `/limits` reports the daily API requests the org had left.
    With `related.csv` (`owner_change`), the contacts and open opportunities the accounts'
    owners hold are served with their owner.

    Args:
        folder: A folder written by `revrules snapshot` from a Salesforce org.
        port: The TCP port (0 picks a free one).
        session_id: A fixed valid access token (default: a random one).

    Raises:
        OSError: A file of the snapshot cannot be read.
        ValueError: The snapshot is not a Salesforce one, or a field type is unknown.
    """
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("crm") != "salesforce":
        raise ValueError(f"{folder}: a snapshot of a {manifest.get('crm')} CRM, not of a Salesforce org")
    metadata: dict[str, Any] = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    fields = [f for f in metadata["describe"]["fields"] if f.get("name") != "CurrencyIsoCode"]
    currencies = sorted(metadata.get("currencies", []), key=lambda c: not c.get("IsCorporate"))
    related = _related(folder / "related.csv")
    emulator = SalesforceEmulator(
        _records(folder / "records.csv"),
        object_name=str(manifest.get("object", "Account")),
        fields=fields,
        api_version=str(manifest.get("api_version", "59.0")),
        port=port,
        session_id=session_id,
        users=[{"Id": u["Id"], "Name": u.get("Name"), "IsActive": u.get("IsActive", True) is not False}
               for u in metadata.get("users", [])],
        contacts=_with_owners(metadata.get("contacts", []), related.get("Contact", [])),
        opportunities=related.get("Opportunity", []),
        marketing_lists=True,
        null_invalid=True,
        currencies={str(c["IsoCode"]): float(c["ConversionRate"]) for c in currencies} or None,
        record_types=metadata.get("record_type_picklists") or None,
    )
    for object_name, rows in (("Campaign", metadata.get("campaigns", [])),
                              ("CampaignMember", metadata.get("campaign_members", []))):
        emulator.seed_rows(object_name, [dict.fromkeys(_LIST_OBJECTS[object_name]) | row for row in rows])
    remaining = (metadata.get("api") or {}).get("daily_remaining")
    maximum = (metadata.get("api") or {}).get("daily_max")
    if maximum is not None:
        emulator.faults.daily_api_max = int(maximum)
    if remaining is not None:
        emulator.faults.daily_api_remaining = int(remaining)
    return emulator


def _records(path: Path) -> list[dict[str, str]]:
    """The copied records; an empty cell is a null value."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _related(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Object -> `Id`, `AccountId`, `OwnerId` rows of `related.csv` (none without the file); opportunities open."""
    rows: dict[str, list[dict[str, Any]]] = {}
    if not path.exists():
        return rows
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            extra = {"IsClosed": False} if row["object"] == "Opportunity" else {}
            rows.setdefault(row["object"], []).append(
                {"Id": row["id"], "AccountId": row["account"], "OwnerId": row["owner"], **extra})
    return rows


def _with_owners(contacts: list[dict[str, Any]], held: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The contacts a list needs and those the cascade moves, one row each, with the owner where copied."""
    merged = {str(c["Id"]): dict(c) for c in contacts}
    for row in held:
        merged[str(row["Id"])] = merged.get(str(row["Id"]), {}) | row
    return list(merged.values())
