"""Strict YAML loading: only true/false are booleans, no duplicate keys, positions kept."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError

from revrules.engine import limits
from revrules.errors import InvalidInputError, Problem

PathKey = tuple[str | int, ...]


class _StrictLoader(Composer, yaml.CSafeLoader):
    """SafeLoader with YAML 1.2-style scalars (`NO`, `yes`, `on` and `1:20` stay strings) and limits.

    libyaml scans and parses (about 8 times faster than PyYAML's Python scanner, which a plan
    paid on every rulebook and test file); PyYAML's composer builds the nodes from its events,
    so that the limits apply. The composer recurses once per nesting level and shares aliased
    nodes: the limits on depth and alias count stop a hostile file here, before Python's stack
    or memory does.
    """

    def __init__(self, stream: str) -> None:
        yaml.CSafeLoader.__init__(self, stream)
        Composer.__init__(self)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, counting aliases and nesting."""
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > limits.MAX_YAML_ALIASES:
                raise self._error(f"more than {limits.MAX_YAML_ALIASES:,} aliases")
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > limits.MAX_YAML_DEPTH:
            raise self._error(f"nested more than {limits.MAX_YAML_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _error(self, message: str) -> ComposerError:
        """`message` at the next event."""
        mark: Any = getattr(self.peek_event(), "start_mark", None)
        return ComposerError(None, None, message, mark)


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STRICT_RESOLVERS = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.yaml_implicit_resolvers = _STRICT_RESOLVERS
_StrictLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_StrictLoader.add_implicit_resolver(_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_StrictLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


@dataclass(frozen=True)
class Span:
    """Where a node starts in its file, and the raw text of a scalar."""

    line: int
    col: int
    raw: str = ""
    quoted: bool = False


@dataclass
class Document:
    """A parsed YAML document: plain Python data plus the position of every node."""

    file: str
    data: Any
    spans: dict[PathKey, Span] = field(default_factory=dict)
    key_spans: dict[PathKey, Span] = field(default_factory=dict)

    def span(self, path: PathKey) -> Span:
        """The span of the deepest existing node on `path`."""
        for end in range(len(path), -1, -1):
            found = self.spans.get(path[:end])
            if found is not None:
                return found
        return Span(1, 1)

    def problem(self, path: PathKey, message: str, offset: int | None = None, *, key: bool = False) -> Problem:
        """A problem at `path` (at its key with `key`); `offset` points inside a one-line scalar."""
        span = self.key_spans.get(path) if key else None
        span = span or self.span(path)
        col = span.col
        if offset is not None and "\n" not in span.raw:
            col += offset + (1 if span.quoted else 0)
        return Problem(self.file, span.line, col, format_path(path), message)


def format_path(path: PathKey) -> str:
    """`("decisions", "segment", "rules", 0, "when")` -> `decisions.segment.rules[0].when`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load_yaml_file(path: Path, display: str | None = None) -> Document:
    """Read and parse one YAML file, raising InvalidInputError with every problem found."""
    name = display or str(path)
    try:
        size = path.stat().st_size
        if size > limits.MAX_FILE_BYTES:
            message = f"file is {size:,} bytes; the limit is {limits.MAX_FILE_BYTES:,}"
            raise InvalidInputError([Problem(name, 1, 1, "", message)])
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInputError([Problem(name, 1, 1, "", f"cannot read file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise InvalidInputError([Problem(name, 1, 1, "", "file is not valid UTF-8")]) from None
    return load_yaml_text(text, name)


def _flow_depth_problem(text: str, file: str) -> Problem | None:
    """Brackets nested far past the depth limit, found before PyYAML's scanner (quadratic in them) is."""
    depth = 0
    for match in re.finditer(r"[\[\]{}]", text):
        depth += 1 if match.group() in "[{" else -1
        # Counted loosely (brackets inside quotes count too), hence the margin over the real limit.
        if depth > 10 * limits.MAX_YAML_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
            return Problem(file, line, col, "", f"invalid YAML: nested more than {limits.MAX_YAML_DEPTH} levels deep")
    return None


def load_yaml_text(text: str, file: str) -> Document:
    """Parse YAML text strictly; the result keeps a Span for every node."""
    too_deep = _flow_depth_problem(text, file)
    if too_deep is not None:
        raise InvalidInputError([too_deep])
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = exc.problem or exc.context or "invalid YAML"
        raise InvalidInputError([Problem(file, line, col, "", f"invalid YAML: {message}")]) from None
    except yaml.YAMLError as exc:
        raise InvalidInputError([Problem(file, 1, 1, "", f"invalid YAML: {exc}")]) from None
    doc = Document(file, None)
    problems: list[Problem] = []
    if node is not None:
        too_big = _expansion_problem(node, file)
        if too_big is not None:
            raise InvalidInputError([too_big])
        doc.data = _build(node, (), doc, problems, text)
    if problems:
        raise InvalidInputError(problems)
    return doc


_SAFE_TAGS: dict[type[yaml.Node], tuple[str, ...]] = {
    yaml.MappingNode: ("tag:yaml.org,2002:map",),
    yaml.SequenceNode: ("tag:yaml.org,2002:seq",),
}


def _expansion_problem(root: yaml.Node, file: str) -> Problem | None:
    """Aliases that expand past the node or depth limits, or refer to themselves, before anything is expanded.

    Aliased nodes are shared, so sizes are computed once per node (iteratively: an alias
    chain can be far deeper than the text's own nesting).
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, done = pending.pop()
        key = id(node)
        kids = _kids(node)
        if done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(kid)] for kid in kids)
            depth[key] = 1 + max((depth[id(kid)] for kid in kids), default=0)
            if size[key] > limits.MAX_YAML_NODES or depth[key] > limits.MAX_YAML_DEPTH:
                what = (f"aliases expand to more than {limits.MAX_YAML_NODES:,} nodes"
                        if size[key] > limits.MAX_YAML_NODES
                        else f"aliases nest more than {limits.MAX_YAML_DEPTH} levels deep")
                mark = node.start_mark
                return Problem(file, mark.line + 1, mark.column + 1, "", f"invalid YAML: {what}")
            continue
        if key in size:
            continue
        if key in open_nodes:
            mark = node.start_mark
            return Problem(file, mark.line + 1, mark.column + 1, "", "invalid YAML: an alias refers to itself")
        open_nodes.add(key)
        pending.append((node, True))
        pending += [(kid, False) for kid in kids if id(kid) not in size]
    return None


def _kids(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _build(node: yaml.Node, path: PathKey, doc: Document, problems: list[Problem], text: str) -> Any:
    start = node.start_mark
    raw = text[start.index : node.end_mark.index] if isinstance(node, yaml.ScalarNode) else ""
    quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
    doc.spans[path] = Span(start.line + 1, start.column + 1, raw, quoted)
    safe = _SAFE_TAGS.get(type(node))
    if safe is not None and node.tag not in safe:
        # SafeLoader would build sets and ordered maps, and a `!!python/...` tag here used to pass unnoticed.
        problems.append(_at(doc.file, node, path, f"unsupported YAML tag {node.tag}"))
        return None
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, doc, path, problems) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int) or isinstance(key, bool):
                problems.append(_at(doc.file, key_node, path, "mapping keys must be plain strings"))
                continue
            key = str(key)
            doc.key_spans[(*path, key)] = Span(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                problems.append(_at(doc.file, key_node, path, f"duplicate key {key!r}"))
                continue
            result[key] = _build(value_node, (*path, key), doc, problems, text)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, problems, text) for i, item in enumerate(node.value)]
    return _scalar(node, doc, path, problems)


def _scalar(node: yaml.Node, doc: Document, path: PathKey, problems: list[Problem]) -> Any:
    if node.tag not in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:null", _BOOL, _INT, _FLOAT):
        problems.append(_at(doc.file, node, path, f"unsupported YAML tag {node.tag}"))
        return None
    value = node.value
    if node.tag == _BOOL:
        return value.lower() == "true"
    if node.tag == _INT:
        return int(value)
    if node.tag == _FLOAT:
        return float(value.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf")
                     .replace(".nan", "nan").replace(".NaN", "nan").replace(".NAN", "nan"))
    if node.tag == "tag:yaml.org,2002:null":
        return None
    return value


def _at(file: str, node: yaml.Node, path: PathKey, message: str) -> Problem:
    return Problem(file, node.start_mark.line + 1, node.start_mark.column + 1, format_path(path), message)
