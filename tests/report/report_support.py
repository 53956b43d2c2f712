"""Shared types of the report tests."""

from __future__ import annotations

from collections.abc import Callable

Run = Callable[..., tuple[int, str, str]]
"""Runs `revrules ARGS...` in-process and returns (exit code, stdout, stderr)."""
