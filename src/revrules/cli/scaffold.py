"""`revrules init`: a starter config, rulebook, tests and a tiny CSV that run as they are."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from revrules.errors import InvalidInputError

STARTER = resources.files("revrules.cli") / "starter"
"""The starter project, shipped as package data: edit the files there, not strings here."""
FILES = ("revrules.yaml", "rules/segments.yaml", "rules/tests/segments.yaml", "accounts.csv",
         "schemas/config.schema.json", "schemas/rulebook.schema.json", "schemas/tests.schema.json")


def write_starter(folder: Path) -> list[Path]:
    """Write the starter files into `folder`; refuses to overwrite anything."""
    existing = [folder / name for name in FILES if (folder / name).exists()]
    if existing:
        raise InvalidInputError("init would overwrite " + ", ".join(str(p) for p in existing))
    written = []
    for name in FILES:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STARTER.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
        written.append(path)
    return written
