"""Resolving ultimate parents column-wise, and family positions that survive reordering (issue 21)."""

from __future__ import annotations

import polars as pl

from revrules.engine.hierarchy import resolve_hierarchy, with_family_rows

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
