"""Turn pydantic validation errors into `file:line:col: path: message` problems."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from revrules.engine.yamlstrict import Document, PathKey
from revrules.errors import Problem, did_you_mean

M = TypeVar("M", bound=BaseModel)


def validate(doc: Document, model: type[M], known_keys: Sequence[str]) -> tuple[M | None, list[Problem]]:
    """Validate a document against `model`; every problem is located in the file."""
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        problems = [_problem(doc, error, known_keys) for error in exc.errors()]
        unique = list(dict.fromkeys(problems))
        return None, unique


def _problem(doc: Document, error: Any, known_keys: Sequence[str]) -> Problem:
    path = _data_path(doc.data, error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        return doc.problem(path, f"unknown key '{key}'{did_you_mean(key, known_keys)}", key=True)
    if kind == "missing":
        return doc.problem(path, f"missing required key '{error['loc'][-1]}'")
    return doc.problem(path, _message(error))


_PATTERN_MESSAGES = {
    r"^[a-z][a-z0-9_]*$": "must be a lowercase name: a-z, 0-9 and '_', starting with a letter",
    r"^[a-z0-9][a-z0-9._-]*$": "must be a lowercase slug: a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$": "must be letters, digits, '.', '_' and '-', starting with a letter or digit",
    r"^[A-Za-z][A-Za-z0-9_.]*$": "must be a CRM field name: letters, digits, '_' and '.', starting with a letter "
                                "(no '-' or spaces)",
}
"""What each name pattern allows, in words (each message says exactly what its pattern accepts)."""


def _message(error: Any) -> str:
    kind, text = error["type"], error["msg"]
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        return _PATTERN_MESSAGES.get(pattern, f"must match the pattern {pattern}")
    if kind == "literal_error":
        return f"must be {error.get('ctx', {}).get('expected', 'one of the allowed values')}"
    return str(text[0].lower() + text[1:]) if text else kind


def _data_path(data: Any, loc: tuple[Any, ...]) -> PathKey:
    """The part of a pydantic `loc` that exists in the data (drops union member tags)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        in_dict = isinstance(current, dict) and part in current
        if in_dict or (isinstance(current, list) and isinstance(part, int) and part < len(current)):
            current = current[part]
            path.append(part)
    return tuple(path)
