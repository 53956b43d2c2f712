"""Log lines on stderr: plain text for people, one JSON object per line for log collectors."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

CHATTY_LIBRARIES = ("apscheduler", "tzlocal", "urllib3")
"""Libraries whose info lines describe their own machinery: shown only with `--debug`."""


def iso_time(record: logging.LogRecord) -> str:
    """The record's time as ISO 8601 in UTC with milliseconds: `2026-03-01T04:00:00.123Z`."""
    moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one_line(text: str) -> str:
    # One event, one line: a multi-line message (several problems) must not look like several events.
    return "; ".join(part for part in text.splitlines() if part.strip()) if "\n" in text else text


class JsonFormatter(logging.Formatter):
    """One JSON object per log record."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as `{"time", "level", "logger", "message"}`."""
        data = {"time": iso_time(record), "level": record.levelname.lower(), "logger": record.name,
                "message": _one_line(record.getMessage())}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data)


class TextFormatter(logging.Formatter):
    """`revrules: message`, led by an ISO 8601 UTC time for long-running commands."""

    def __init__(self, *, timestamps: bool) -> None:
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line (a traceback, shown only for bugs and `--debug`, follows it)."""
        line = f"revrules: {_one_line(record.getMessage())}"
        if self.timestamps:
            line = f"{iso_time(record)} {line}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(*, log_format: str, debug: bool, timestamps: bool = False) -> None:
    """Send every log line to stderr in the chosen format; debug lines only with `debug`.

    Args:
        log_format: `text` or `json` (JSON lines always carry their time).
        debug: Show debug lines, including the chatter of the libraries revrules drives.
        timestamps: Lead text lines with their time (the scheduler runs for days).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(timestamps=timestamps))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)
