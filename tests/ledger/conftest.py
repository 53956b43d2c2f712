"""Fixtures of the ledger tests: emulated CRMs under projects that write two fields per record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from revrules.testing.harness import Cli
from tests.ledger.projects import Crm


@pytest.fixture
def two_field_crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> Iterator[Callable[..., Crm]]:
    """Make a `Crm` (stopped at the end of the test): `two_field_crm(kind, name="project", count=20, **config)`."""
    made: list[Crm] = []

    def make(kind: str, name: str = "project", count: int = 20, **config: Any) -> Crm:
        crm = Crm(kind, tmp_path / name, monkeypatch, cli, count, **config)
        made.append(crm)
        return crm

    yield make
    for crm in made:
        crm.emulator.stop()
