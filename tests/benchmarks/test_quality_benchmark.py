"""Issue 22 target: coverage, lint and mutation of the shipped rulebook under 30 s together."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from revrules.cli.main import main

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


@pytest.mark.benchmark
def test_coverage_lint_and_mutation_of_the_shipped_rulebook_take_under_thirty_seconds(
        capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert main(["test", "-c", str(EXAMPLE), "--coverage"]) == 0
    assert main(["lint", "-c", str(EXAMPLE)]) == 0
    assert main(["test", "-c", str(EXAMPLE), "--mutate"]) == 0
    elapsed = time.perf_counter() - started
    capsys.readouterr()
    print(f"coverage + lint + mutate: {elapsed:.1f} s")
    assert elapsed < 30
