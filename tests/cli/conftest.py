"""Fixtures for the command tests: the project `revrules init` writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from revrules.cli.scaffold import write_starter


@pytest.fixture
def starter(tmp_path: Path) -> Path:
    """The project `revrules init` writes; returns its config path."""
    write_starter(tmp_path)
    return tmp_path / "revrules.yaml"
