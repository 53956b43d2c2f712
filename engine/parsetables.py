"""rule-engine's parser tables, shipped prebuilt so that no process spends half a second building them at import."""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

TABLES = Path(__file__).with_name("parsetables.json")
MODULE = "rule_engine.parser.parsetab"


def install(tables: Path = TABLES) -> None:
    """Make the prebuilt tables importable where PLY looks for them; a missing file changes nothing.

    rule-engine builds its LALR tables with PLY on first import unless the module
    `rule_engine.parser.parsetab` exists and carries the grammar's signature. PLY checks
    that signature itself, so after a rule-engine upgrade that changes the grammar the
    tables are simply rebuilt as before (and `write()` refreshes the file).
    """
    if MODULE in sys.modules:
        return
    try:
        data = json.loads(tables.read_text())
    except (OSError, ValueError):
        return
    module = types.ModuleType(MODULE)
    module._tabversion = data["tabversion"]  # type: ignore[attr-defined]
    module._lr_method = data["method"]  # type: ignore[attr-defined]
    module._lr_signature = data["signature"]  # type: ignore[attr-defined]
    module._lr_action = _by_state(data["action"])  # type: ignore[attr-defined]
    module._lr_goto = _by_state(data["goto"])  # type: ignore[attr-defined]
    module._lr_productions = [tuple(p) for p in data["productions"]]  # type: ignore[attr-defined]
    sys.modules[MODULE] = module


def _by_state(items: dict[str, list[list[int]]]) -> dict[int, dict[str, int]]:
    """PLY's compact `{symbol: [states, values]}` form back to `{state: {symbol: value}}`."""
    table: dict[int, dict[str, int]] = {}
    for symbol, (states, values) in items.items():
        for state, value in zip(states, values, strict=True):
            table.setdefault(state, {})[symbol] = value
    return table


def _by_symbol(table: dict[int, dict[str, int]]) -> dict[str, list[list[int]]]:
    items: dict[str, list[list[int]]] = {}
    for state, row in table.items():
        for symbol, value in row.items():
            states, values = items.setdefault(symbol, [[], []])
            states.append(state)
            values.append(value)
    return items


def build() -> dict[str, Any]:
    """Build the tables of the installed rule-engine's grammar with PLY."""
    # Imported here: importing rule_engine at module level would build the very tables `install` saves building.
    from rule_engine._vendor.ply import yacc
    from rule_engine.parser import Parser

    with tempfile.TemporaryDirectory() as folder:
        yacc.yacc(module=Parser(), debug=False, write_tables=True, outputdir=folder, tabmodule="revrules_parsetab")
        spec = importlib.util.spec_from_file_location("revrules_parsetab", Path(folder) / "revrules_parsetab.py")
        if spec is None or spec.loader is None:
            raise RuntimeError("PLY wrote no table module")
        written = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(written)
    return {
        "tabversion": written._tabversion,
        "method": written._lr_method,
        "signature": written._lr_signature,
        "action": _by_symbol(written._lr_action),
        "goto": _by_symbol(written._lr_goto),
        "productions": written._lr_productions,
    }


def write(tables: Path = TABLES) -> None:
    """Refresh the shipped tables after a rule-engine upgrade changed its grammar."""
    tables.write_text(json.dumps(build(), separators=(",", ":")) + "\n")
