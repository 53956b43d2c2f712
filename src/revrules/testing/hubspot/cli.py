"""The command line: serve a HubSpot emulator loaded from a CSV export until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from revrules.testing.hubspot.defaults import _default_owners
from revrules.testing.hubspot.emulator import HubSpotEmulator
from revrules.testing.hubspot.loading import load_companies_csv
from revrules.testing.hubspot.protocol import API_VERSIONS, DEFAULT_ACCESS_TOKEN, DEFAULT_SEARCH_CAP
from revrules.testing.hubspot.scopes import ALL_SCOPES
from revrules.testing.hubspot.snapshot import emulator_from_snapshot


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m revrules.testing.hubspot",
        description="HubSpot CRM emulator (legacy /crm/v3 and date-versioned /crm/.../2026-03 paths)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--accounts", type=Path, help="CSV of companies to load")
    parser.add_argument("--snapshot", type=Path, metavar="DIR",
                        help="serve the portal a `revrules snapshot` folder copied (instead of --accounts)")
    parser.add_argument("--access-token", default=DEFAULT_ACCESS_TOKEN)
    parser.add_argument("--burst-limit", type=int, default=190, help="per 10 s; 0 disables")
    parser.add_argument("--search-limit", type=int, default=5, help="per second; 0 disables")
    parser.add_argument("--search-lag-seconds", type=float, default=0.0)
    parser.add_argument("--search-cap", type=int, default=DEFAULT_SEARCH_CAP)
    parser.add_argument("--owner", action="append", default=[], metavar="ID",
                        help="declare an active owner (repeatable); every hubspot_owner_id in --accounts is one too")
    parser.add_argument("--scopes", help="comma-separated scopes the token has (default: all); a request "
                        f"needing another answers 403 MISSING_SCOPES. Known: {', '.join(ALL_SCOPES)}")
    parser.add_argument("--api-versions", default=",".join(API_VERSIONS),
                        help="comma-separated path families served (default: %(default)s)")
    parser.add_argument("--whole-batch-400", choices=("named", "unnamed"),
                        help="refuse a batch update holding an invalid value with one 400 for the whole batch, "
                        "naming the refused records or not")
    parser.add_argument("--required-when", action="append", default=[], metavar="PROP:OTHER=VALUE",
                        help="portal validation rule (2026-09): PROP is required once OTHER is VALUE (repeatable)")
    args = parser.parse_args(argv)
    if args.snapshot is not None:
        return _serve_snapshot(args.snapshot, args.port, args.access_token or None,
                               args.burst_limit or None, args.search_limit or None)
    companies = load_companies_csv(args.accounts) if args.accounts else []
    try:
        rules = [_rule(text) for text in args.required_when]
    except ValueError as error:
        parser.error(str(error))
    seeded = {str(c.get("hubspot_owner_id")) for c in companies if c.get("hubspot_owner_id")}
    emulator = HubSpotEmulator(
        companies,
        access_token=args.access_token or None,
        burst_limit=args.burst_limit or None,
        search_limit=args.search_limit or None,
        search_lag_seconds=args.search_lag_seconds,
        search_cap=args.search_cap,
        host=args.host,
        port=args.port,
        owners=owners_for([*args.owner, *sorted(seeded)]),
        scopes=[s.strip() for s in args.scopes.split(",") if s.strip()] if args.scopes is not None else None,
        api_versions=[v.strip() for v in args.api_versions.split(",") if v.strip()],
    )
    emulator.faults.update({"whole_batch_400": args.whole_batch_400, "required_when": rules})
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with emulator:
        print(f"HubSpot emulator listening on {emulator.url}", flush=True)
        print(f"{len(companies)} companies loaded", file=sys.stderr, flush=True)
        stop.wait()
    return 0


def _serve_snapshot(folder: Path, port: int, access_token: str | None, burst_limit: int | None,
                    search_limit: int | None) -> int:
    """Serve a snapshot folder until SIGINT or SIGTERM; 2 when it cannot be loaded."""
    try:
        emulator = emulator_from_snapshot(folder, port=port, access_token=access_token, burst_limit=burst_limit,
                                          search_limit=search_limit)
    except (OSError, ValueError, KeyError) as problem:
        print(f"error: {folder}: not a readable HubSpot snapshot ({problem})", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with emulator:
        print(f"HubSpot emulator listening on {emulator.url}", flush=True)
        print(f"{len(emulator.companies)} companies loaded from {folder}", file=sys.stderr, flush=True)
        stop.wait()
    return 0


def owners_for(ids: list[str]) -> list[dict[str, str]]:
    """The default owners plus an active owner for each of `ids` not among them."""
    owners: list[dict[str, str]] = list(_default_owners())
    known = {owner["id"] for owner in owners}
    for owner_id in dict.fromkeys(ids):
        if owner_id not in known:
            owners.append({"id": owner_id, "firstName": "Owner", "lastName": owner_id,
                           "email": f"owner{owner_id}@example.com"})
    return owners


def _rule(text: str) -> dict[str, object]:
    """`PROP:OTHER=VALUE` as a `required_when` rule."""
    prop, _, condition = text.partition(":")
    other, _, value = condition.partition("=")
    if not prop or not other or not value:
        raise ValueError(f"--required-when {text!r}: expected PROP:OTHER=VALUE")
    return {"property": prop, "when": {other: value}}
