"""The exception hierarchy: one root, branches that tell the caller what to do."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """What the `revrules` command's exit status means (SPEC section 4)."""

    OK = 0
    FAILED = 1
    """A runtime failure: CRM unreachable, some records failed to write, tests failed."""
    INVALID = 2
    """Invalid config, rulebook or usage."""
    REFUSED = 3
    """Refused by a safety guard or the run lock."""
    CHANGES = 4
    """Only with `plan --detailed-exitcode`: the plan is not empty."""


class RevrulesError(Exception):
    """Root of every error revrules reports to a user."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class Problem:
    """One problem in a user's file, reported as `file:line:col: path: message`."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InvalidInputError(RevrulesError):
    """Config, rulebook or usage is wrong; retrying will not help (exit 2)."""

    exit_code = ExitCode.INVALID

    def __init__(self, problems: list[Problem] | str) -> None:
        self.problems = [] if isinstance(problems, str) else list(problems)
        text = problems if isinstance(problems, str) else "\n".join(map(str, self.problems))
        super().__init__(text)


class RefusedError(RevrulesError):
    """A safety guard or the run lock refused the operation (exit 3)."""

    exit_code = ExitCode.REFUSED


class LockHeldError(RefusedError):
    """Another run holds the run lock; a scheduled job waits for its next slot."""


class CrmError(RevrulesError):
    """The CRM failed in a way retrying now will not fix (exit 1)."""


class RetriableCrmError(CrmError):
    """A transient CRM failure: retrying later may succeed."""


class WriteOutcomeUnknownError(RetriableCrmError):
    """A write was sent but its answer was lost (timeout, reset, truncated or unreadable body).

    It may or may not have landed: the caller reads the records back to find out, and
    never sends it again blindly.
    """


class ApiBudgetExhaustedError(CrmError):
    """The CRM's daily API allowance is used up: the run stops cleanly; retry after the allowance resets."""


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `name`, when one is close enough.

    Case is ignored: names users type differ from CRM names mostly in case (ID vs Id,
    NumberOfEmployees vs numberofemployees), which difflib would weigh like any typo.
    """
    by_folded = {candidate.casefold(): candidate for candidate in reversed(list(candidates))}
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=1)
    return by_folded[close[0]] if close else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` naming the closest candidate, or nothing."""
    found = closest(name, candidates)
    return f" (did you mean '{found}'?)" if found else ""
