"""The command line: serve a HubSpot emulator loaded from a CSV export until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from revrules.testing.hubspot.emulator import HubSpotEmulator
from revrules.testing.hubspot.loading import load_companies_csv
from revrules.testing.hubspot.protocol import DEFAULT_ACCESS_TOKEN, DEFAULT_SEARCH_CAP


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m revrules.testing.hubspot", description="HubSpot CRM v3 emulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--accounts", type=Path, help="CSV of companies to load")
    parser.add_argument("--access-token", default=DEFAULT_ACCESS_TOKEN)
    parser.add_argument("--burst-limit", type=int, default=190, help="per 10 s; 0 disables")
    parser.add_argument("--search-limit", type=int, default=5, help="per second; 0 disables")
    parser.add_argument("--search-lag-seconds", type=float, default=0.0)
    parser.add_argument("--search-cap", type=int, default=DEFAULT_SEARCH_CAP)
    args = parser.parse_args(argv)
    companies = load_companies_csv(args.accounts) if args.accounts else []
    emulator = HubSpotEmulator(
        companies,
        access_token=args.access_token or None,
        burst_limit=args.burst_limit or None,
        search_limit=args.search_limit or None,
        search_lag_seconds=args.search_lag_seconds,
        search_cap=args.search_cap,
        host=args.host,
        port=args.port,
    )
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
