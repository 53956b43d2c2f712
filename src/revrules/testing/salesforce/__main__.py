"""Run the Salesforce emulator: ``python -m revrules.testing.salesforce --port 8701 --accounts a.csv``."""

from revrules.testing.salesforce.cli import main

raise SystemExit(main())
