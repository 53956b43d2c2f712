"""Fixtures every test folder shares: the real `revrules` command, in-process."""

from __future__ import annotations

import io
import sys

import pytest
from hypothesis import HealthCheck, settings

from revrules.cli import main
from revrules.testing.harness import Cli, Result

# The default suite gives the same answer on a busy 2-core machine: fixed examples, no time limits.
settings.register_profile("suite", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


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
