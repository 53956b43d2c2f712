"""Every finding code triggers on its small rulebooks and stays quiet on the others; witnesses reproduce."""

from __future__ import annotations

import json
from typing import Any

from revrules.engine.lint.witness import reproduces
from revrules.testing.harness import Cli


def test_lint_case(lint_case: tuple[str, dict[str, Any]], project: Any, cli: Cli) -> None:
    code, case = lint_case
    population = case["accounts"] is not None
    config = project(case["rulebook"], accounts=case["accounts"])
    result = cli("lint", "-c", config, "--format", "json", *(["--online"] if population else []))
    report = json.loads(result.out)
    mine = [f for f in report["findings"] if f["code"] == code]
    assert sorted(f["target"] for f in mine if f["silenced"] is None) == sorted(case["triggers"]), result.out
    assert sorted(f["target"] for f in mine if f["silenced"]) == sorted(case.get("silenced", []))
    assert result.code == (1 if report["open"] else 0)
    for finding in mine:
        assert finding["file"].endswith("book.yaml")
        assert finding["line"] >= 1 and finding["col"] >= 1
        if "values" in case:
            assert {v["value"]: v["count"] for v in finding["values"]} == case["values"]
        if finding["record"] is not None:
            explained = cli("explain", "-c", config, finding["record"], "--json")
        elif code == "RR201":  # held for no record read: there is no record to show
            continue
        else:
            assert finding["witness"] is not None, finding
            explained = cli("explain", "-c", config, "--account", json.dumps(finding["witness"]), "--json")
        assert explained.code == 0, explained.err
        assert reproduces(finding["claim"], json.loads(explained.out)), (finding, explained.out)
