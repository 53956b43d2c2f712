"""The scripts under `benchmarks/`, run in this process so a test can assert on the figures they return."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(name: str, argv: list[str]) -> dict[str, Any]:
    """Load `benchmarks/<name>.py` (a script, not a package module) and return what its `main(argv)` measured."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures: dict[str, Any] = bench.main(argv)
    return figures
