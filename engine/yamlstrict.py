"""Strict YAML loading: only true/false are booleans, no duplicate keys, positions kept."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from revrules.errors import InvalidInputError, Problem

PathKey = tuple[str | int, ...]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-style scalars: `NO`, `yes`, `on` and `1:20` stay strings."""


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
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInputError([Problem(name, 1, 1, "", f"cannot read file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise InvalidInputError([Problem(name, 1, 1, "", "file is not valid UTF-8")]) from None
    return load_yaml_text(text, name)


def load_yaml_text(text: str, file: str) -> Document:
    """Parse YAML text strictly; the result keeps a Span for every node."""
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
        doc.data = _build(node, (), doc, problems, text)
    if problems:
        raise InvalidInputError(problems)
    return doc


def _build(node: yaml.Node, path: PathKey, doc: Document, problems: list[Problem], text: str) -> Any:
    start = node.start_mark
    raw = text[start.index : node.end_mark.index] if isinstance(node, yaml.ScalarNode) else ""
    quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
    doc.spans[path] = Span(start.line + 1, start.column + 1, raw, quoted)
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
