"""Every finding code triggers on its small rulebooks and stays quiet on the others; witnesses reproduce."""

from __future__ import annotations

import json
from typing import Any

from revrules.engine.lint.witness import reproduces
from revrules.testing.harness import Cli


def test_lint_case(lint_case: tuple[str, dict[str, Any]], project: Any, cli: Cli) -> None:
    code, case = lint_case
    config = project(case["rulebook"])
    result = cli("lint", "-c", config, "--format", "json")
    report = json.loads(result.out)
    mine = [f for f in report["findings"] if f["code"] == code]
    assert sorted(f["target"] for f in mine if f["silenced"] is None) == sorted(case["triggers"]), result.out
    assert sorted(f["target"] for f in mine if f["silenced"]) == sorted(case.get("silenced", []))
    assert result.code == (1 if report["open"] else 0)
    for finding in mine:
        assert finding["file"].endswith("book.yaml")
        assert finding["line"] >= 1 and finding["col"] >= 1
        assert finding["witness"] is not None, finding
        explained = cli("explain", "-c", config, "--account", json.dumps(finding["witness"]), "--json")
        assert explained.code == 0, explained.err
        assert reproduces(finding["claim"], json.loads(explained.out)), (finding, explained.out)
