"""Hand-off digests through the command: per owner, accounts gained and lost with the reason."""

from __future__ import annotations

import csv
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from revrules.testing.harness import Result
from tests.people.test_away_and_gone import project

Cli = Callable[..., Result]

GONE_BOOK = [("g1", "G", 1), ("g2", "G", 1), ("g3", "G", 1), ("g4", "G", 1), ("a1", "A", 1), ("b1", "B", 1),
             ("n1", "", 1)]


def test_handoff_of_a_plan_writes_a_digest_per_owner_and_a_summary(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path / "p", "{id: G, active: false}, {id: A}, {id: B}", GONE_BOOK)
    assert cli("plan", "-c", config, "-o", tmp_path / "plan.json").code == 0
    result = cli("handoff", tmp_path / "plan.json", "-c", config, "-o", tmp_path / "out")
    assert result.code == 0, result.err
    assert "G: +0 -4" in result.out
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["A.csv", "A.md", "B.csv", "B.md", "G.csv", "G.md", "summary.csv", "summary.md"]
    with (tmp_path / "out" / "G.csv").open(encoding="utf-8") as handle:
        lost = list(csv.DictReader(handle))
    assert [(r["change"], r["id"], r["reason"]) for r in lost] == [("lost", f"g{i}", "owner gone") for i in range(1, 5)]
    received = (tmp_path / "out" / "A.md").read_text(encoding="utf-8")
    assert "## Accounts you gain" in received and "| G | owner gone |" in received
    assert "new owner" in (tmp_path / "out" / "A.md").read_text(encoding="utf-8") + (
        tmp_path / "out" / "B.md").read_text(encoding="utf-8")


def test_apply_with_handoff_writes_the_digests_of_its_run(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path / "p", "{id: G, active: false}, {id: A}, {id: B}", GONE_BOOK)
    result = cli("apply", "-c", config, "--yes", "--handoff", tmp_path / "out")
    assert result.code == 0, result.err
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "# Hand-off: run 1" in summary and "| G | 0 | 4 |" in summary
    again = cli("handoff", "--run", "1", "-c", config, "-o", tmp_path / "again")
    assert again.code == 0, again.err
    assert (tmp_path / "again" / "G.csv").read_text() == (tmp_path / "out" / "G.csv").read_text()


def test_a_rebalance_is_named_as_the_reason(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path / "p", "{id: A}, {id: B}", [(f"a{i}", "A", 1) for i in range(4)])
    cli("plan", "-c", config, "--rebalance", "-o", tmp_path / "plan.json")
    assert cli("handoff", tmp_path / "plan.json", "-c", config, "-o", tmp_path / "out").code == 0
    assert "| A | rebalance |" in (tmp_path / "out" / "B.md").read_text(encoding="utf-8")


def test_handoff_needs_a_plan_or_a_run(tmp_path: Path, cli: Cli) -> None:
    config = project(tmp_path / "p", "{id: A}", [("a1", "A", 1)])
    assert cli("handoff", "-c", config).code == 2
    missing = cli("handoff", "--run", "7", "-c", config)
    assert missing.code == 2 and "no run 7" in missing.err


class _Hook(BaseHTTPRequestHandler):
    """A Slack-like webhook that fails its first request with 503, then records messages."""

    received: ClassVar[list[dict[str, str]]] = []
    calls: ClassVar[int] = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).calls == 1:
            self.send_response(503)
        else:
            type(self).received.append(json.loads(body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_apply_sends_one_message_per_owner_to_the_webhook_retrying_and_never_logging_the_url(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/services/SECRET-TOKEN"
        monkeypatch.setenv("WEBHOOK", url)
        config = project(tmp_path / "p", "{id: G, active: false}, {id: A}, {id: B}", GONE_BOOK)
        with config.open("a", encoding="utf-8") as handle:
            handle.write("notify: {url: '${WEBHOOK}', retry_backoff_seconds: 0}\n")
        result = cli("apply", "-c", config, "--yes")
    finally:
        server.shutdown()
    assert result.code == 0, result.err
    texts = sorted(m["text"] for m in _Hook.received)
    assert _Hook.calls == 4  # the first message was retried after a 503
    assert len(texts) == 3 and texts[2].startswith("*Your book changes: G*") and "You hand off 4" in texts[2]
    assert "SECRET-TOKEN" not in result.out + result.err


def test_an_unreachable_webhook_never_fails_the_apply(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("WEBHOOK", f"http://127.0.0.1:{port}/SECRET-TOKEN")
    config = project(tmp_path / "p", "{id: G, active: false}, {id: A}", GONE_BOOK)
    with config.open("a", encoding="utf-8") as handle:
        handle.write("notify: {url: '${WEBHOOK}', retries: 1, retry_backoff_seconds: 0}\n")
    result = cli("apply", "-c", config, "--yes")
    assert result.code == 0, result.err
    assert "not delivered" in result.err and "SECRET-TOKEN" not in result.err
