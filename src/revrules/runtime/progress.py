"""A progress bar on stderr, shown only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """`with Progress("writing", total) as bar: bar.advance(n)`; silent when stderr is not a TTY."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._last = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def advance(self, amount: int) -> None:
        """Count `amount` more units done."""
        self.done = min(self.done + amount, self.total)
        self._draw()

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled or (not force and time.monotonic() - self._last < 0.1):
            return
        self._last = time.monotonic()
        width = 30
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {self.done:,}/{self.total:,}")
        self.stream.flush()
