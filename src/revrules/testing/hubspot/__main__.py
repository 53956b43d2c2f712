"""Run the HubSpot emulator: ``python -m revrules.testing.hubspot --port 8702 --accounts companies.csv``."""

from revrules.testing.hubspot.cli import main

raise SystemExit(main())
