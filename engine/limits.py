"""Size and depth limits on what a rulebook may contain, so hostile files fail fast with one line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rule_engine import ast

MAX_FILE_BYTES = 10 * 1024 * 1024
"""A rulebook or config file larger than this is refused before parsing."""
MAX_YAML_DEPTH = 100
"""Nesting of YAML collections (a territory tree uses two levels per tier)."""
MAX_YAML_ALIASES = 1000
"""Alias uses (`*name`) in one file."""
MAX_YAML_NODES = 500_000
"""Nodes after expanding aliases: an alias bomb is refused before it is expanded."""
MAX_EXPRESSION_DEPTH = 100
"""Nesting of one expression's syntax tree (`a and b and ...` nests one level per term)."""
MAX_EXPRESSION_CHARS = 200_000
"""Length of one expression (a long `in [...]` list is fine; a megabyte is not a rule)."""

_CHILDREN = ("left", "right", "expression", "condition", "case_true", "case_false", "container", "member",
             "object", "start", "stop", "value", "arguments", "iterable", "result", "default_value")


def children(node: Any) -> Iterator[Any]:
    """The expression nodes directly under `node` in a rule-engine syntax tree."""
    for name in _CHILDREN:
        value = getattr(node, name, None)
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, ast.ExpressionBase):
                yield item
            elif isinstance(item, tuple | list):
                pending += list(item)


def walk(root: Any) -> Iterator[tuple[Any, int]]:
    """Every node under `root` with its depth (root = 1), without recursion."""
    pending = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        yield node, depth
        pending += [(child, depth + 1) for child in children(node)]


def expression_depth(root: Any) -> int:
    """The depth of a syntax tree, stopping as soon as it exceeds the limit."""
    deepest = 0
    for _node, depth in walk(root):
        deepest = max(deepest, depth)
        if deepest > MAX_EXPRESSION_DEPTH:
            break
    return deepest


def regex_literals(root: Any) -> Iterator[str]:
    """The literal patterns of every regex match (`=~`, `=~~`, `!~`, `!~~`) in a syntax tree."""
    for node, _depth in walk(root):
        if isinstance(node, ast.FuzzyComparisonExpression) and isinstance(node.right, ast.StringExpression):
            yield str(node.right.value)


def too_deep_message() -> str:
    """The one-line problem for an expression nested beyond the limit."""
    return (f"expression nested more than {MAX_EXPRESSION_DEPTH} levels deep; split it into derived values "
            "or use `x in [...]` instead of a long and/or chain")
