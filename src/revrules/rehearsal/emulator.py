"""The emulator a rehearsal runs against: a child process serving a snapshot on a free loopback port.

The emulators live in `revrules.testing`, which the product packages never import; a
child process (`python -m revrules.testing.<crm> --snapshot DIR --port 0`) keeps that
boundary, and is how a user can serve a snapshot by hand too.
"""

from __future__ import annotations

import json
import queue
import secrets
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from revrules.errors import CrmError

_START_SECONDS = 60.0


class SnapshotEmulator:
    """A running emulator of one snapshot; use it as a context manager, which stops the process."""

    def __init__(self, kind: str, folder: Path) -> None:
        """Start `python -m revrules.testing.<kind> --snapshot folder --port 0` and wait for its URL.

        Raises:
            CrmError: The emulator did not start.
        """
        self.kind = kind
        self.token = secrets.token_urlsafe(24)
        secret_flag = "--session-id" if kind == "salesforce" else "--access-token"
        # `--flag=value`: a random token may start with '-', which argparse would take for an option.
        command = [sys.executable, "-m", f"revrules.testing.{kind}", "--snapshot", str(folder), "--port", "0",
                   f"{secret_flag}={self.token}"]
        if kind == "hubspot":
            # The rehearsal's client runs without its limiter (the report estimates the real pace
            # instead), so the emulator must not throttle either: five reads and two writes of a
            # large portal would otherwise outrun HubSpot's 190 per 10 s and fail with 429s.
            command += ["--burst-limit", "0", "--search-limit", "0"]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603  # our own interpreter and module
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_forward, args=(self._process.stdout, lines), daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=_START_SECONDS)
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                problem = (self._process.stderr.read() if self._process.stderr else "").strip().splitlines()
                raise CrmError(f"the {self.kind} emulator did not start: {problem[-1] if problem else 'no answer'}")
            if line.startswith("instance_url="):
                return line.removeprefix("instance_url=").strip()
            if "listening on " in line:
                return line.rsplit("listening on ", 1)[1].strip()

    def reset_log(self) -> None:
        """Forget the request log, so the next `calls` counts only what follows."""
        request = urllib.request.Request(f"{self.url}/__emulator/reset-log", data=b"{}", method="POST")  # noqa: S310  # loopback
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310  # a loopback URL this process started
            pass

    def calls(self) -> Counter[str]:
        """API calls since the last `reset_log`, by kind (`read`, `write`, `lists`, ...)."""
        # The counts alone: the full log of a large HubSpot rehearsal carries every body (seconds to send).
        with urllib.request.urlopen(f"{self.url}/__emulator/calls", timeout=30) as answer:  # noqa: S310  # loopback
            entries: list[dict[str, Any]] = json.loads(answer.read())
        counted: Counter[str] = Counter()
        for entry in entries:
            counted[call_kind(self.kind, str(entry["method"]), str(entry["path"]))] += int(entry["count"])
        return counted

    def stop(self) -> None:
        """Stop the emulator process."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> SnapshotEmulator:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def call_kind(crm: str, method: str, path: str) -> str:
    """A readable kind of API call for the rehearsal report."""
    if crm == "salesforce":
        kinds = (("/oauth2/", "login"), ("/limits", "limits"), ("/describe", "describe"), ("/ui-api/", "describe"),
                 ("/jobs/ingest", "bulk write"), ("/jobs/query", "bulk read"), ("/composite/sobjects", "write"),
                 ("/query", "read"))
    else:
        # Associations first: their batch reads are not reads of the object.
        kinds = (("/associations", "associations"), ("/lists", "lists"), ("/owners", "owners"),
                 ("/properties", "properties"), ("/batch/update", "write"), ("/batch/read", "read"),
                 ("/search", "search"), ("/objects", "read"))
    for fragment, kind in kinds:
        if fragment in path:
            if kind == "read" and method not in {"GET", "POST"}:
                continue
            return kind
    return "other"


def _forward(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    """Pass the child's stdout lines on; None once it ends."""
    if stream is not None:
        for line in stream:
            lines.put(line)
    lines.put(None)
