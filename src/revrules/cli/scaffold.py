"""`revrules init`: a starter config, rulebook, tests and a tiny CSV that run as they are."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from revrules.errors import InvalidInputError

STARTER = resources.files("revrules.cli") / "starter"
"""The starter project, shipped as package data: edit the files there, not strings here."""
FILES = ("revrules.yaml", "rules/segments.yaml", "rules/tests/segments.yaml", "accounts.csv",
         "revrules-ci.example.yml", "schemas/config.schema.json", "schemas/rulebook.schema.json",
         "schemas/tests.schema.json")
GITIGNORE = "gitignore"
"""Shipped without its dot (package data tools skip dotfiles); written as `.gitignore`."""


def write_starter(folder: Path) -> list[Path]:
    """Write the starter files into `folder`; refuses to overwrite anything.

    An existing `.gitignore` (the folder is often a repository already) gets the missing lines appended.
    """
    existing = [folder / name for name in FILES if (folder / name).exists()]
    if existing:
        raise InvalidInputError("init would overwrite " + ", ".join(str(p) for p in existing))
    written = []
    for name in FILES:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STARTER.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
        written.append(path)
    written.append(_write_gitignore(folder / ".gitignore"))
    return written


def _write_gitignore(path: Path) -> Path:
    wanted = STARTER.joinpath(GITIGNORE).read_text(encoding="utf-8")
    if not path.exists():
        path.write_text(wanted, encoding="utf-8")
        return path
    text = path.read_text(encoding="utf-8")
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in wanted.splitlines() if line.strip() not in present]
    if missing:
        path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + "\n".join(missing) + "\n",
                        encoding="utf-8")
    return path
