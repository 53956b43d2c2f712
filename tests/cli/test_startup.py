"""Start-up: the parser names each command's handler, and a command imports only what it runs (issue 18)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from revrules.cli.arguments import build_parser
from revrules.cli.main import load_handler

HEAVY = ("polars", "numpy", "pydantic", "z3", "apscheduler")


def _loaded_after(code: str, cwd: Path | None = None) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running `code`."""
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=cwd)
    return done.stdout.split()


def test_every_command_names_a_handler_that_exists() -> None:
    """A misspelt handler would otherwise only fail when a user runs that command."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"plan", "apply", "lint", "rehearse", "schedule", "status"} <= set(commands.choices)
    for name, sub in commands.choices.items():
        assert callable(load_handler(sub.get_default("handler"))), name


def test_help_and_argument_errors_load_no_engine() -> None:
    """`revrules --help` answers without importing polars, numpy, pydantic or the lint's solver."""
    parsed = "from revrules.cli.arguments import build_parser\nbuild_parser().parse_args(['plan', '-o', 'p.json'])"
    assert _loaded_after(parsed) == []


def test_a_plan_loads_neither_the_solver_nor_the_scheduler(tmp_path: Path) -> None:
    """z3 (the lint) and APScheduler (the scheduler) load only for the commands that use them."""
    subprocess.run([sys.executable, "-m", "revrules", "init", str(tmp_path)], check=True, capture_output=True)
    loaded = _loaded_after("from revrules.cli.main import main\nmain(['plan'])", cwd=tmp_path)
    assert "polars" in loaded
    assert "z3" not in loaded
    assert "apscheduler" not in loaded


def _allocator_setting(environment: dict[str, str]) -> str:
    """The allocator setting `python -m revrules --version` runs under, given `environment`."""
    probe = ("import os, sys\nsys.argv = ['revrules', '--version']\nfrom revrules.cli.main import entry\n"
             "try:\n    entry()\nexcept SystemExit:\n    print(os.environ.get('_RJEM_MALLOC_CONF'))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=environment)
    return done.stdout.split()[-1]


def test_polars_hands_freed_memory_back_soon_unless_the_user_says_otherwise() -> None:
    """The command sets polars' allocator (jemalloc) to return freed pages within 250 ms; a user's own setting wins.

    jemalloc reads `_RJEM_MALLOC_CONF` when polars loads; polars appends a user's setting to its own defaults.
    """
    environment = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    assert _allocator_setting(environment) == "dirty_decay_ms:250,muzzy_decay_ms:0"
    assert _allocator_setting({**environment, "_RJEM_MALLOC_CONF": "dirty_decay_ms:0"}) == "dirty_decay_ms:0"
    # What `import polars` puts in a parent's environment (polars/__init__.py) is not a user's choice.
    inherited = subprocess.run([sys.executable, "-c", "import os, polars; print(os.environ['_RJEM_MALLOC_CONF'])"],
                               capture_output=True, text=True, check=True, env=environment).stdout.strip()
    ours = "dirty_decay_ms:250,muzzy_decay_ms:0"
    for parents in (inherited, f"{inherited},{inherited}"):  # pytest imported polars, then a benchmark script did
        assert _allocator_setting({**environment, "_RJEM_MALLOC_CONF": parents}) == ours
