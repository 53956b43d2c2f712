"""Lint rule cases: each YAML file under cases/ holds rulebooks that do and do not trigger one code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

CASES = Path(__file__).parent / "cases"

CONFIG = """\
version: 1
crm: {kind: csv, path: accounts.csv, id_column: Id}
fields:
  employees: {source: Employees, type: number}
  country: Country
  industry: Industry
rules: [rules/]
outputs: {}
"""


def lint_cases() -> list[tuple[str, dict[str, Any]]]:
    """(code, case) for every case in every file, in file order.

    A file with `accounts` (CSV text) holds population cases: linted with `--online`
    over those records, the config's CSV.
    """
    found = []
    for path in sorted(CASES.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        found += [(spec["code"], {"accounts": spec.get("accounts"), **case}) for case in spec["cases"]]
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lint_case" in metafunc.fixturenames:
        cases = lint_cases()
        metafunc.parametrize("lint_case", cases, ids=[f"{code}-{case['name']}" for code, case in cases])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A project folder: write a rulebook with `project(text)`, get the config path back."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "accounts.csv").write_text("Id,Employees,Country,Industry\n1,10,US,Software\n")

    def write(rulebook: str, config: str = CONFIG, accounts: str | None = None) -> Path:
        if accounts is not None:
            (tmp_path / "accounts.csv").write_text(accounts)
        (tmp_path / "rules").mkdir(exist_ok=True)
        (tmp_path / "rules" / "book.yaml").write_text(rulebook)
        (tmp_path / "revrules.yaml").write_text(config)
        return tmp_path / "revrules.yaml"

    return write
