"""`DropBehind`: a large file written through, its pages handed back to the kernel once on disk."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest

from revrules.runtime.writeback import DropBehind

WINDOW = 1 << 16


def _advice(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record each (offset, length) advised, then give the advice to the kernel as asked."""
    given: list[tuple[int, int]] = []
    advise = os.posix_fadvise

    def recorded(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_DONTNEED
        given.append((offset, length))
        advise(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", recorded)
    return given


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this platform")
def test_each_window_is_written_back_and_the_one_two_behind_dropped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given = _advice(monkeypatch)
    chunk = os.urandom(WINDOW // 3 + 7)  # three chunks fill a window
    with DropBehind(io.FileIO(tmp_path / "plan.json", "w"), window=WINDOW) as sink:
        for _ in range(20):
            sink.write(chunk)
    assert (tmp_path / "plan.json").read_bytes() == chunk * 20
    window = 3 * len(chunk)
    started = [(n * window, window) for n in range(6)]
    # Each window's writeback is started once it is full; it is dropped once two more are full.
    assert given == [started[0], started[1], started[2], started[0], started[3], started[1], started[4], started[2],
                     started[5], started[3]]


def test_a_pipe_is_written_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    given = _advice(monkeypatch) if hasattr(os, "posix_fadvise") else []
    read_end, write_end = os.pipe()
    with DropBehind(io.FileIO(write_end, "w"), window=16) as sink:
        sink.write(b"x" * 100)
    with io.FileIO(read_end, "r") as source:
        assert source.read() == b"x" * 100
    assert given == []


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this platform")
def test_a_file_system_that_takes_no_advice_gets_every_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def refused(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append(offset)
        raise OSError(errno.ESPIPE, os.strerror(errno.ESPIPE))

    monkeypatch.setattr(os, "posix_fadvise", refused)
    with DropBehind(io.FileIO(tmp_path / "plan.json", "w"), window=16) as sink:
        for _ in range(10):
            sink.write(b"y" * 10)
    assert (tmp_path / "plan.json").read_bytes() == b"y" * 100
    assert calls == [0]  # asked once, then written as it is
