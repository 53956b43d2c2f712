"""Files replaced whole, readable by their owner only: state beside the ledger, saved plans."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from revrules.state.ledger import private_dir, private_file


def replace_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, so a reader never sees half of it; mode 0600 in a 0700 folder."""
    private_dir(path.parent)
    replaced(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def replaced(path: Path, write: Callable[[Path], object]) -> None:
    """Replace `path` with what `write` puts in a temporary sibling (mode 0600), once it is all there.

    A reader never sees half of it, and a write that fails leaves no part of it behind:
    the temporary file goes, and `path` stays as it was.
    """
    temporary = private_file(path.with_name(f".{path.name}.{os.getpid()}.tmp"))
    try:
        write(temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
