"""Evaluate a rulebook over a frame in bulk: derive, decisions, territories, lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from revrules.engine.arithmetic import clean_expr
from revrules.engine.columns import CONFLICT, DEFAULT, OVERRIDE, conflict_column, list_column, rule_column
from revrules.engine.convert import ID, POLARS_TYPES
from revrules.engine.definitions import Decision, Derive, Pool, Rulebook, Territories
from revrules.engine.hierarchy import (
    CONTEXT,
    ULTIMATE,
    UNIT,
    drop_family_rows,
    ultimate_rows,
    with_family_rows,
    with_family_value,
    without_context,
)
from revrules.engine.lookups import join_lookup
from revrules.engine.owners import SIZE, rebalance_owners, route_owners
from revrules.engine.people import label_departures, previous_column
from revrules.engine.routing import (
    FAMILY,
    FULL,
    NOBODY,
    active_pools,
)


def evaluate(
    book: Rulebook,
    frame: pl.DataFrame,
    *,
    overrides: Mapping[str, str] | None = None,
    current_owner: str | None = None,
    given: Sequence[str] = (),
    rebalance: float | None = None,
    unavailable_owners: frozenset[str] = frozenset(),
    today: dt.date | None = None,
    keep_context: bool = False,
) -> pl.DataFrame:
    """Every derived value, decision, territory, owner and list membership of each record.

    Args:
        book: The loaded rulebook.
        frame: Typed records: `__id` plus one column per configured field.
        overrides: Decision name -> column of `frame` holding a manual value that wins.
        current_owner: Column of `frame` with each record's current owner, for sticky routing.
        given: Derived names whose values are already in `frame` (rulebook tests pin them).
        rebalance: A tolerance (0.1 = ±10%): move the fewest accounts that bring every
            owner within it of its weighted share of its pool.
        unavailable_owners: Owner ids the CRM does not know or has deactivated: treated
            as `active: false`, so routing never assigns them.
        today: The day the run is for, which decides who is away (default: today).
        keep_context: Keep the records read only to complete families (`CONTEXT`), which
            are otherwise dropped from the result (explain walks a family through them).

    Returns:
        `frame` with a value column per result and a `<name>#rule` column naming the
        rule that decided it.
    """
    families = any(d.family is not None for d in book.derives)
    context = CONTEXT in frame.columns
    late = late_derives(book)
    # One piece per column (already so for a snapshot's records, which this does not copy).
    result = (with_family_rows(frame) if families else frame).rechunk()
    lazy = result.lazy()
    early = [d for d in book.derives if d.name not in given and d.name not in late]
    for derive in early:
        lazy = _with_derive(lazy, derive, context=context)
    # Only the derived columns are made; the records' columns are shared, not copied. A derive that
    # replaces a column of the records (a test's account may hold one) needs the whole step, made one
    # piece per column: the stages add columns beside these, and pieces that do not line up are copied.
    replaced = any(d.name in result.columns for d in early)
    result = lazy.collect().rechunk() if replaced else _beside(result, lazy)
    # Family rows stay while a derive that reads a decision (`{parent: segment}`) is still to come.
    if families and not late:
        result = drop_family_rows(result)
    pending = [d for d in book.derives if d.name in late and d.name not in given]
    for stage in _stages([*book.decisions, *pending]):
        decisions = [d for d in stage if isinstance(d, Decision)]
        exprs = {d.name: _decision(d, (overrides or {}).get(d.name)) for d in decisions}
        keys = {d.name: sorted(d.depends_on | _override_keys(d, overrides)) for d in decisions}
        inputs = {d.name: found for d in decisions if (found := _distinct_inputs(d, result, keys[d.name])) is not None}
        result = result.with_columns(e for d in decisions if d.name not in inputs for e in exprs[d.name])
        for name, distinct in inputs.items():
            result = _on_distinct(result, keys[name], distinct, exprs[name])
        for derive in (d for d in stage if isinstance(d, Derive)):
            result = _beside(result, _with_derive(result.lazy(), derive, context=context))
    if families and late:
        result = drop_family_rows(result)
    if book.territories is not None:
        result = _territories(result, book.territories, overrides or {}, current_owner=current_owner,
                              rebalance=rebalance, unavailable=unavailable_owners,
                              today=today or dt.datetime.now(dt.UTC).date())
    if book.lists:
        result = result.with_columns(
            m.when.compiled.fill_null(False).alias(list_column(m.id)) for m in book.lists
        )
    return result if keep_context else without_context(result)


def _territories(
    result: pl.DataFrame, territories: Territories, overrides: Mapping[str, str], *, current_owner: str | None,
    rebalance: float | None, unavailable: frozenset[str], today: dt.date,
) -> pl.DataFrame:
    """Territory and owner of every record; with `families: together`, per family as one unit.

    A manual territory or owner (an override of the territory or owner output) wins over
    routing, and makes a family member a unit of its own. A unit's load is the number of
    records it carries (or the sum of their `balance_by` values), so a family counts
    against capacity with all its members; records read only to complete a family count
    for nothing.
    """
    output, owner_output = territories.output, territories.owner_output
    result = result.with_columns(_territory(territories))
    result = _overridden(result, output, overrides.get(output))
    manual_owner = overrides.get(owner_output) if owner_output else None
    together = territories.families == "together" and ULTIMATE in result.columns
    if together:
        manual = [pl.col(c).is_not_null() for c in (overrides.get(output), manual_owner) if c]
        own_unit = pl.any_horizontal(manual) if manual else pl.lit(False)
        result = result.with_columns(pl.when(own_unit).then(pl.col(ID)).otherwise(pl.col(ULTIMATE)).alias(UNIT))
        # The unit head's row position, found once: every later step is a gather.
        result = result.with_columns(_unit_rows(result, own_unit))
        result = _with_heads(result, [output, rule_column(output)])
    if not owner_output:
        return result.drop(UNIT, _UNIT_ROW, strict=False)
    pools = active_pools(territories, unavailable)
    current = pl.col(current_owner).cast(pl.String) if current_owner else pl.lit(None, pl.String)
    read_only = CONTEXT in result.columns  # parents read to complete families are routed only as family heads
    if together:
        routed = _units(result, pools, [output, rule_column(output),
                                        *(c for c in (current_owner, manual_owner, territories.value) if c)])
    else:
        routed = result.filter(~pl.col(CONTEXT)) if read_only else result
    routed = route_owners(routed, territories, pools, current_owner, today, manual=manual_owner).with_columns(
        current.alias(previous_column(owner_output)))
    routed = label_departures(routed, territories, unavailable, today)
    if rebalance is not None:
        away_left_out = {pool_id: pool.without_away(today) for pool_id, pool in pools.items()}
        routed = rebalance_owners(routed, territories, away_left_out, rebalance)
    if together:
        return _members_follow(result, routed, territories, current).drop(UNIT, _UNIT_ROW)
    return pl.concat([routed, result.filter(CONTEXT)], how="diagonal_relaxed") if read_only else routed


_UNIT_ROW = "__unit_row"


def _unit_rows(result: pl.DataFrame, own_unit: pl.Expr) -> pl.Series:
    """The row of each record's unit head (`_UNIT_ROW`): its own row, or its ultimate parent's.

    The hierarchy's positions give the ultimate parent's row when they still point right;
    otherwise the heads' ids are joined to the rows (several times slower at a million records).
    """
    ultimate = ultimate_rows(result)
    if ultimate is not None:
        own = pl.int_range(pl.len(), dtype=pl.Int64)
        head = pl.when(own_unit).then(own).otherwise(ultimate.cast(pl.Int64))
        return result.select(head.alias(_UNIT_ROW)).to_series()
    rows = result.select(pl.col(ID).alias(UNIT)).with_row_index(_UNIT_ROW)
    return result.select(UNIT).join(rows, on=UNIT, how="left", maintain_order="left")[_UNIT_ROW].cast(pl.Int64)


def _overridden(frame: pl.DataFrame, name: str, column: str | None) -> pl.DataFrame:
    """`name` replaced by its manual value where the override column holds one (rule `override`)."""
    if column is None or column not in frame.columns:
        return frame
    manual = pl.col(column).is_not_null()
    return frame.with_columns(pl.when(manual).then(pl.col(column).cast(pl.String)).otherwise(pl.col(name)).alias(name),
                              pl.when(manual).then(pl.lit(OVERRIDE)).otherwise(pl.col(rule_column(name)))
                              .alias(rule_column(name)))


def _units(result: pl.DataFrame, pools: Mapping[str, Pool], needs: list[str]) -> pl.DataFrame:
    """One row per family unit (only the columns routing `needs`), in record order, carrying its members' load.

    The load is the number of the unit's records read and the sums of their `balance_by` values,
    put at the unit head's row: each head takes its own, with no join.
    """
    balance = sorted({p.balance_by for p in pools.values() if p.balance_by} & set(result.columns))
    columns = list(dict.fromkeys([ID, UNIT, _UNIT_ROW, *(c for c in needs if c in result.columns
                                                          and c not in balance)]))
    heads = result.select(columns).filter(pl.int_range(pl.len(), dtype=pl.Int64) == pl.col(_UNIT_ROW))
    at = heads.get_column(_UNIT_ROW).to_numpy()
    units = result.get_column(_UNIT_ROW).to_numpy()
    # Records read only to complete a family count for nothing.
    read = (~result.get_column(CONTEXT)).to_numpy() if CONTEXT in result.columns else None
    if not balance:  # counted with numpy's bincount over row positions, far faster than a group-by
        size = np.bincount(units, weights=read, minlength=result.height)
        return heads.with_columns(pl.Series(SIZE, size[at], dtype=pl.Float64)).drop(_UNIT_ROW)
    if read is not None:
        kept = ~pl.col(CONTEXT)
        sums = [kept.sum(), *(pl.col(c).filter(kept).cast(pl.Float64).sum() for c in balance)]
    else:
        # Every record was read: plain counts and sums, which polars aggregates several times faster.
        sums = [pl.len(), *(pl.col(c).cast(pl.Float64).sum() for c in balance)]
    # Summed by one polars query as always: another way of adding up can differ in a load's last bit,
    # which can decide a tie.
    loads = result.group_by(_UNIT_ROW).agg(sums[0].cast(pl.Float64).alias(SIZE),
                                           *(total.alias(c) for total, c in zip(sums[1:], balance, strict=True)))
    placed = np.zeros((len(loads.columns) - 1, result.height))
    placed[:, loads.get_column(_UNIT_ROW).to_numpy()] = loads.drop(_UNIT_ROW).to_numpy().T
    return heads.with_columns(pl.Series(c, placed[i][at], dtype=pl.Float64)
                              for i, c in enumerate(loads.columns[1:])).drop(_UNIT_ROW)


def _members_follow(result: pl.DataFrame, routed: pl.DataFrame, territories: Territories,
                    current: pl.Expr) -> pl.DataFrame:
    """Every record with its unit's owner; a member that moves with its family has the reason `family`.

    `routed` holds the unit heads in record order, so a head's place among them is a running count.
    """
    output = territories.owner_output or ""
    reason, previous = rule_column(output), previous_column(output)
    added = [c for c in routed.columns if c not in {*result.columns, output, reason, previous, SIZE}]
    head = result.select((pl.int_range(pl.len(), dtype=pl.Int64) == pl.col(_UNIT_ROW)).cum_sum().cast(pl.Int64)
                         .sub(1).gather(pl.col(_UNIT_ROW)).alias("head"))["head"]
    mapped = routed.select(output, reason, *added)[head]
    member = result[ID] != result[UNIT]
    follows = member & mapped[output].is_not_null() & ~mapped[reason].is_in([FULL, NOBODY])
    return result.drop(output, reason, strict=False).with_columns(
        mapped[output], pl.select(pl.when(follows).then(pl.lit(FAMILY)).otherwise(mapped[reason])).to_series()
        .alias(reason), *(mapped[c] for c in added), current.alias(previous))


def late_derives(book: Rulebook) -> set[str]:
    """Derived values that read a decision (a family value of one, or a value computed from those).

    They are evaluated between the decisions, in the stage after the decisions they read.
    """
    decisions = {d.name for d in book.decisions}
    late: set[str] = set()
    for derive in book.derives:  # in file order: a derive reads only earlier derives
        if set(derive.reads) & (decisions | late):
            late.add(derive.name)
    return late


def _reads(item: Decision | Derive) -> frozenset[str]:
    return item.depends_on if isinstance(item, Decision) else frozenset(item.reads)


def _stages(items: Sequence[Decision | Derive]) -> list[list[Decision | Derive]]:
    """Decisions (and derives that read them) grouped by dependency depth; one stage is evaluated at once."""
    names = {item.name for item in items}
    depth: dict[str, int] = {}
    waiting = list(items)
    while waiting:  # the loader rejects cycles, so every round places at least one item
        placed = [i for i in waiting if all(n in depth for n in _reads(i) & names - {i.name})]
        if not placed:
            raise ValueError("cycle between decisions")
        for item in placed:
            depth[item.name] = 1 + max((depth[n] for n in _reads(item) & names if n in depth), default=-1)
        waiting = [i for i in waiting if i.name not in depth]
    stages: list[list[Decision | Derive]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for item in items:
        stages[depth[item.name]].append(item)
    return stages


def _beside(frame: pl.DataFrame, lazy: pl.LazyFrame) -> pl.DataFrame:
    """`frame` with the columns `lazy` (a step over it) adds, collected alone, each as one piece.

    Collecting the whole step would hand back the wide frame split into pieces, which
    the next stage's `with_columns` then copies back into one: here only the new columns are made.
    """
    added = [c for c in lazy.collect_schema().names() if c not in frame.columns]
    return frame.hstack(lazy.select(added).collect().rechunk())


def _with_derive(lazy: pl.LazyFrame, derive: Derive, *, context: bool) -> pl.LazyFrame:
    if derive.family is not None:
        return with_family_value(lazy, derive.name, derive.family)
    if derive.lookup is not None:
        return join_lookup(lazy, derive.name, derive.lookup, rule_column(derive.name))
    return lazy.with_columns(_derive(derive, context=context).alias(derive.name))


# Many rules over few distinct inputs (industry or country mappings) are cheaper to
# evaluate once per distinct input and join back than once per record.
_DISTINCT_MIN_RULES, _DISTINCT_MIN_ROWS, _DISTINCT_RATIO = 5, 50_000, 20


def _distinct_inputs(decision: Decision, frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame | None:
    """The distinct values of `keys` (the decision's inputs) when evaluating once per distinct input pays, else None."""
    if len(decision.rules) < _DISTINCT_MIN_RULES or frame.height < _DISTINCT_MIN_ROWS or not decision.depends_on:
        return None
    distinct = frame.select(keys).unique()
    return distinct if distinct.height * _DISTINCT_RATIO < frame.height else None


def _override_keys(decision: Decision, overrides: Mapping[str, str] | None) -> set[str]:
    column = (overrides or {}).get(decision.name)
    return {column} if column else set()


def _on_distinct(frame: pl.DataFrame, keys: list[str], distinct: pl.DataFrame, exprs: list[pl.Expr]) -> pl.DataFrame:
    small = distinct.with_columns(exprs)
    # Join only the keys, then add the new columns: the wide frame is never copied.
    mapped = frame.select(keys).join(small, on=keys, how="left", nulls_equal=True, maintain_order="left")
    return frame.hstack(mapped.drop(keys))


def _derive(derive: Derive, *, context: bool = False) -> pl.Expr:
    if derive.expression is not None:
        return derive.expression.compiled
    # SPEC §3: bucket = 1 + floor(buckets * (r - 1) / n), r = rank with ties sharing the lowest.
    source = pl.col(derive.quantile_of or "")
    if context:  # "over all records read": a parent read only to complete a family is not one of them
        source = pl.when(~pl.col(CONTEXT)).then(source)
    rank = source.rank("min").cast(pl.Int64)
    count = source.count().cast(pl.Int64)
    return (1 + (derive.buckets * (rank - 1)) // count).cast(pl.Float64)


def _with_heads(result: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`columns` of every record replaced by those of its family unit's head (at `_UNIT_ROW`)."""
    return result.with_columns(pl.col(c).gather(pl.col(_UNIT_ROW)) for c in columns)


def _lit(value: object, decision: Decision) -> pl.Expr:
    if decision.hit == "collect":
        return pl.lit(value, dtype=pl.String)
    return pl.lit(value, dtype=POLARS_TYPES[decision.kind])


_BUILT: dict[tuple[int, str | None], tuple[object, list[pl.Expr]]] = {}


def _built(source: object, variant: str | None, build: Callable[[], list[pl.Expr]]) -> list[pl.Expr]:
    """`build()` made once per `source` (by identity) and `variant`, then reused.

    Building a decision's or a territory tree's expressions runs small polars queries (the
    tables of literals), which cost more than evaluating a rulebook test's one record.
    """
    key = (id(source), variant)
    built = _BUILT.get(key)
    if built is None or built[0] is not source:
        if len(_BUILT) >= 4096:  # rulebooks loaded again and again (a long-running scheduler): start afresh
            _BUILT.clear()
        built = _BUILT[key] = (source, build())
    return built[1]


def _decision(decision: Decision, override: str | None) -> list[pl.Expr]:
    return _built(decision, override, lambda: _build_decision(decision, override))


def _build_decision(decision: Decision, override: str | None) -> list[pl.Expr]:
    holds = [rule.when.compiled.fill_null(False) for rule in decision.rules]
    ids = [rule.id for rule in decision.rules]
    value, rule = _HIT_POLICIES[decision.hit](decision, holds, ids)
    extra: list[pl.Expr] = []
    if decision.hit == "unique":
        extra.append(_matching(holds, ids).alias(conflict_column(decision.name)))
    if override is not None:
        manual = pl.col(override).is_not_null()
        value = pl.when(manual).then(pl.col(override)).otherwise(value)
        rule = pl.when(manual).then(pl.lit(OVERRIDE)).otherwise(rule)
    return [value.alias(decision.name), rule.alias(rule_column(decision.name)), *extra]


def _first_chain(holds: list[pl.Expr], values: list[pl.Expr], fallback: pl.Expr) -> pl.Expr:
    """The literal of the first condition that holds, else `fallback` (a literal too).

    The literals are picked by position from a table of them: a chain of literal branches
    would write a long text (over 12 bytes) again into every row, where a pick shares the
    table's one copy, and it is several times faster.
    """
    literals = [*values, fallback]
    table = pl.concat([pl.select(value.alias("value")).to_series() for value in literals]).rechunk()
    positions = [pl.lit(position, pl.UInt32) for position in range(len(literals))]
    chain: Any = pl.when(holds[0]).then(positions[0])
    for h, position in zip(holds[1:], positions[1:-1], strict=True):
        chain = chain.when(h).then(position)
    # Conditions that are all constants pick one position, and a pick by one position is one row
    # (not broadcast as a constant is): adding a column of zeros makes it a position per row.
    position = chain.otherwise(positions[-1]) + pl.repeat(pl.lit(0, pl.UInt32), pl.len())
    picked: pl.Expr = pl.lit(table).gather(position)
    return picked


def _first(decision: Decision, holds: list[pl.Expr], ids: list[str]) -> tuple[pl.Expr, pl.Expr]:
    values = [_lit(rule.then, decision) for rule in decision.rules]
    value = _first_chain(holds, values, _lit(decision.default, decision))
    rule = _first_chain(holds, [pl.lit(i) for i in ids], pl.lit(DEFAULT))
    return value, rule


def _unique(decision: Decision, holds: list[pl.Expr], ids: list[str]) -> tuple[pl.Expr, pl.Expr]:
    value, rule = _first(decision, holds, ids)
    conflict = pl.sum_horizontal([h.cast(pl.Int32) for h in holds]) > 1
    no_value = _lit(None, decision)
    return (
        pl.when(conflict).then(no_value).otherwise(value),
        pl.when(conflict).then(pl.lit(CONFLICT)).otherwise(rule),
    )


# Unit separator: joins matching values without clashing with any text a rule produces.
_SEPARATOR = "\x1f"


def _joined(holds: list[pl.Expr], items: list[str], separator: str) -> pl.Expr:
    """The items whose rule holds, joined; concat_str is far faster than concat_list on big frames."""
    parts = [pl.when(h).then(pl.lit(item, dtype=pl.String)) for h, item in zip(holds, items, strict=True)]
    return pl.concat_str(parts, separator=separator, ignore_nulls=True).fill_null("")


def _matching(holds: list[pl.Expr], items: list[str]) -> pl.Expr:
    joined = _joined(holds, items, _SEPARATOR)
    return pl.when(joined == "").then(pl.lit([], dtype=pl.List(pl.String))).otherwise(joined.str.split(_SEPARATOR))


def _rule_ids(holds: list[pl.Expr], ids: list[str]) -> pl.Expr:
    joined = _joined(holds, ids, ",")
    return pl.when(joined == "").then(pl.lit(DEFAULT)).otherwise(joined)


def _collect(decision: Decision, holds: list[pl.Expr], ids: list[str]) -> tuple[pl.Expr, pl.Expr]:
    return _matching(holds, [str(r.then) for r in decision.rules]), _rule_ids(holds, ids)


def _sum(decision: Decision, holds: list[pl.Expr], ids: list[str]) -> tuple[pl.Expr, pl.Expr]:
    terms = [pl.when(h).then(pl.lit(float(r.then))).otherwise(0.0) for h, r in zip(holds, decision.rules, strict=True)]
    # Rounded like every other sum (SPEC §3): 0.1 + 0.2 points is 0.3, not 0.30000000000000004.
    return clean_expr(pl.sum_horizontal(terms) + float(decision.default)), _rule_ids(holds, ids)


def _any(_decision: Decision, holds: list[pl.Expr], ids: list[str]) -> tuple[pl.Expr, pl.Expr]:
    rule = _first_chain(holds, [pl.lit(i) for i in ids], pl.lit(DEFAULT))
    return pl.any_horizontal(holds), rule


_HIT_POLICIES = {"first": _first, "unique": _unique, "collect": _collect, "sum": _sum, "any": _any}


def _territory(territories: Territories) -> list[pl.Expr]:
    return _built(territories, None, lambda: _build_territory(territories))


def _build_territory(territories: Territories) -> list[pl.Expr]:
    leaves = territories.leaves()
    holds = [pl.all_horizontal([node.when.compiled.fill_null(False) for node in path]) for path in leaves]
    ids = [pl.lit(path[-1].id) for path in leaves]
    value = _first_chain(holds, ids, pl.lit(None, dtype=pl.String))
    return [value.alias(territories.output), value.alias(rule_column(territories.output))]
