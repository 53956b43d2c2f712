"""SOQL: a small parser and evaluator for the query subset the emulator serves."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from revrules.testing.salesforce.describe import _NUMBER_TYPES, _TEXT_TYPES
from revrules.testing.salesforce.values import _parse_datetime


class _SoqlError(Exception):
    """A query the emulator refuses, with Salesforce's errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
    |(?P<number>[+-]?\d+(?:\.\d+)?)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<lparen>\()
    |(?P<rparen>\))
    |(?P<comma>,)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


class _Token(NamedTuple):
    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class _Literal:
    kind: str  # string | number | datetime | date | boolean | null
    value: Any
    pos: int


@dataclass(frozen=True)
class _Comparison:
    field: str
    op: str  # = != < <= > >= IN NOT IN LIKE
    values: tuple[Any, ...]


@dataclass(frozen=True)
class _BoolOp:
    op: str  # AND | OR
    parts: tuple[_Node, ...]


@dataclass(frozen=True)
class _Not:
    part: _Node


_Node = _Comparison | _BoolOp | _Not


@dataclass(frozen=True)
class _Query:
    object_name: str
    fields: tuple[str, ...]
    count: bool
    count_field: str | None
    where: _Node | None
    order: tuple[tuple[str, bool, bool], ...]  # field, descending, nulls first
    limit: int | None
    offset: int


def _tokenize(soql: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN_RE.match(soql, pos)
        if match is None:
            snippet = soql[pos : pos + 10]
            raise _SoqlError("MALFORMED_QUERY", f"unexpected token: '{snippet}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("eof", "", len(soql)))
    return tokens


def _unescape(text: str) -> str:
    body = text[1:-1]
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, "")
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
        elif nxt in "_%":
            out.append("\\" + nxt)  # kept escaped: only LIKE gives it meaning
        else:
            raise _SoqlError("MALFORMED_QUERY", f"Invalid string literal '{text}'")
    return "".join(out)


class _Parser:
    """Recursive-descent parser for the SOQL subset the emulator serves."""

    def __init__(self, soql: str, fields: Mapping[str, Mapping[str, Any]], obj: str) -> None:
        self.soql = soql
        self.tokens = _tokenize(soql)
        self.index = 0
        self.fields_by_lower = {name.lower(): name for name in fields}
        self.definitions = fields
        self.object_name = obj

    # -- token helpers
    def peek(self) -> _Token:
        return self.tokens[self.index]

    def keyword(self, *words: str) -> bool:
        """Consume the keywords if they come next (case-insensitive)."""
        ahead = self.tokens[self.index : self.index + len(words)]
        if len(ahead) == len(words) and all(
            t.kind == "ident" and t.text.upper() == w for t, w in zip(ahead, words, strict=True)
        ):
            self.index += len(words)
            return True
        return False

    def expect(self, kind: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            raise self.unexpected(token)
        self.index += 1
        return token

    def unexpected(self, token: _Token) -> _SoqlError:
        text = token.text or "<EOF>"
        return _SoqlError("MALFORMED_QUERY", self.caret(token.pos, f"unexpected token: {text}"))

    def caret(self, pos: int, message: str) -> str:
        return f"\n{self.soql}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n{message}"

    def field(self, token: _Token) -> str:
        name = self.fields_by_lower.get(token.text.lower())
        if name is None:
            raise _SoqlError(
                "INVALID_FIELD",
                self.caret(
                    token.pos,
                    f"No such column '{token.text}' on entity '{self.object_name}'. If you are "
                    "attempting to use a custom field, be sure to append the '__c' after the "
                    "custom field name. Please reference your WSDL or the describe call for the "
                    "appropriate names.",
                ),
            )
        return name

    # -- grammar
    def parse(self) -> tuple[str, list[_Token], bool, _Token | None]:
        """Parse up to FROM; return the object name, select tokens, count flag, count field."""
        if not self.keyword("SELECT"):
            raise self.unexpected(self.peek())
        select: list[_Token] = []
        count = False
        count_field: _Token | None = None
        if self.peek().text.upper() == "COUNT" and self.tokens[self.index + 1].kind == "lparen":
            self.index += 2
            count = True
            if self.peek().kind == "ident":
                count_field = self.expect("ident")
            self.expect("rparen")
        else:
            select.append(self.expect("ident"))
            while self.peek().kind == "comma":
                self.index += 1
                select.append(self.expect("ident"))
        if not self.keyword("FROM"):
            raise self.unexpected(self.peek())
        return self.expect("ident").text, select, count, count_field

    def rest(self, obj: str, select: list[_Token], count: bool, count_tok: _Token | None) -> _Query:
        names = [self.field(t) for t in select]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise _SoqlError("INVALID_FIELD", f"duplicate field selected: {sorted(duplicates)[0]}")
        where = self.condition() if self.keyword("WHERE") else None
        order: list[tuple[str, bool, bool]] = []
        if self.keyword("ORDER", "BY"):
            while True:
                name = self.field(self.expect("ident"))
                descending = self.keyword("DESC")
                if not descending:
                    self.keyword("ASC")
                nulls_first = not descending
                if self.keyword("NULLS", "FIRST"):
                    nulls_first = True
                elif self.keyword("NULLS", "LAST"):
                    nulls_first = False
                order.append((name, descending, nulls_first))
                if self.peek().kind != "comma":
                    break
                self.index += 1
        limit = int(self.expect("number").text) if self.keyword("LIMIT") else None
        offset = int(self.expect("number").text) if self.keyword("OFFSET") else 0
        if self.peek().kind != "eof":
            raise self.unexpected(self.peek())
        return _Query(
            object_name=obj,
            fields=tuple(names),
            count=count,
            count_field=self.field(count_tok) if count_tok else None,
            where=where,
            order=tuple(order),
            limit=limit,
            offset=offset,
        )

    def condition(self) -> _Node:
        parts = [self.negation()]
        joiner: str | None = None
        while self.peek().kind == "ident" and self.peek().text.upper() in {"AND", "OR"}:
            word = self.peek().text.upper()
            if joiner is not None and word != joiner:
                # SOQL needs parentheses to mix AND and OR.
                raise self.unexpected(self.peek())
            joiner = word
            self.index += 1
            parts.append(self.negation())
        return parts[0] if joiner is None else _BoolOp(joiner, tuple(parts))

    def negation(self) -> _Node:
        if self.keyword("NOT"):
            return _Not(self.negation())
        if self.peek().kind == "lparen":
            self.index += 1
            node = self.condition()
            self.expect("rparen")
            return node
        return self.comparison()

    def comparison(self) -> _Node:
        token = self.expect("ident")
        name = self.field(token)
        definition = self.definitions[name]
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect("lparen")
            values = [self.literal()]
            while self.peek().kind == "comma":
                self.index += 1
                values.append(self.literal())
            self.expect("rparen")
            typed = tuple(_typed_literal(definition, v, self) for v in values)
            return _Comparison(name, "NOT IN" if negate else "IN", typed)
        if self.keyword("LIKE") and not negate:
            pattern = self.literal()
            if pattern.kind != "string":
                raise self.unexpected(self.tokens[self.index - 1])
            return _Comparison(name, "LIKE", (_like_regex(pattern.value),))
        if negate:
            raise self.unexpected(self.peek())
        op_token = self.expect("op")
        literal = self.literal()
        op = "!=" if op_token.text == "<>" else op_token.text
        if literal.kind == "null" and op not in {"=", "!="}:
            raise self.unexpected(self.tokens[self.index - 1])
        return _Comparison(name, op, (_typed_literal(definition, literal, self),))

    def literal(self) -> _Literal:
        token = self.peek()
        self.index += 1
        if token.kind == "string":
            return _Literal("string", _unescape(token.text), token.pos)
        if token.kind in {"number", "datetime", "date"}:
            return _Literal(token.kind, token.text, token.pos)
        if token.kind == "ident" and token.text.upper() in {"TRUE", "FALSE"}:
            return _Literal("boolean", token.text.upper() == "TRUE", token.pos)
        if token.kind == "ident" and token.text.upper() == "NULL":
            return _Literal("null", None, token.pos)
        raise self.unexpected(token)


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars, "")))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _typed_literal(definition: Mapping[str, Any], literal: _Literal, parser: _Parser) -> Any:
    """A literal converted to the comparable form of its field, or a Salesforce-style error."""
    if literal.kind == "null":
        return None
    kind = definition["type"]
    expected = {
        **dict.fromkeys(_TEXT_TYPES, "string"),
        **dict.fromkeys(_NUMBER_TYPES, "number"),
        "boolean": "boolean",
        "datetime": "datetime",
        "date": "date",
    }[kind]
    if literal.kind != expected:
        quoted = (
            "should be enclosed in quotes"
            if expected == "string"
            else ("should not be enclosed in quotes")
        )
        type_name = {
            "string": "string",
            "number": "double",
            "boolean": "boolean",
            "datetime": "dateTime",
            "date": "date",
        }[expected]
        raise _SoqlError(
            "INVALID_FIELD",
            parser.caret(
                literal.pos,
                f"value of filter criterion for field '{definition['name']}' must be of type "
                f"{type_name} and {quoted}",
            ),
        )
    return _sort_value(definition, literal.value)


def _sort_value(definition: Mapping[str, Any], value: Any) -> Any:
    """A stored (or literal) value in a form that compares the way SOQL compares it."""
    if value is None:
        return None
    kind = definition["type"]
    if kind in _NUMBER_TYPES:
        return float(value)
    if kind == "datetime":
        return _parse_datetime(str(value))
    if kind in {"id", "reference"}:
        return str(value)
    if kind in {"boolean", "date"}:
        return value
    return str(value).casefold()


def _matches(node: _Node, record: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    if isinstance(node, _BoolOp):
        results = (_matches(part, record, fields) for part in node.parts)
        return all(results) if node.op == "AND" else any(results)
    if isinstance(node, _Not):
        return not _matches(node.part, record, fields)
    definition = fields[node.field]
    value = record.get(node.field)
    if node.op == "LIKE":
        pattern: re.Pattern[str] = node.values[0]
        return value is not None and pattern.fullmatch(str(value)) is not None
    current = _sort_value(definition, value)
    if node.op in {"IN", "NOT IN"}:
        found = current in node.values
        return found if node.op == "IN" else not found
    target = node.values[0]
    if node.op == "=":
        return bool(current == target)
    if node.op == "!=":
        return bool(current != target)
    if current is None or target is None:
        return False
    return bool(
        {
            "<": current < target,
            "<=": current <= target,
            ">": current > target,
            ">=": current >= target,
        }[node.op]
    )


def _parse_soql(soql: str, objects: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> _Query:
    """Parse SOQL against the known objects' fields.

    Raises:
        _SoqlError: Malformed SOQL, an unknown object or field, or a badly typed literal.
    """
    head = _Parser(soql, {}, "")
    obj_text, select, count, count_tok = head.parse()
    canonical = {name.lower(): name for name in objects}.get(obj_text.lower())
    if canonical is None:
        token = head.tokens[head.index - 1]
        raise _SoqlError(
            "INVALID_TYPE",
            head.caret(
                token.pos,
                f"sObject type '{obj_text}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            ),
        )
    parser = _Parser(soql, objects[canonical], canonical)
    parser.tokens = head.tokens
    parser.index = head.index
    return parser.rest(canonical, select, count, count_tok)


def _sort_key(definition: Mapping[str, Any], name: str) -> Callable[[Mapping[str, Any]], Any]:
    def key(record: Mapping[str, Any]) -> Any:
        return _sort_value(definition, record[name])

    return key


def _run_query(
    query: _Query, records: Sequence[Mapping[str, Any]], fields: Mapping[str, Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    rows = [r for r in records if query.where is None or _matches(query.where, r, fields)]
    for name, descending, nulls_first in reversed(query.order):
        definition = fields[name]
        present = [r for r in rows if r.get(name) is not None]
        missing = [r for r in rows if r.get(name) is None]
        present.sort(key=_sort_key(definition, name), reverse=descending)
        rows = missing + present if nulls_first else present + missing
    rows = rows[query.offset :]
    return rows if query.limit is None else rows[: query.limit]

