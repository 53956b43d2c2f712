"""Fixtures for driving the real `revrules` command in-process."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from cli_support import Cli, Result

from revrules.cli import main
from revrules.cli.scaffold import write_starter


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


@pytest.fixture
def starter(tmp_path: Path) -> Path:
    """The project `revrules init` writes; returns its config path."""
    write_starter(tmp_path)
    return tmp_path / "revrules.yaml"
