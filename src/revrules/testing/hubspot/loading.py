"""Reading companies from a CSV export: id columns and header → property-name mapping."""

from __future__ import annotations

import csv
import re
from pathlib import Path

_COLUMN_ALIASES = {
    "billingcountry": "country",
    "billingstate": "state",
    "billingcity": "city",
    "billingpostalcode": "zip",
    "billingstreet": "address",
    "ownerid": "hubspot_owner_id",
    "account_name": "name",
    "parentid": "hs_parent_company_id",  # a Salesforce export's parent account: HubSpot's parent company
}
_ID_COLUMNS = ("id", "hs_object_id", "record_id")


def column_to_property(header: str) -> str:
    """Map a CSV header to a HubSpot property name (see the module docstring)."""
    name = re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")
    return _COLUMN_ALIASES.get(name, name)


def load_companies_csv(path: str | Path) -> list[dict[str, str]]:
    """Read companies from a CSV export.

    Args:
        path: A UTF-8 CSV file (a BOM is allowed) with a header row.

    Returns:
        One dict a row: ``id`` (when the file has an id column) and property values.
        Empty cells are left out.
    """
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows: list[dict[str, str]] = []
        names: dict[str, str] = {}  # header -> property, worked out once per column
        for raw in reader:
            row: dict[str, str] = {}
            for header, value in raw.items():
                if header is None or value is None or value == "":
                    continue
                name = names.get(header)
                if name is None:
                    name = names[header] = column_to_property(header)
                row["id" if name in _ID_COLUMNS else name] = value
            rows.append(row)
    return rows

