"""Resolving ultimate parents column-wise, and family positions that survive reordering (issue 21)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from revrules.engine.convert import ID
from revrules.engine.definitions import Pool
from revrules.engine.evaluate import _UNIT_ROW, _units
from revrules.engine.hierarchy import CONTEXT, UNIT, resolve_hierarchy, with_family_rows
from revrules.engine.owners import SIZE

FAMILY = pl.DataFrame({"__id": ["P", "C", "G", "S", "X", "Y"], "p": [None, "P", "C", None, "Y", "X"]})


def test_every_record_points_at_its_ultimate_parent_and_depth() -> None:
    typed, issues = resolve_hierarchy(FAMILY, "p", "ParentId")
    assert typed["__ultimate"].to_list() == ["P", "P", "P", "S", "X", "Y"]
    assert typed["__depth"].to_list() == [0, 1, 2, 0, 0, 0]
    assert [(q.field, q.count, q.example_id) for q in issues] == [("hierarchy cycle", 2, "X")]


def test_positions_are_found_again_when_rows_move() -> None:
    typed, _ = resolve_hierarchy(FAMILY, "p", "ParentId")
    moved = with_family_rows(typed.reverse())
    ids = moved["__id"]
    assert [ids[i] for i in moved["__ultimate_row"].to_list()] == moved["__ultimate"].to_list()
    assert [None if i is None else ids[i] for i in moved["__parent_row"].to_list()] == moved["__parent"].to_list()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.booleans(), st.one_of(st.none(), st.integers(-5, 1_000))),
                min_size=1, max_size=40),
       st.booleans(), st.booleans())
def test_a_family_units_load_is_its_read_members_count_and_sums(rows: list[tuple[int, bool, int | None]],
                                                               balanced: bool, context: bool) -> None:
    """Each unit head carries the number of its members read and the sum of their `balance_by` values."""
    heads = [min(head, i) for i, (head, _, _) in enumerate(rows)]
    heads = [head if heads[head] == head else i for i, head in enumerate(heads)]  # a head heads itself
    frame = pl.DataFrame({
        ID: [f"r{i}" for i in range(len(rows))], UNIT: [f"r{head}" for head in heads],
        _UNIT_ROW: heads, "arr": [value for _, _, value in rows], "t": ["x"] * len(rows),
    }, schema={ID: pl.String, UNIT: pl.String, _UNIT_ROW: pl.Int64, "arr": pl.Float64, "t": pl.String})
    if context:
        frame = frame.with_columns(pl.Series(CONTEXT, [only for _, only, _ in rows]))
    pools = {"p": Pool(id="p", owners=(), balance_by="arr" if balanced else None)}
    units = _units(frame, pools, ["t"])
    read = [not (context and only) for _, only, _ in rows]
    expected = [
        (f"r{head}", float(sum(read[i] for i in range(len(rows)) if heads[i] == head)),
         float(sum(value or 0 for i, (_, _, value) in enumerate(rows) if heads[i] == head and read[i])))
        for head in sorted(set(heads))
    ]
    assert units.columns == [ID, UNIT, "t", SIZE, *(["arr"] if balanced else [])]
    got = units.select(ID, SIZE, pl.col("arr") if balanced else pl.lit(None)).rows()
    assert got == [(head, size, total if balanced else None) for head, size, total in expected]
