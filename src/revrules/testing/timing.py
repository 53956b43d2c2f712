"""Commands timed as their own processes, for the benchmarks: wall and CPU seconds, peak memory."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Collection
from pathlib import Path


def timed(command: list[str], stdout: Path | None = None, *, exit_codes: Collection[int] = (0,)) -> dict[str, float]:
    """Run one process to its end: wall and CPU seconds (with its children), peak RSS in MB, exit code.

    Args:
        command: The command line.
        stdout: Where its standard output goes (default: discarded).
        exit_codes: The exit codes that are results, not crashes.

    Raises:
        RuntimeError: The process exited with another code; the end of its standard error says why.
    """
    sink = stdout.open("wb") if stdout is not None else subprocess.DEVNULL
    try:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.PIPE)  # noqa: S603 - the benchmark's own argv
        errors = process.stderr.read() if process.stderr is not None else b""
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    finally:
        if not isinstance(sink, int):
            sink.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in exit_codes:
        raise RuntimeError(f"{' '.join(command)} exited {code}: {errors.decode()[-2000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "exit": code}
