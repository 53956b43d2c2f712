"""Benchmark: `revrules snapshot` then `revrules rehearse` of a large org, next to one direct `plan` as the floor.

Run with `python benchmarks/rehearse.py [--records N] [--crm salesforce|hubspot]`.
It resamples the bundled accounts to N records (default 50,000, unique ids, output fields
empty so every record changes), serves them from a strict emulator (in this process) under
the shipped rulebook and config, then times three commands as separate processes (wall
seconds, CPU seconds including their children, peak RSS): one `plan` against the emulator
(the floor: one read and one evaluation), `snapshot`, and `rehearse`, which starts its own
emulator of the snapshot and runs four plans, an apply and a rollback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from revrules.testing.timing import timed

ROOT = Path(__file__).resolve().parent.parent
TEXT_OUTPUTS = ["Segment__c", "Vertical__c", "Pricing_Tier__c", "Sales_Motion__c", "CS_Model__c", "Region__c",
                "ICP_Tier__c", "Value_Tier__c", "Usage_Level__c", "NPS_Category__c", "Churn_Risk__c",
                "Expansion_Signal__c", "Territory__c", "Segmentation_Reason__c"]
SALESFORCE_CRM = """crm:
  kind: salesforce
  auth: session
  session_id: ${SF_SESSION}
  instance_url: ${SF_URL}
"""
HUBSPOT_TOKEN = "bench-token"  # noqa: S105  # the emulator's, on loopback


def resampled(records: int, crm: str) -> list[dict[str, str]]:
    """`records` accounts drawn from the bundled sample, with unique ids of the CRM's shape."""
    sample = pl.read_csv(ROOT / "examples" / "accounts.csv", infer_schema=False)
    frame = sample.sample(records, with_replacement=True, seed=7) if records > sample.height else sample.head(records)
    ids = pl.format("001EM{}AAA", pl.int_range(records).cast(pl.String).str.zfill(10)) if crm == "salesforce" \
        else (pl.int_range(records) + 10_000_001).cast(pl.String)
    return frame.with_columns(ids.alias("Id")).fill_null("").to_dicts()


def pool_owners() -> set[str]:
    """The owner ids the shipped routing rulebook names."""
    return set(re.findall(r'id: "(005\w{15})"', (ROOT / "rules" / "routing.yaml").read_text()))


def salesforce_source(folder: Path, rows: list[dict[str, str]]) -> tuple[Any, Path]:
    """A strict org holding `rows` with the shipped config's output fields; the config pointed at it."""
    from revrules.testing.salesforce import ACCOUNT_FIELDS, SalesforceEmulator

    users = [{"Id": user} for user in sorted(pool_owners() | {r["OwnerId"] for r in rows if r.get("OwnerId")})]
    fields = [*ACCOUNT_FIELDS, *({"name": name, "type": "string"} for name in TEXT_OUTPUTS),
              {"name": "ICP_Score__c", "type": "double"}, {"name": "Anti_ICP_Reasons__c", "type": "multipicklist"},
              {"name": "Disqualified__c", "type": "boolean"}]
    emulator = SalesforceEmulator(rows, fields=fields, users=users, marketing_lists=True, null_invalid=True).start()
    os.environ.update(SF_URL=emulator.url, SF_SESSION=emulator.session_id)
    config = (ROOT / "config.example.yaml").read_text()
    config = re.sub(r"crm:\n  kind: csv\n(  .*\n)+", SALESFORCE_CRM, config, count=1)
    path = folder / "revrules.yaml"
    path.write_text(config)
    return emulator, path


def hubspot_source(folder: Path, rows: list[dict[str, str]]) -> tuple[Any, Path]:
    """A portal holding `rows` (output properties created by `check --online`); the config pointed at it."""
    from revrules.testing.hubspot import HubSpotEmulator
    from revrules.testing.hubspot.cli import owners_for
    from revrules.testing.hubspot.loading import load_companies_csv

    csv_path = folder / "accounts.csv"
    pl.DataFrame(rows).write_csv(csv_path)
    companies = load_companies_csv(csv_path)
    owners = sorted(pool_owners() | {str(c.get("hubspot_owner_id")) for c in companies if c.get("hubspot_owner_id")})
    emulator = HubSpotEmulator(companies, owners=owners_for(owners), access_token=HUBSPOT_TOKEN,
                               burst_limit=None, search_limit=None).start()
    os.environ.update(HUBSPOT_BASE_URL=emulator.url, HUBSPOT_ACCESS_TOKEN=HUBSPOT_TOKEN)
    path = folder / "revrules.yaml"
    path.write_text((ROOT / "config.hubspot.example.yaml").read_text()
                    + "\n# benchmark: no client-side limiter, the emulator has none either\n")
    text = path.read_text().replace("  api_version:", "  burst_limit: 0\n  search_limit: 0\n  api_version:", 1)
    path.write_text(text)
    return emulator, path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time plan (floor), snapshot and rehearse; print the figures as JSON and return them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), default="salesforce")
    parser.add_argument("--keep", type=Path, help="copy the snapshot and the rehearsal report here")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"records": args.records, "crm": args.crm}
    cli = [sys.executable, "-m", "revrules"]
    with tempfile.TemporaryDirectory(prefix="revrules-rehearse-") as tmp:
        folder = Path(tmp)
        shutil.copytree(ROOT / "rules", folder / "rules")
        started = time.perf_counter()
        rows = resampled(args.records, args.crm)
        make = salesforce_source if args.crm == "salesforce" else hubspot_source
        emulator, config = make(folder, rows)
        figures["seed_s"] = round(time.perf_counter() - started, 2)
        try:
            if args.crm == "hubspot":
                timed([*cli, "check", "-c", str(config), "--online", "--create-properties"])
            figures["floor_plan"] = timed([*cli, "plan", "-c", str(config), "-o", str(folder / "plan.json")])
            figures["snapshot"] = timed([*cli, "snapshot", "-c", str(config), "-o", str(folder / "snap")])
        finally:
            emulator.stop()
        # rehearse exits 1 when something would fail: a finding, not a crash.
        figures["rehearse"] = timed([*cli, "rehearse", "-c", str(config), "--snapshot", str(folder / "snap")],
                                    stdout=folder / "report.txt", exit_codes=(0, 1))
        figures["rehearse"]["x_floor"] = round(figures["rehearse"]["wall_s"] / figures["floor_plan"]["wall_s"], 2)
        figures["rehearse"]["x_floor_cpu"] = round(figures["rehearse"]["cpu_s"] / figures["floor_plan"]["cpu_s"], 2)
        if args.keep:
            shutil.copytree(folder / "snap", args.keep / "snap", dirs_exist_ok=True)
            shutil.copy(folder / "report.txt", args.keep / "report.txt")
    print(json.dumps(figures))
    for name, value in figures.items():
        print(f"{name:>12}: {value}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    main()
