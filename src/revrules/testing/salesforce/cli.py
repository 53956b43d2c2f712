"""The command line: serve an emulator loaded from a CSV export until interrupted."""

from __future__ import annotations

import argparse
import csv
import json
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import fields as dataclass_fields
from pathlib import Path
from types import FrameType
from typing import Any

from revrules.testing.salesforce.describe import _TYPE_DEFAULTS, ACCOUNT_FIELDS
from revrules.testing.salesforce.emulator import SalesforceEmulator
from revrules.testing.salesforce.faults import Faults
from revrules.testing.salesforce.snapshot import emulator_from_snapshot


def load_records_csv(path: Path | str) -> list[dict[str, str]]:
    """Read records from a UTF-8 CSV export (BOM allowed); empty cells become "".

    Args:
        path: The CSV file; an `Id` column, when present, gives the record ids.

    Returns:
        One dict per row, keyed by the header.
    """
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _parse_picklist(text: str) -> tuple[str, list[str]]:
    name, _, values = text.partition("=")
    if not name or not values:
        raise argparse.ArgumentTypeError("expected FIELD=value1,value2,...")
    return name, [v.strip() for v in values.split(",") if v.strip()]


def _parse_field(text: str) -> dict[str, Any]:
    name, _, rest = text.partition(":")
    kind, _, length = rest.partition(":")
    kind = kind or "string"
    if kind not in _TYPE_DEFAULTS:
        raise argparse.ArgumentTypeError(f"unknown type {kind!r} (one of {', '.join(sorted(_TYPE_DEFAULTS))})")
    spec: dict[str, Any] = {"name": name, "type": kind}
    if length:
        if not length.isdigit():
            raise argparse.ArgumentTypeError(f"length {length!r} is not a number")
        spec["length"] = int(length)
    return spec


def _parse_fault(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    if not name or not value:
        raise argparse.ArgumentTypeError("expected NAME=JSON, e.g. concurrency_limit_on_calls=[4]")
    try:
        return name, json.loads(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: {value!r} is not JSON") from None


def _epilog() -> str:
    types = ", ".join(sorted(_TYPE_DEFAULTS))
    switches = "\n".join(f"  {f.name}" for f in dataclass_fields(Faults))
    return (f"field types (--field NAME:TYPE[:LENGTH]): {types}\n\n"
            f"fault switches (--fault NAME=JSON, or POST /__emulator/faults):\n{switches}\n\n"
            "Every OwnerId in --accounts is an active User, as are the --user ids; writing any other\n"
            "owner fails with INVALID_CROSS_REFERENCE_KEY. Campaign and CampaignMember are served.")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve an emulator until SIGINT or SIGTERM.

    Args:
        argv: Command-line arguments (default: `sys.argv[1:]`).

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m revrules.testing.salesforce",
        description="A loopback Salesforce emulator for rehearsing a revrules config offline.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--accounts", type=Path, help="CSV of records to serve (Id column)")
    parser.add_argument("--snapshot", type=Path, metavar="DIR",
                        help="serve the org a `revrules snapshot` folder copied (instead of --accounts)")
    parser.add_argument("--object", default="Account", help="sObject name (default Account)")
    parser.add_argument("--api-version", default="59.0")
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--session-id", help="a fixed valid access token (default: random)")
    parser.add_argument(
        "--picklist",
        action="append",
        type=_parse_picklist,
        default=[],
        metavar="FIELD=V1,V2",
        help="a restricted picklist (repeatable)",
    )
    parser.add_argument(
        "--field",
        action="append",
        type=_parse_field,
        default=[],
        metavar="NAME[:TYPE[:LENGTH]]",
        help="an extra field, e.g. Territory__c:string:80 (types below)",
    )
    parser.add_argument("--user", action="append", default=[], metavar="ID",
                        help="an active User id (repeatable), besides every OwnerId of --accounts")
    parser.add_argument("--fault", action="append", type=_parse_fault, default=[], metavar="NAME=JSON",
                        help="a fault switch (repeatable; names below)")
    args = parser.parse_args(argv)
    try:
        if args.snapshot is not None:
            emulator = emulator_from_snapshot(args.snapshot, port=args.port, session_id=args.session_id)
            emulator.faults.update(dict(args.fault))
            emulator.start()
            return _serve(emulator, args.object)
        records = load_records_csv(args.accounts) if args.accounts else []
        fields = list(ACCOUNT_FIELDS) if args.object == "Account" else [ACCOUNT_FIELDS[0]]
        fields += args.field
        owners = {str(r.get("OwnerId")) for r in records if r.get("OwnerId")}
        emulator = SalesforceEmulator(
            records,
            object_name=args.object,
            fields=fields,
            picklists=dict(args.picklist),
            api_version=args.api_version,
            page_size=args.page_size,
            port=args.port,
            session_id=args.session_id,
            users=[{"Id": user} for user in sorted(owners | set(args.user))],
            marketing_lists=True,
            null_invalid=True,
        )
        emulator.faults.update(dict(args.fault))
        emulator.start()
    except (OSError, ValueError, KeyError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if emulator.nulled_on_load:
        print(f"warning: {emulator.nulled_on_load} value(s) of --accounts could not be held by their field "
              "(e.g. text in a number field) and were loaded as empty", file=sys.stderr)
    return _serve(emulator, args.object)


def _serve(emulator: SalesforceEmulator, object_name: str) -> int:
    """Print where the emulator listens, then serve until SIGINT or SIGTERM."""
    stopping = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"Salesforce emulator serving {len(emulator.records)} {object_name} record(s)")
    print(f"instance_url={emulator.url}")
    print(f"session_id={emulator.session_id}", flush=True)
    stopping.wait()
    emulator.stop()
    return 0
