"""The `revrules` command: parses arguments, calls the run operations, renders their results."""

from revrules.cli.main import entry, main

__all__ = ["entry", "main"]
