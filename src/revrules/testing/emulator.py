"""What both CRM emulators share: HTTP plumbing, JSON answers, the request log and the fault switches.

An emulator subclasses :class:`Emulator` (which adds a request log and a control
surface to :class:`~revrules.testing.server.LoopbackServer`), serves through a
subclass of :class:`JsonRequestHandler`, logs subclasses of :class:`LogEntry`
and keeps its switches in a subclass of :class:`SharedFaults`, so the same fault
has the same name, and the same log query works, on every CRM.

Control endpoints (neither logged nor counted as API calls), the same on every emulator:

* ``GET /__emulator/faults``: the switches as JSON.
* ``POST /__emulator/faults``: a JSON object of switches to set; ``{"reset": true}``
  first restores every default. An unknown switch answers 400.
* ``GET /__emulator/log``: the request log.
* ``GET /__emulator/calls``: the logged requests counted by method and path
  (``[{method, path, count}]``), without the bodies a HubSpot log entry carries.
* ``POST /__emulator/reset-log``: forget the log and restart call numbering at 1.
"""

from __future__ import annotations

import json
import math
import threading
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, TypeVar

from revrules.testing.server import LoopbackServer

__all__ = [
    "CONTROL_PREFIX",
    "Answer",
    "Emulator",
    "EmulatorHTTPServer",
    "JsonRequestHandler",
    "LogEntry",
    "SharedFaults",
    "json_answer",
    "parse_json_object",
]

CONTROL_PREFIX = "/__emulator/"
"""Paths under this prefix are the control surface, not the emulated API."""
LOST_ANSWERS = ("reset", "truncate", "not_json", "timeout")
"""The ways `lose_response_on_call` loses an answer."""
LOST_TIMEOUT_SECONDS = 2.0
"""How long a `timeout` answer is held before the connection is closed."""


# ---------------------------------------------------------------------------
# Answers and JSON.
# ---------------------------------------------------------------------------


@dataclass
class Answer:
    """One HTTP answer: status, body bytes, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(
    status: int,
    payload: Any,
    *,
    content_type: str = "application/json;charset=UTF-8",
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """Answer with a JSON body.

    Args:
        status: The HTTP status.
        payload: Any JSON-serialisable value; None sends an empty body.
        content_type: The `Content-Type` (the CRMs spell the charset differently).
        headers: Extra headers.

    Returns:
        The answer.
    """
    body = b"" if payload is None else json.dumps(payload).encode("utf-8")
    return Answer(status, body, content_type, dict(headers or {}))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object (an empty body is `{}`).

    Raises:
        ValueError: The body is not JSON or not an object.
    """
    value = json.loads(raw or b"{}")
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


# ---------------------------------------------------------------------------
# Fault switches.
# ---------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """A switch value as JSON: sets become sorted lists, mapping keys strings."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(value)
    return value


@dataclass
class SharedFaults:
    """The fault switches every emulator has, under one name each.

    Set them in-process (``emulator.faults.status_on_call = {2: 503}``) or with
    ``POST /__emulator/faults``. Each CRM's subclass adds its own switches and
    documents how its CRM answers.

    Attributes:
        status_on_call: API call number (from 1) → HTTP status to answer instead.
        daily_limit_after: After this many API calls every call is refused as over
            the daily limit; None for no limit.
        auth_failure: Credentials are refused.
        delay_seconds: Sleep this long before answering each API request.
        retry_after: Seconds sent in `Retry-After` on injected and rate-limit
            answers, or None to send none.
        record_errors: Records whose writes are refused: record id → message, or a
            set of ids (each CRM then uses its own default message).
        lose_response_on_call: API call number → how its answer is lost after the call
            was carried out (the write landed): ``reset`` closes the connection before
            answering, ``truncate`` sends half of the body and closes, ``not_json`` sends
            a 200 with an HTML body, ``timeout`` holds the answer for `LOST_TIMEOUT_SECONDS`
            and then closes (set a shorter client timeout).
        field_errors: Fields of a record whose writes are refused, naming that field only:
            record id → field name → message. The record's other fields are accepted when
            sent without the refused ones (unlike `record_errors`, which refuses the record
            whatever is sent).
    """

    status_on_call: dict[int, int] = field(default_factory=dict)
    daily_limit_after: int | None = None
    auth_failure: bool = False
    delay_seconds: float = 0.0
    retry_after: int | None = None
    record_errors: dict[str, str] | set[str] = field(default_factory=dict)
    lose_response_on_call: dict[int, str] = field(default_factory=dict)
    field_errors: dict[str, dict[str, str]] = field(default_factory=dict)

    def update(self, settings: Mapping[str, Any]) -> None:
        """Apply switches from JSON; `{"reset": true}` first restores every default.

        Args:
            settings: Switch name → value; `reset` is not a switch but an instruction.

        Raises:
            ValueError: An unknown switch name (nothing is changed), or a badly typed value.
        """
        known = {f.name for f in fields(self)}
        unknown = set(settings) - known - {"reset"}
        if unknown:
            raise ValueError(f"unknown fault switch(es): {', '.join(sorted(unknown))}")
        if settings.get("reset"):
            fresh = type(self)()
            for name in known:
                setattr(self, name, getattr(fresh, name))
        for name, value in settings.items():
            if name != "reset":
                self._set(name, value)

    def _set(self, name: str, value: Any) -> None:
        """Set one switch from its JSON value; subclasses convert their own switches first."""
        if name == "status_on_call":
            self.status_on_call = {int(k): int(v) for k, v in dict(value or {}).items()}
        elif name == "daily_limit_after":
            self.daily_limit_after = None if value is None else int(value)
        elif name == "auth_failure":
            self.auth_failure = bool(value)
        elif name == "delay_seconds":
            self.delay_seconds = float(value or 0)
        elif name == "retry_after":
            # Retry-After carries whole seconds.
            self.retry_after = None if value is None else math.ceil(float(value))
        elif name == "record_errors":
            self.record_errors = _id_messages(value)
        elif name == "lose_response_on_call":
            modes = {int(k): str(v) for k, v in dict(value or {}).items()}
            unknown = set(modes.values()) - set(LOST_ANSWERS)
            if unknown:
                raise ValueError(f"lose_response_on_call: unknown way(s) to lose an answer: {sorted(unknown)}")
            self.lose_response_on_call = modes
        elif name == "field_errors":
            self.field_errors = {str(record): {str(f): str(m) for f, m in dict(named).items()}
                                 for record, named in dict(value or {}).items()}
        else:
            setattr(self, name, value)

    def record_error(self, record_id: str) -> str | None:
        """The refusal `record_errors` sets for a record: its message, "" for the CRM's default, or None."""
        errors = self.record_errors
        if isinstance(errors, dict):
            return errors.get(record_id)
        return "" if record_id in errors else None

    def field_error(self, record_id: str, field_name: str) -> str | None:
        """The refusal `field_errors` sets for one field of a record, or None."""
        return self.field_errors.get(record_id, {}).get(field_name)

    def to_json(self) -> dict[str, Any]:
        """The switches as JSON-ready data."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _id_messages(value: Any) -> dict[str, str] | set[str]:
    """`record_errors` from JSON: an object of id → message, or a list of ids."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, Collection) and not isinstance(value, str):
        return {str(v) for v in value}
    raise ValueError("record_errors must map record ids to messages or list record ids")


# ---------------------------------------------------------------------------
# The request log.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """What every emulator logs about one API request it answered.

    Attributes:
        method: The HTTP verb.
        path: The path, without the query string.
        status: The HTTP status answered.
        call: The API call number (from 1), or None for a request that is not an API call.
    """

    method: str
    path: str
    status: int
    call: int | None

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON-ready data."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


EntryT = TypeVar("EntryT", bound=LogEntry)
FaultsT = TypeVar("FaultsT", bound=SharedFaults)


# ---------------------------------------------------------------------------
# The emulator base and its HTTP plumbing.
# ---------------------------------------------------------------------------


class Emulator(LoopbackServer, Generic[EntryT, FaultsT]):
    """A loopback CRM with a request log, fault switches and the `/__emulator/` control surface.

    Subclasses set `handler_class`, create `faults`, and implement `_respond` (the
    API) and `_control_error` (the CRM's error body for a refused control request).
    """

    handler_class: ClassVar[type[JsonRequestHandler]]
    faults: FaultsT
    _host: str = "127.0.0.1"
    _port: int = 0

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._log: list[EntryT] = []
        self._calls = 0
        self._current = threading.local()

    def _make_server(self) -> ThreadingHTTPServer:
        return EmulatorHTTPServer((self._host, self._port), self.handler_class, self)

    @abstractmethod
    def _respond(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one HTTP request (path with query string as `target`)."""

    # -- the request log -----------------------------------------------------------------
    @property
    def request_log(self) -> list[EntryT]:
        """A snapshot of the API requests answered since start or the last reset, oldest first."""
        with self._lock:
            return list(self._log)

    def requests(self, method: str | None = None, path_contains: str | None = None) -> list[EntryT]:
        """The logged requests matching every given criterion, oldest first.

        Args:
            method: Only this HTTP verb (any case).
            path_contains: Only requests whose path contains this text.

        Returns:
            The matching log entries.
        """
        verb = None if method is None else method.upper()
        return [
            entry
            for entry in self.request_log
            if (verb is None or entry.method == verb) and (path_contains is None or path_contains in entry.path)
        ]

    @property
    def call_count(self) -> int:
        """API calls since start or the last reset (the numbering `status_on_call` uses)."""
        with self._lock:
            return self._calls

    def reset_log(self) -> None:
        """Forget logged requests and restart API call numbering at 1."""
        with self._lock:
            self._log.clear()
            self._calls = 0

    def _next_call(self) -> int:
        """Number a new API call."""
        with self._lock:
            self._calls += 1
            self._current.call = self._calls
            return self._calls

    def _lost_answer(self) -> str | None:
        """How the answer to the request this thread just handled is to be lost, if at all."""
        call = getattr(self._current, "call", None)
        self._current.call = None
        with self._lock:
            return self.faults.lose_response_on_call.get(call) if call is not None else None

    def _record(self, entry: EntryT) -> None:
        with self._lock:
            self._log.append(entry)

    # -- the control surface ---------------------------------------------------------------
    def _log_json(self) -> Any:
        """The body of `GET /__emulator/log`."""
        return [entry.to_json() for entry in self.request_log]

    def _calls_json(self) -> list[dict[str, Any]]:
        """The body of `GET /__emulator/calls`: logged requests counted by method and path, without their bodies."""
        counted = Counter((entry.method, entry.path) for entry in self.request_log)
        return [{"method": method, "path": path, "count": count} for (method, path), count in sorted(counted.items())]

    @abstractmethod
    def _control_error(self, status: int, message: str) -> Answer:
        """A refused control request, in the CRM's error shape."""

    def _control_json(self, status: int, payload: Any) -> Answer:
        """A control answer with a JSON body."""
        return json_answer(status, payload)

    def _control(self, method: str, path: str, body: bytes) -> Answer:
        """Answer a request under `/__emulator/` (see the module docstring)."""
        if path == "/__emulator/faults" and method == "GET":
            return self._control_json(200, self.faults.to_json())
        if path == "/__emulator/faults" and method == "POST":
            try:
                settings = parse_json_object(body)
                with self._lock:
                    self.faults.update(settings)
            except (ValueError, TypeError, AttributeError) as problem:
                return self._control_error(400, str(problem))
            return self._control_json(200, self.faults.to_json())
        if path == "/__emulator/log" and method == "GET":
            return self._control_json(200, self._log_json())
        if path == "/__emulator/calls" and method == "GET":
            return self._control_json(200, self._calls_json())
        if path == "/__emulator/reset-log" and method == "POST":
            self.reset_log()
            return Answer(204)
        return self._control_error(404, f"no control endpoint {method} {path}")


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the emulator its handlers answer for."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], emulator: Emulator[Any, Any]
    ) -> None:
        self.emulator = emulator
        super().__init__(address, handler)


class JsonRequestHandler(BaseHTTPRequestHandler):
    """Hands every request to the server's emulator and writes its `Answer`."""

    protocol_version = "HTTP/1.1"
    # StreamRequestHandler.setup() then sets TCP_NODELAY on the accepted socket: without it
    # Nagle's algorithm holds back the small answers of a keep-alive connection (~40 ms each).
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def do_GET(self) -> None:
        """Answer a GET."""
        self._answer()

    def do_POST(self) -> None:
        """Answer a POST."""
        self._answer()

    def do_PATCH(self) -> None:
        """Answer a PATCH."""
        self._answer()

    def do_PUT(self) -> None:
        """Answer a PUT."""
        self._answer()

    def do_DELETE(self) -> None:
        """Answer a DELETE."""
        self._answer()

    def _body(self) -> bytes:
        """The request body, by `Content-Length` or chunked transfer encoding."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self) -> None:
        body = self._body()
        emulator = self.server.emulator
        emulator._lost_answer()  # a call number left by an earlier request on this thread is not this one's
        answer = emulator._respond(self.command, self.path, dict(self.headers.items()), body)
        lost = emulator._lost_answer()
        if lost is not None:
            self._lose(answer, lost)
            return
        self.send_response(answer.status)
        if answer.body or answer.status not in {204, 304}:
            self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if answer.body:
            self.wfile.write(answer.body)

    def _lose(self, answer: Answer, how: str) -> None:
        """Carry out `lose_response_on_call`: the request was handled; its answer does not arrive whole."""
        self.close_connection = True
        if how == "timeout":
            time.sleep(LOST_TIMEOUT_SECONDS)
            return
        if how == "reset":
            return
        body = b"<html><body>502 Bad Gateway</body></html>" if how == "not_json" else answer.body
        self.send_response(200 if how == "not_json" else answer.status)
        self.send_header("Content-Type", "text/html" if how == "not_json" else answer.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if how == "not_json" else body[: len(body) // 2])
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the emulator keeps its own request log."""
