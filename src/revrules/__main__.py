"""`python -m revrules`: the same as the `revrules` console script."""

from revrules.cli import entry

entry()
