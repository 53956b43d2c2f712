"""Load rulebooks: strict YAML, structure, typed expressions, decision order — all problems at once."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import rule_engine
from rule_engine import DataType

from revrules.engine import limits, model
from revrules.engine.compile import TypeMismatchError, UnsupportedError, compile_expression, unknown_function
from revrules.engine.convert import POLARS_TYPES, FieldType
from revrules.engine.definitions import (
    Decision,
    Derive,
    Expression,
    LookupTable,
    MarketingList,
    Owner,
    Pool,
    Rule,
    Rulebook,
    Territories,
    Territory,
    TestCase,
)
from revrules.engine.expression_problems import engine_problem, kind_name, offset_of
from revrules.engine.hierarchy import family_value
from revrules.engine.lookups import load_lookup, lookup_join
from revrules.engine.people import pool_member
from revrules.engine.regexguard import backtracking_in
from revrules.engine.threevalued import row_fallback
from revrules.engine.validation import validate
from revrules.engine.yamlstrict import Document, PathKey, load_yaml_file
from revrules.errors import InvalidInputError, Problem, closest, did_you_mean

_ENGINE_TYPES: dict[FieldType, Any] = {
    FieldType.STRING: DataType.STRING,
    FieldType.NUMBER: DataType.FLOAT,
    FieldType.INTEGER: DataType.FLOAT,
    FieldType.BOOLEAN: DataType.BOOLEAN,
    FieldType.DATE: DataType.DATETIME,
    FieldType.DATETIME: DataType.DATETIME,
    FieldType.LIST: DataType.ARRAY(DataType.STRING),
}


def rulebook_files(sources: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """Expand files and folders into (rulebook files, test files), sorted within each folder."""
    books: list[Path] = []
    tests: list[Path] = []
    for source in sources:
        if source.is_dir():
            books += sorted(p for p in source.iterdir() if p.suffix in (".yaml", ".yml"))
            test_dir = source / "tests"
            if test_dir.is_dir():
                tests += sorted(p for p in test_dir.iterdir() if p.suffix in (".yaml", ".yml"))
        else:
            books.append(source)
    return books, tests


def load_rulebook(sources: Sequence[Path], fields: Mapping[str, FieldType]) -> Rulebook:
    """Load, check and compile the rulebooks in `sources` against the config's `fields`."""
    book_files, test_files = rulebook_files(sources)
    if not book_files:
        where = ", ".join(str(s) for s in sources) or "(none)"
        raise InvalidInputError(f"no rulebook files found in {where}")
    builder = _Builder(dict(fields))
    for path in book_files:
        builder.add_file(path)
    for path in test_files:
        builder.add_test_file(path)
    return builder.build(book_files, test_files)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _then_kind(values: list[Any]) -> FieldType | None:
    kinds = set()
    for value in values:
        if isinstance(value, bool):
            kinds.add(FieldType.BOOLEAN)
        elif isinstance(value, int | float):
            kinds.add(FieldType.NUMBER)
        elif isinstance(value, str):
            kinds.add(FieldType.STRING)
    if len(kinds) > 1:
        return None
    return kinds.pop() if kinds else FieldType.STRING


class _Builder:
    """Accumulates files and problems; `build` checks names, types and order."""

    def __init__(self, fields: dict[str, FieldType]) -> None:
        self.fields = fields
        self.problems: list[Problem] = []
        self.derives: list[tuple[Document, str, Any]] = []
        self.decisions: dict[str, tuple[Document, model.DecisionModel]] = {}
        self.territories: tuple[Document, model.TerritoriesModel] | None = None
        self.pools: dict[str, tuple[Document, model.PoolModel]] = {}
        self.lists: dict[str, tuple[Document, int, model.ListModel]] = {}
        self.tests: list[tuple[Document, PathKey, model.TestCaseModel]] = []
        self.kinds: dict[str, FieldType] = dict(fields)
        self.derived: set[str] = set()
        self.rule_ids: set[str] = set()
        self.lookups: dict[str, LookupTable] = {}

    def _load(self, path: Path, schema: type[model.RulebookFileModel | model.TestFileModel]) -> Any:
        try:
            doc = load_yaml_file(path, _display(path))
        except InvalidInputError as exc:
            self.problems += exc.problems
            return None, None
        if not isinstance(doc.data, dict):
            self.problems.append(doc.problem((), "expected a mapping at the top of the file"))
            return None, None
        parsed, problems = validate(doc, schema, model.KNOWN_KEYS)
        self.problems += problems
        return doc, parsed

    def add_file(self, path: Path) -> None:
        doc, parsed = self._load(path, model.RulebookFileModel)
        if parsed is None:
            return
        for name, spec in parsed.lookups.items():
            table, problems = load_lookup(doc, path.parent, _display(path.parent / spec.file), name, spec)
            if name in self.lookups:
                problems = [doc.problem(("lookups", name), f"lookup '{name}' is defined twice")]
            self.problems += problems
            if table is not None:
                self.lookups[name] = table
        for name, spec in parsed.derive.items():
            self.derives.append((doc, name, spec))
        for name, decision in parsed.decisions.items():
            if name in self.decisions:
                self.problems.append(doc.problem(("decisions", name), f"decision '{name}' is defined twice"))
            self.decisions[name] = (doc, decision)
        for pool_id, pool in parsed.pools.items():
            if pool_id in self.pools:
                self.problems.append(doc.problem(("pools", pool_id), f"pool '{pool_id}' is defined twice"))
            self.pools[pool_id] = (doc, pool)
        if parsed.territories is not None:
            if self.territories is not None:
                self.problems.append(doc.problem(("territories",), "territories are defined in two files"))
            self.territories = (doc, parsed.territories)
        for i, item in enumerate(parsed.lists):
            if item.id in self.lists:
                self.problems.append(doc.problem(("lists", i, "id"), f"list id '{item.id}' is used twice"))
            self.lists[item.id] = (doc, i, item)
        self.tests += [(doc, ("tests", i), case) for i, case in enumerate(parsed.tests)]

    def add_test_file(self, path: Path) -> None:
        doc, parsed = self._load(path, model.TestFileModel)
        if parsed is not None:
            self.tests += [(doc, ("tests", i), case) for i, case in enumerate(parsed.tests)]

    def build(self, book_files: list[Path], test_files: list[Path]) -> Rulebook:
        if self.problems:
            raise InvalidInputError(self.problems)
        self._check_names()
        # Decision types come from their `then` values alone, so family values can read decisions.
        for name, (doc, spec) in self.decisions.items():
            kind = self._decision_kind(doc, name, spec)
            self.kinds[name] = kind
        derives = [self._derive(doc, name, spec) for doc, name, spec in self.derives]
        decisions = [self._decision(doc, name, spec) for name, (doc, spec) in self.decisions.items()]
        ordered = self._order(decisions, [d for d in derives if d is not None])
        territories = self._territories()
        lists = [self._list(doc, i, item) for doc, i, item in self.lists.values()]
        tests = tuple(self._test(doc, path, case) for doc, path, case in self.tests)
        if self.problems:
            raise InvalidInputError(self.problems)
        files = (*book_files, *test_files)
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        for table in self.lookups.values():  # a changed table changes what the rules decide
            digest.update(table.path.name.encode() + b"\0" + table.path.read_bytes() + b"\0")
        return Rulebook(
            fields=self.fields,
            derives=tuple(d for d in derives if d is not None),
            decisions=ordered,
            territories=territories,
            lists=tuple(m for m in lists if m is not None),
            tests=tests,
            files=files,
            hash=digest.hexdigest(),
            kinds=dict(self.kinds),
        )

    def _check_names(self) -> None:
        seen: dict[str, str] = dict.fromkeys(self.fields, "field")
        entries: list[tuple[Document, PathKey, str, str]] = []
        entries += [(doc, ("derive", name), name, "derived value") for doc, name, _ in self.derives]
        entries += [(doc, ("decisions", name), name, "decision") for name, (doc, _) in self.decisions.items()]
        if self.territories:
            doc, spec = self.territories
            entries.append((doc, ("territories", "output"), spec.output, "territory output"))
            if spec.owner_output:
                entries.append((doc, ("territories", "owner_output"), spec.owner_output, "owner output"))
        for doc, path, name, what in entries:
            if name in seen:
                self.problems.append(doc.problem(path, f"'{name}' is already a {seen[name]}"))
            seen[name] = what

    # -- expressions -------------------------------------------------------

    def _parse(self, doc: Document, path: PathKey, source: str | bool, names: Mapping[str, FieldType],
               *, condition: bool) -> Expression | None:
        text = ("true" if source else "false") if isinstance(source, bool) else source
        read: list[str] = []

        def resolve_type(name: str) -> Any:
            if name not in names:
                raise rule_engine.errors.SymbolResolutionError(name, suggestion=closest(name, names))
            read.append(name)
            return _ENGINE_TYPES[names[name]]

        context = rule_engine.Context(type_resolver=resolve_type, default_timezone="utc")
        if len(text) > limits.MAX_EXPRESSION_CHARS:
            self.problems.append(doc.problem(path, f"expression longer than {limits.MAX_EXPRESSION_CHARS:,} "
                                                   "characters"))
            return None
        try:
            rule = rule_engine.Rule(text, context=context)
        except rule_engine.errors.EngineError as exc:
            self.problems.append(engine_problem(doc, path, text, exc))
            return None
        except RecursionError:  # rule-engine's parser recurses once per nesting level
            self.problems.append(doc.problem(path, limits.too_deep_message()))
            return None
        if limits.expression_depth(rule.statement.expression) > limits.MAX_EXPRESSION_DEPTH:
            self.problems.append(doc.problem(path, limits.too_deep_message()))
            return None
        unknown = unknown_function(rule.statement.expression, context.builtins)
        if unknown is not None:
            hint = did_you_mean("$" + unknown, ["$" + name for name in context.builtins])
            message = f"unknown function '${unknown}'{hint}"
            self.problems.append(doc.problem(path, message, offset_of(text, "$" + unknown)))
            return None
        result = rule.statement.expression.result_type
        if condition and result not in (DataType.BOOLEAN, DataType.NULL):
            message = f"condition must be true or false, but gives a {kind_name(result)}"
            self.problems.append(doc.problem(path, message))
            return None
        kind = FieldType.BOOLEAN if condition else _field_kind(result)
        if kind == FieldType.LIST and result != DataType.ARRAY(DataType.STRING):
            message = f"a derived list holds text only; this one holds {_member_kind(result)}"
            self.problems.append(doc.problem(path, message))
            return None
        if kind is None:
            self.problems.append(doc.problem(path, f"cannot tell the type of this expression ({kind_name(result)})"))
            return None
        symbols = tuple(dict.fromkeys(read))
        columns = {name: _column(name, names[name]) for name in symbols}
        fallback = False
        try:
            compiled = compile_expression(rule.statement.expression, columns)
        except TypeMismatchError as exc:
            self.problems.append(doc.problem(path, f"type mismatch: {exc}"))
            return None
        except UnsupportedError:
            fallback = True
            compiled = row_fallback(rule.statement.expression, columns, POLARS_TYPES[kind])
        backtracking = backtracking_in(rule.statement.expression, fallback=fallback)
        if backtracking is not None:
            self.problems.append(doc.problem(path, backtracking))
            return None
        span = doc.span(path)
        where = f"{doc.file}:{span.line}:{span.col}"
        return Expression(text, rule, symbols, kind, compiled, fallback, where)

    def _derive(self, doc: Document, name: str, spec: Any) -> Derive | None:
        names = {k: v for k, v in self.kinds.items() if k in self.fields or k in self.derived}
        self.derived.add(name)
        if isinstance(spec, model.LookupDeriveModel):
            join, problems = lookup_join(doc, ("derive", name), spec, self.lookups, names=names,
                                         parse=lambda d, p, text, n: self._parse(d, p, text, n, condition=False))
            self.problems += problems
            if join is not None:
                self.kinds[name] = join.table.kinds[join.column]
                return Derive(name, self.kinds[name], lookup=join)
            return None
        if isinstance(spec, model.FamilyModel | model.RelativeModel):
            # A family value may read decisions (`{parent: segment}`): it is evaluated after them.
            names |= {n: self.kinds[n] for n in self.decisions}
            value, kind, problems = family_value(doc, ("derive", name), spec, names=names,
                                                 parse=lambda d, p, t, n, c: self._parse(d, p, t, n, condition=c))
            self.problems += problems
            self.kinds[name] = kind
            return Derive(name, kind, family=value) if value is not None else None
        if isinstance(spec, model.QuantileModel):
            source_kind = names.get(spec.quantile)
            if source_kind not in (FieldType.NUMBER, FieldType.INTEGER):
                hint = "" if source_kind else did_you_mean(spec.quantile, names)
                message = f"quantile needs a numeric field or derived value, not '{spec.quantile}'{hint}"
                self.problems.append(doc.problem(("derive", name, "quantile"), message))
                return None
            self.kinds[name] = FieldType.NUMBER
            return Derive(name, FieldType.NUMBER, quantile_of=spec.quantile, buckets=spec.buckets)
        expression = self._parse(doc, ("derive", name), spec, names, condition=False)
        if expression is None:
            return None
        self.kinds[name] = expression.kind
        return Derive(name, expression.kind, expression=expression)

    def _decision_kind(self, doc: Document, name: str, spec: model.DecisionModel) -> FieldType:
        if spec.hit == "any":
            return FieldType.BOOLEAN
        values = [rule.then for rule in spec.rules] + [spec.default]
        if spec.hit == "sum":
            for i, rule in enumerate(spec.rules):
                if isinstance(rule.then, bool) or not isinstance(rule.then, int | float):
                    self.problems.append(doc.problem(("decisions", name, "rules", i, "then"),
                                                     "a 'sum' decision needs a number in 'then'"))
            return FieldType.NUMBER
        for i, rule in enumerate(spec.rules):
            if rule.then is None:
                self.problems.append(doc.problem(("decisions", name, "rules", i), "missing required key 'then'"))
        kind = _then_kind(values)
        if kind is None:
            self.problems.append(doc.problem(("decisions", name),
                                             "the values in 'then' and 'default' must all have one type"))
            return FieldType.STRING
        return FieldType.LIST if spec.hit == "collect" else kind

    def _decision(self, doc: Document, name: str, spec: model.DecisionModel) -> Decision | None:
        names = {k: v for k, v in self.kinds.items() if k != name}
        rules = []
        for i, item in enumerate(spec.rules):
            rule_id = item.id or f"{name}.{i + 1}"
            if rule_id in self.rule_ids:
                message = f"rule id '{rule_id}' is used twice; rule ids are unique in a rulebook"
                self.problems.append(doc.problem(("decisions", name, "rules", i, "id"), message))
            self.rule_ids.add(rule_id)
            when = self._parse(doc, ("decisions", name, "rules", i, "when"), item.when, names, condition=True)
            if when is not None:
                then = str(item.then) if spec.hit == "collect" and item.then is not None else item.then
                rules.append(Rule(rule_id, when, then))
        default: Any = spec.default
        if spec.hit == "sum":
            default = float(default or 0)
        elif spec.hit == "any":
            default = False
        elif spec.hit == "collect":
            default = []
        return Decision(name, spec.hit, tuple(rules), default, self.kinds[name], spec.description)

    def _order(self, decisions: list[Decision | None], derives: list[Derive]) -> tuple[Decision, ...]:
        """Decisions in dependency order; a cycle, also one through a family value of a decision, is an error.

        A decision cannot read its own parent's value of itself (`{parent: segment}` read by
        `segment`): column-wise evaluation computes a decision once for every record, so it
        would need one pass per level of the tree.
        """
        by_name = {d.name: d for d in decisions if d is not None}
        late: dict[str, Derive] = {}
        for derive in derives:  # file order: a derive reads only earlier ones
            if set(derive.reads) & (by_name.keys() | late.keys()):
                late[derive.name] = derive
        nodes = by_name.keys() | late.keys()

        def reads(name: str) -> frozenset[str]:
            return by_name[name].depends_on if name in by_name else frozenset(late[name].reads)

        ordered: list[Decision] = []
        state: dict[str, int] = {}

        def visit(name: str, trail: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = [*trail[trail.index(name):], name]
                start = next(n for n in cycle if n in by_name)
                doc, _ = self.decisions[start]
                why = "" if all(n in by_name for n in cycle) else (
                    " (a decision cannot read a family value of itself: each record's decision is computed "
                    "once, column-wise, not level by level up the tree)")
                self.problems.append(doc.problem(("decisions", start),
                                                 "cycle between decisions: " + " -> ".join(cycle) + why))
                return
            state[name] = 1
            for dep in sorted(reads(name) & nodes):
                visit(dep, [*trail, name])
            state[name] = 2
            if name in by_name:
                ordered.append(by_name[name])

        for name in by_name:
            visit(name, [])
        return tuple(ordered)

    def _territories(self) -> Territories | None:
        if self.territories is None:
            return None
        doc, spec = self.territories
        names = dict(self.kinds)
        pools = self._pools()
        seen: set[str] = set()

        def node(item: model.TerritoryModel, path: PathKey) -> Territory | None:
            if item.id in seen:
                self.problems.append(doc.problem((*path, "id"), f"territory id '{item.id}' is used twice"))
            seen.add(item.id)
            when = self._parse(doc, (*path, "when"), item.when, names, condition=True)
            if item.children and (item.owners or item.pool or item.overflow):
                self.problems.append(doc.problem(path, "only leaf territories have owners, pools or overflow"))
            children = [node(child, (*path, "children", i)) for i, child in enumerate(item.children)]
            pool = self._leaf_pool(doc, item, path, pools)
            overflow_pool, overflow_owner = self._overflow(doc, item, path, pools)
            if when is None or None in children:
                return None
            return Territory(item.id, when, pool, overflow_pool, overflow_owner,
                             tuple(c for c in children if c is not None))

        tree = [node(item, ("territories", "tree", i)) for i, item in enumerate(spec.tree)]
        if spec.value is not None:
            self._check_numeric(doc, ("territories", "value"), spec.value, "value")
        self.kinds[spec.output] = FieldType.STRING
        if spec.owner_output:
            self.kinds[spec.owner_output] = FieldType.STRING
        return Territories(spec.output, spec.owner_output, tuple(t for t in tree if t is not None), spec.value,
                           spec.families)

    def _pools(self) -> dict[str, Pool]:
        pools = {}
        for pool_id, (doc, spec) in self.pools.items():
            owners = self._owners(doc, ("pools", pool_id, "owners"), spec.owners)
            if spec.balance_by is not None:
                self._check_numeric(doc, ("pools", pool_id, "balance_by"), spec.balance_by, "balance_by")
            pools[pool_id] = Pool(pool_id, owners, spec.balance_by)
        return pools

    def _owners(self, doc: Document, path: PathKey, items: list[model.OwnerModel]) -> tuple[Owner, ...]:
        owners = tuple(pool_member(o) for o in items)
        if len({o.id for o in owners}) != len(owners):
            self.problems.append(doc.problem(path, "an owner is listed twice in this pool"))
        return owners

    def _leaf_pool(self, doc: Document, item: model.TerritoryModel, path: PathKey,
                   pools: dict[str, Pool]) -> Pool | None:
        if item.owners and item.pool:
            self.problems.append(doc.problem((*path, "pool"), "a territory has either 'owners' or 'pool', not both"))
        if item.owners:
            return Pool(item.id, self._owners(doc, (*path, "owners"), item.owners))
        if item.pool is None:
            return None
        if item.pool not in pools:
            message = f"unknown pool '{item.pool}'{did_you_mean(item.pool, pools)}"
            self.problems.append(doc.problem((*path, "pool"), message))
        return pools.get(item.pool)

    def _overflow(self, doc: Document, item: model.TerritoryModel, path: PathKey,
                  pools: dict[str, Pool]) -> tuple[Pool | None, str | None]:
        overflow = item.overflow
        if overflow is None:
            return None, None
        if (overflow.pool is None) == (overflow.owner is None):
            self.problems.append(doc.problem((*path, "overflow"), "overflow names either a 'pool' or an 'owner'"))
            return None, None
        if overflow.pool is not None and overflow.pool not in pools:
            message = f"unknown pool '{overflow.pool}'{did_you_mean(overflow.pool, pools)}"
            self.problems.append(doc.problem((*path, "overflow", "pool"), message))
        return pools.get(overflow.pool or ""), overflow.owner

    def _check_numeric(self, doc: Document, path: PathKey, name: str, what: str) -> None:
        if self.kinds.get(name) not in (FieldType.NUMBER, FieldType.INTEGER):
            hint = "" if name in self.kinds else did_you_mean(name, self.kinds)
            message = f"{what} needs a numeric field or derived value, not '{name}'{hint}"
            self.problems.append(doc.problem(path, message))

    def _list(self, doc: Document, index: int, item: model.ListModel) -> MarketingList | None:
        when = self._parse(doc, ("lists", index, "when"), item.when, self.kinds, condition=True)
        return MarketingList(item.id, item.name, when, item.include_contacts) if when else None

    def _test(self, doc: Document, path: PathKey, case: model.TestCaseModel) -> TestCase:
        inputs = {**self.fields, **{d[1]: FieldType.STRING for d in self.derives}}
        if self.territories and self.territories[1].owner_output:
            inputs[self.territories[1].owner_output] = FieldType.STRING
        for key in case.account:
            if key not in inputs:
                message = f"unknown field '{key}'{did_you_mean(key, inputs)}"
                self.problems.append(doc.problem((*path, "account", key), message, key=True))
        outputs = {name for name in self.kinds if name not in self.fields} | {"lists"}
        for key in case.expect:
            if key not in outputs:
                message = f"unknown result '{key}'{did_you_mean(key, outputs)}"
                self.problems.append(doc.problem((*path, "expect", key), message, key=True))
        span = doc.span(path)
        return TestCase(case.name, dict(case.account), dict(case.expect), f"{doc.file}:{span.line}:{span.col}")


def _column(name: str, kind: FieldType) -> pl.Expr:
    if kind == FieldType.DATE:
        return pl.col(name).cast(pl.Datetime("us", "UTC"))
    if kind == FieldType.INTEGER:
        return pl.col(name).cast(pl.Float64)
    return pl.col(name)


def _field_kind(data_type: Any) -> FieldType | None:
    for kind, engine_type in _ENGINE_TYPES.items():
        if kind not in (FieldType.INTEGER, FieldType.DATE) and engine_type == data_type:
            return kind
    if getattr(data_type, "name", None) == "ARRAY":
        return FieldType.LIST
    return None


def _member_kind(data_type: Any) -> str:
    member = getattr(data_type, "value_type", None)
    name = kind_name(member)
    return "values of mixed types" if name == "value of unknown type" else f"{name}s"
