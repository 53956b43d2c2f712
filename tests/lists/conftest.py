"""Fixtures for the marketing-list tests: the real `revrules` command, in-process."""

from __future__ import annotations

import io
import sys

import pytest
from lists_support import Cli, Result

import revrules.testing.hubspot as hubspot_emulator
from revrules.cli import main


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run `revrules ARGS...` in-process; stdin is not a terminal."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    def run(*args: object) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture(autouse=True)
def _fast_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without TCP_NODELAY each emulator answer waits ~40 ms for a delayed ACK.
    monkeypatch.setattr(hubspot_emulator._RequestHandler, "disable_nagle_algorithm", True)
