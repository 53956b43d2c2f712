"""Static analysis of rulebooks: findings with stable codes, file:line:col and a witness record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from revrules.engine.definitions import Rulebook
from revrules.engine.lint.checks import Picklist, check_rulebook, check_values
from revrules.engine.lint.findings import CODES, Code, Finding
from revrules.engine.lint.population import population_findings
from revrules.engine.lint.silence import forget_files, silencing_reason
from revrules.engine.lint.witness import verified

__all__ = ["CODES", "Code", "Finding", "Picklist", "lint_rulebook", "population_findings", "settle"]

# Findings proved impossible by the solver stand even when the illustration record fails;
# the others claim something happens, and only a reproduced witness proves that.
_PROVED = frozenset({"RR101", "RR104", "RR105", "RR107"})


def lint_rulebook(book: Rulebook, picklists: Mapping[str, Picklist] | None = None) -> list[Finding]:
    """Every finding, each with its witness checked by a real evaluation and its ignore comment applied.

    Args:
        book: The rulebook.
        picklists: With `--online`: result name -> the options of the CRM field it is
            written to; values outside them are RR108 findings.
    """
    forget_files()
    findings = []
    for found in [*check_rulebook(book), *check_values(book, picklists or {})]:
        finding = found
        if not verified(book, found):
            if found.code not in _PROVED:
                continue
            finding = replace(found, witness=None)
        findings.append(finding)
    return settle(findings)


def settle(findings: Iterable[Finding]) -> list[Finding]:
    """The findings with their ignore comments applied, in file order."""
    settled = []
    for finding in findings:
        reason = silencing_reason(finding.file, finding.line, finding.code)
        settled.append(replace(finding, silenced=reason) if reason else finding)
    return sorted(settled, key=lambda f: (f.file, f.line, f.col, f.code))
