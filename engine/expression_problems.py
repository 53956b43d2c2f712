"""Problems in a rule-engine expression, located at the column of the offending name or token."""

from __future__ import annotations

import re
from typing import Any

import rule_engine

from revrules.engine.yamlstrict import Document, PathKey
from revrules.errors import Problem


def kind_name(data_type: Any) -> str:
    """A rule-engine type as a user reads it: `number`, `string`, `list`..."""
    names = {"FLOAT": "number", "STRING": "string", "BOOLEAN": "boolean", "DATETIME": "datetime",
             "ARRAY": "list", "NULL": "null", "UNDEFINED": "value of unknown type"}
    return names.get(getattr(data_type, "name", ""), str(data_type).lower())


def offset_of(text: str, needle: str) -> int | None:
    """Where `needle` starts in `text` as a whole name (not inside a longer one), or None."""
    match = re.search(rf"(?<![\w$]){re.escape(needle)}(?!\w)", text)
    return match.start() if match else None


def engine_problem(doc: Document, path: PathKey, text: str, exc: rule_engine.errors.EngineError) -> Problem:
    """A rule-engine error as a problem pointing at the token it is about."""
    errors = rule_engine.errors
    if isinstance(exc, errors.SymbolResolutionError):
        hint = f" (did you mean '{exc.suggestion}'?)" if exc.suggestion else ""
        return doc.problem(path, f"unknown name '{exc.symbol_name}'{hint}", offset_of(text, exc.symbol_name))
    if isinstance(exc, errors.AttributeResolutionError):
        hint = f" (did you mean '{exc.suggestion}'?)" if exc.suggestion else ""
        message = f"unknown attribute '{exc.attribute_name}' of a {kind_name(exc.object)}{hint}"
        return doc.problem(path, message, offset_of(text, "." + exc.attribute_name))
    if isinstance(exc, errors.RegexSyntaxError):
        offset = text.find(exc.value) if exc.value else -1
        return doc.problem(path, f"bad regular expression: {exc.error}", offset if offset >= 0 else None)
    if isinstance(exc, errors.RuleSyntaxError):
        token = exc.token
        if token is None:
            return doc.problem(path, "syntax error: the expression ends too early", len(text))
        return doc.problem(path, f"syntax error at '{token.value}'", token.lexpos)
    if isinstance(exc, errors.FunctionCallError | errors.LookupError):
        return doc.problem(path, exc.message)
    return doc.problem(path, f"type mismatch: {exc.message}" if "type" in exc.message else exc.message)
