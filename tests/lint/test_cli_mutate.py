"""`test --mutate` through the `revrules` command."""

from __future__ import annotations

from typing import Any

from revrules.testing.harness import Cli

BOOK = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: enterprise, when: "employees >= 2000", then: Enterprise}
      - {id: smb, when: "employees >= 1", then: SMB}
    default: Unclassified
tests:
  - {name: big, account: {employees: 5000}, expect: {segment: Enterprise}}
  - {name: small, account: {employees: 10}, expect: {segment: SMB}}
  - {name: blank, account: {}, expect: {segment: Unclassified}}
"""


def test_mutate_reports_a_boundary_no_test_pins(cli: Cli, project: Any) -> None:
    result = cli("test", "-c", project(BOOK), "--mutate", "--fail-under", "100")
    assert result.code == 1
    assert ("the tests would not notice if rule 'enterprise' read `employees > 2000` instead of "
            "`employees >= 2000`") in result.out
    assert "mutation score" in result.out and "under 100%" in result.err


def test_a_boundary_test_kills_the_boundary_mutants(cli: Cli, project: Any) -> None:
    pinned = BOOK + "  - {name: edge, account: {employees: 2000}, expect: {segment: Enterprise}}\n" \
                    "  - {name: below, account: {employees: 1999}, expect: {segment: SMB}}\n" \
                    "  - {name: one, account: {employees: 1}, expect: {segment: SMB}}\n" \
                    "  - {name: zero, account: {employees: 0}, expect: {segment: Unclassified}}\n"
    document = cli("test", "-c", project(pinned), "--mutate", "--json").json()
    assert document["mutation"]["survivors"] == []
    assert document["mutation"]["score"] == 100.0


def test_reordering_rules_that_never_overlap_is_not_a_mutant(cli: Cli, project: Any) -> None:
    book = BOOK.replace('"employees >= 1"', '"employees >= 1 and employees < 2000"')
    document = cli("test", "-c", project(book), "--mutate", "--json").json()
    assert not any("came before" in s["description"] for s in document["mutation"]["survivors"])
