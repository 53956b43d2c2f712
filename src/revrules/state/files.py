"""State files beside the ledger (list names, the scheduler's records): replaced whole, readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

from revrules.state.ledger import private_dir, private_file


def replace_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, so a reader never sees half of it; mode 0600 in a 0700 folder."""
    private_dir(path.parent)
    temporary = private_file(path.with_suffix(f".{os.getpid()}.tmp"))
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
