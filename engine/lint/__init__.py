"""Static analysis of rulebooks: findings with stable codes, file:line:col and a witness record."""

from __future__ import annotations

from dataclasses import replace

from revrules.engine.definitions import Rulebook
from revrules.engine.lint.checks import check_rulebook
from revrules.engine.lint.findings import CODES, Code, Finding
from revrules.engine.lint.silence import forget_files, silencing_reason
from revrules.engine.lint.witness import verified

__all__ = ["CODES", "Code", "Finding", "lint_rulebook"]

# Findings proved impossible by the solver stand even when the illustration record fails;
# the others claim something happens, and only a reproduced witness proves that.
_PROVED = frozenset({"RR101", "RR104", "RR105", "RR107"})


def lint_rulebook(book: Rulebook) -> list[Finding]:
    """Every finding, each with its witness checked by a real evaluation and its ignore comment applied."""
    forget_files()
    findings = []
    for found in check_rulebook(book):
        finding = found
        if not verified(book, found):
            if found.code not in _PROVED:
                continue
            finding = replace(found, witness=None)
        reason = silencing_reason(finding.file, finding.line, finding.code)
        findings.append(replace(finding, silenced=reason) if reason else finding)
    return sorted(findings, key=lambda f: (f.file, f.line, f.col, f.code))
