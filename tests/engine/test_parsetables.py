"""The shipped rule-engine parser tables match the installed grammar, so PLY uses them instead of rebuilding."""

from __future__ import annotations

import json
import subprocess
import sys

from rule_engine._vendor.ply import yacc

from revrules.engine import parsetables


def test_shipped_tables_carry_the_installed_grammars_signature() -> None:
    shipped = json.loads(parsetables.TABLES.read_text())
    assert shipped["tabversion"] == yacc.__tabversion__
    assert shipped["signature"] == parsetables.build()["signature"]


def test_rules_parsed_with_the_shipped_tables_evaluate_as_usual() -> None:
    code = (
        "import revrules.engine, sys, rule_engine\n"
        "assert sys.modules['rule_engine.parser.parsetab'].__name__ == 'rule_engine.parser.parsetab'\n"
        "rule = rule_engine.Rule(\"employees >= 100 and country in ['US', 'CA'] or name =~ 'Inc'\")\n"
        "print(rule.matches({'employees': 150, 'country': 'CA', 'name': 'x'}),"
        " rule.matches({'employees': 5, 'country': 'CA', 'name': 'x'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False"]
