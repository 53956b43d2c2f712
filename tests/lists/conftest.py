"""Fixtures for the marketing-list tests: the real `revrules` command, in-process."""

from __future__ import annotations

import pytest

import revrules.testing.hubspot as hubspot_emulator


@pytest.fixture(autouse=True)
def _fast_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without TCP_NODELAY each emulator answer waits ~40 ms for a delayed ACK.
    monkeypatch.setattr(hubspot_emulator._RequestHandler, "disable_nagle_algorithm", True)
