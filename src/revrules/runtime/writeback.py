"""Writing a large file that is not read back soon without filling the page cache with it."""

from __future__ import annotations

import io
import os
import stat
from typing import Any

_WINDOW = 32 << 20


class DropBehind(io.BufferedWriter):
    """A file written through, whose pages leave the page cache once they are on disk.

    A plan of a million accounts is 2 GB. Written the usual way, each of its pages takes
    memory the kernel has not handed out before; on a virtual machine whose host takes
    back free memory that first touch costs more than the writing (3.6 to 7.3 s of system
    time for 2 GB on a 2-core VM; 1.2 s written this way). So, as PostgreSQL's
    `*_flush_after` settings and `dd oflag=nocache` do: each time a window has been
    written its writeback is started, and the window before the one before, on disk by
    then, is dropped; the next windows reuse those pages. POSIX_FADV_DONTNEED never drops
    a page that is not on disk yet, so nothing written is lost. A pipe or a terminal is
    written as it is.
    """

    def __init__(self, raw: io.FileIO, window: int = _WINDOW) -> None:
        super().__init__(raw)
        self._window = window
        self._fd = raw.fileno()
        self._regular = hasattr(os, "posix_fadvise") and stat.S_ISREG(os.fstat(self._fd).st_mode)
        self._position = raw.tell() if self._regular else 0
        self._windows = [self._position]

    def write(self, data: Any) -> int:
        """Write `data`; at the end of each window, start its writeback and drop an earlier one."""
        written = super().write(data)
        self._position += written
        if self._regular and self._position - self._windows[-1] >= self._window:
            self.flush()
            self._advise(self._windows[-1], self._position)  # starts writing the window back
            self._windows.append(self._position)
            if len(self._windows) > 3:
                self._advise(self._windows[0], self._windows[1])  # on disk by now: dropped
                del self._windows[0]
        return written

    def _advise(self, start: int, end: int) -> None:
        try:
            os.posix_fadvise(self._fd, start, end - start, os.POSIX_FADV_DONTNEED)
        except OSError:  # a file system that takes no advice is written as it is
            self._regular = False
