"""Lint findings and the registry of their stable codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Code:
    """A finding code: stable id, readable name, one-line explanation.

    `population` codes are about the records read, not the rulebook alone: `lint --online`
    fails on them, `check --online` shows them as notes (the data may simply not have the
    case yet).
    """

    id: str
    name: str
    summary: str
    population: bool = False


CODES: dict[str, Code] = {
    code.id: code
    for code in (
        Code("RR101", "shadowed-rule",
             "under `first`, an earlier rule holds whenever this one does, so it never decides"),
        Code("RR102", "unique-overlap", "under `unique`, two rules can hold for the same record (a conflict)"),
        Code("RR103", "gap", "a decision without a default: some records match no rule and get no value"),
        Code("RR104", "unreachable-territory", "no record can reach this territory leaf"),
        Code("RR105", "unreachable-list", "no record can be a member of this list"),
        Code("RR106", "always-true", "the condition holds for every record (write `true` if that is meant)"),
        Code("RR107", "always-false", "the condition holds for no record"),
        Code("RR108", "invalid-picklist-value", "a `then` value is not an option of its output's picklist (--online)"),
        Code("RR201", "never-holds", "on the population read, the rule's condition held for no record",
             population=True),
        Code("RR202", "never-decides", "on the population read, the rule held but never decided a record",
             population=True),
        Code("RR203", "unmapped-value",
             "on the population read, input values that no rule maps (they fall to the default or no value)",
             population=True),
    )
}


@dataclass(frozen=True)
class Finding:
    """One finding: where, what, and a record that shows it.

    `claim` says what `explain --account witness` shows (see `witness.reproduces`); a
    population finding names a `record` id instead, and `explain ID` shows the claim.
    `values` are the input values and counts behind an unmapped-value finding.
    """

    code: str
    file: str
    line: int
    col: int
    subject: str
    target: str
    message: str
    witness: dict[str, Any] | None = None
    claim: dict[str, Any] = field(default_factory=dict)
    silenced: str | None = None
    record: str | None = None
    values: list[dict[str, Any]] | None = None

    @property
    def name(self) -> str:
        """The code's readable name."""
        return CODES[self.code].name

    @property
    def on_population(self) -> bool:
        """True for findings about the records read (RR2xx) rather than the rulebook alone."""
        return CODES[self.code].population

    def to_json(self) -> dict[str, Any]:
        """The finding as plain data."""
        return {
            "code": self.code, "name": self.name, "file": self.file, "line": self.line, "col": self.col,
            "subject": self.subject, "target": self.target, "message": self.message, "witness": self.witness,
            "claim": self.claim, "silenced": self.silenced, "record": self.record,
            **({"values": self.values} if self.values is not None else {}),
        }


def location(where: str) -> tuple[str, int, int]:
    """Split an expression's `file:line:col` (the file name may contain colons)."""
    file, line, col = where.rsplit(":", 2)
    return file, int(line), int(col)
