"""`# revrules: ignore=CODE reason` comments, read from the rulebook text beside the rule they silence."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_IGNORE = re.compile(r"#\s*revrules:\s*ignore=([A-Z0-9, ]+?)(?:\s+(\S.*))?$")
_ITEM = re.compile(r"^\s*-\s")
_COMMENT = re.compile(r"^\s*#")


@cache
def _lines(file: str) -> tuple[str, ...]:
    try:
        return tuple(Path(file).read_text(encoding="utf-8").splitlines())
    except OSError:
        return ()


def silencing_reason(file: str, line: int, code: str) -> str | None:
    """The reason of an ignore comment for `code` on the rule around `line`, if there is one.

    The comment may sit on any line of the rule's list item, from its `- ` line to the
    `when` line, or on comment lines just above the item. A comment without a reason
    silences nothing: the reason is what a reviewer reads.
    """
    lines = _lines(file)
    if not 0 < line <= len(lines):
        return None
    candidates = []
    index = line - 1
    while index >= 0:
        candidates.append(lines[index])
        if _ITEM.match(lines[index]):
            break
        index -= 1
    index -= 1
    while index >= 0 and _COMMENT.match(lines[index]):
        candidates.append(lines[index])
        index -= 1
    for text in candidates:
        match = _IGNORE.search(text)
        if match and code in {c.strip() for c in match.group(1).split(",")} and match.group(2):
            return match.group(2).strip()
    return None


def forget_files() -> None:
    """Drop cached file text (tests rewrite rulebooks in place)."""
    _lines.cache_clear()
