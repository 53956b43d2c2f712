"""What may be pasted into SOQL: name and id patterns, quoted literals and the user's `where`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from revrules.errors import InvalidInputError

ID_CHUNK = 300
"""Ids per `Id IN (...)` query: about 6,500 characters, well inside the URL limit."""

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
RECORD_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_STRING_LITERAL_RE = re.compile(r"'(?:[^'\\]|\\.)*'")
_WHERE_FORBIDDEN_RE = re.compile(
    r"\b(?:SELECT|FROM|LIMIT|OFFSET|ORDER|GROUP|HAVING|FOR|WITH|UPDATE|USING)\b", re.IGNORECASE
)


def soql_string(value: str) -> str:
    """`value` as a quoted SOQL string literal (backslashes, quotes and control characters escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f"'{escaped}'"


def record_ids(ids: Sequence[str]) -> list[str]:
    """The ids that are Salesforce record ids, once each, in order."""
    return [i for i in dict.fromkeys(ids) if RECORD_ID_RE.match(i)]


def id_lists(ids: Sequence[str]) -> list[str]:
    """Checked ids as `'a', 'b', ...` texts of at most `ID_CHUNK` ids, for `Id IN (...)`."""
    wanted = record_ids(ids)
    return [", ".join(f"'{i}'" for i in wanted[start : start + ID_CHUNK]) for start in range(0, len(wanted), ID_CHUNK)]


def select(object_name: str, names: Sequence[str], condition: str | None) -> str:
    """`SELECT Id, <names> FROM <object> [WHERE <condition>]`; names must be checked already."""
    selected = ", ".join(dict.fromkeys(["Id", *names]))
    where = f" WHERE {condition}" if condition else ""
    return f"SELECT {selected} FROM {object_name}{where}"


def checked_where(where: str | None) -> str | None:
    """The user's own SOQL condition, checked so it stays one parenthesised condition.

    Raises:
        InvalidInputError: It holds `;`, unbalanced parentheses or a clause keyword.
    """
    if where is None or not where.strip():
        return None
    outside = _STRING_LITERAL_RE.sub("''", where)
    depth = 0
    for char in outside:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    problem = None
    if ";" in outside:
        problem = "must not contain ';'"
    elif "'" in _STRING_LITERAL_RE.sub("", outside):
        problem = "has an unterminated string literal"
    elif depth != 0:
        problem = "has unbalanced parentheses"
    elif _WHERE_FORBIDDEN_RE.search(outside):
        problem = "must be a condition only (no SELECT, LIMIT, ORDER BY, ...)"
    if problem:
        raise InvalidInputError(f"crm.where {problem}")
    return f"({where.strip()})"
