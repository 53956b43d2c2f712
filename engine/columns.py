"""Names of the columns evaluation adds beside each output: its deciding rule, conflicts, list membership."""

from __future__ import annotations

DEFAULT, OVERRIDE, CONFLICT = "default", "override", "conflict"


def rule_column(name: str) -> str:
    """The column holding the id of the rule that decided `name`."""
    return f"{name}#rule"


def conflict_column(name: str) -> str:
    """The column listing the matching rule ids of a `unique` decision in conflict."""
    return f"{name}#conflicts"


def list_column(list_id: str) -> str:
    """The boolean membership column of a marketing list."""
    return f"list#{list_id}"
