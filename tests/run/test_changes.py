"""A plan's changes held a row per record: rows made a slice at a time, or as JSON, are the rows made at once."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from revrules.run.changes import CHANGE_SCHEMA, POSITION, Changes, column, in_change_order

FIELDS = ["Name", "Segment__c", "Territory__c"]
_cells = st.tuples(st.booleans(), st.sampled_from([None, "", "SMB", "Mid-Market", "a\nb"]),
                   st.sampled_from([None, "SMB", "Enterprise", "é \"q\""]))


@st.composite
def _changes(draw: st.DrawFn) -> pl.DataFrame:
    """Changes a row each, in no particular order, one per (record, field) at most."""
    ids = draw(st.lists(st.text("0123456789AB", min_size=1, max_size=4), unique=True, max_size=12))
    rows = []
    for record in ids:
        for field in FIELDS:
            kept, before, after = draw(_cells)
            if kept:
                rows.append((record, field, before, after, f"rule-{field}"))
    return pl.DataFrame(draw(st.permutations(rows)), schema=CHANGE_SCHEMA, orient="row")


@settings(max_examples=60, deadline=None)
@given(_changes(), st.integers(1, 5))
def test_changes_come_in_id_then_field_order_whether_made_at_once_or_by_slices(
    given_rows: pl.DataFrame, records: int
) -> None:
    changes = Changes.from_frame(given_rows)
    expected = given_rows.sort(["id", "field"])
    assert changes.frame().equals(expected)
    assert pl.concat([pl.DataFrame(schema=CHANGE_SCHEMA), *changes.slices(records)]).equals(expected)
    # As JSON, a text per record: each change's object as polars encodes its row, in the same order.
    objects = expected.select(pl.struct(pl.all()).struct.json_encode()).to_series()
    assert "\n".join(changes.json_texts("\n").collect().to_series()) == "\n".join(objects)
    assert changes.height == given_rows.height
    assert changes.changed_records == given_rows["id"].n_unique()
    counted = (given_rows.group_by("field", "before", "after").len()
               .sort("field", "before", "after", nulls_last=True))
    found = changes.transitions().sort("field", "before", "after", nulls_last=True)
    assert found.equals(counted.select(found.columns).cast(found.schema))


def test_changes_of_some_fields_and_of_one_record() -> None:
    rows = pl.DataFrame([("2", "Segment__c", None, "SMB", "r1"), ("1", "Name", "a", "b", "r2"),
                         ("1", "Segment__c", "SMB", "Enterprise", "r1")], schema=CHANGE_SCHEMA, orient="row")
    changes = Changes.from_frame(rows)
    assert changes.of_fields(["Segment__c"])["id"].to_list() == ["1", "2"]
    assert changes.of_record("1")["field"].to_list() == ["Name", "Segment__c"]
    assert changes.of_record("3").is_empty()


def test_the_positions_of_records_changing_some_fields_are_those_of_their_rows() -> None:
    """`positions` reads the keep flags alone; `of_fields` makes the rows: the same records either way."""
    fields = ["Segment__c", "Territory__c"]
    records = pl.DataFrame({
        "id": ["a", "b", "c", "d"], POSITION: pl.Series([5, 3, 9, 1], dtype=pl.UInt32),
        **{column(q, i): v for i in range(2) for q, v in (("before", [None, "x", "y", None]),
                                                          ("after", ["p", "x", "q", "r"]),
                                                          ("rule", ["r", "r", "r", "r"]))},
        column("keep", 0): [True, False, None, True], column("keep", 1): [False, False, True, True],
    })
    changes = Changes.of(fields, records, [pl.col(column("after", i)) for i in range(2)],
                         [pl.col(column("rule", i)) for i in range(2)])
    for some in (["Segment__c"], ["Territory__c"], fields, ["Name"]):
        expected = changes.of_fields(some)[POSITION].unique(maintain_order=True).to_list()
        assert changes.positions(some).to_list() == expected
    assert changes.positions(fields).to_list() == [5, 9, 1]


def test_a_later_change_of_the_same_field_stands() -> None:
    """As when a hand-edited saved plan repeats a change: written one by one, the last would stand."""
    rows = pl.DataFrame([("1", "Name", "a", "b", "r"), ("1", "Name", "a", "c", "r")], schema=CHANGE_SCHEMA,
                        orient="row")
    assert Changes.from_frame(rows).frame()["after"].to_list() == ["c"]


@settings(max_examples=30, deadline=None)  # four ways of giving the changes each
@given(_changes(), st.data())
def test_the_last_of_repeated_changes_stands_in_any_order(given_rows: pl.DataFrame, data: st.DataObject) -> None:
    """In change order (as plans and the ledger hold them) or not, with a change repeated or not: the same changes."""
    ordered = given_rows.sort(["id", "field"])
    last = given_rows.height - 1
    repeated = data.draw(st.lists(st.integers(0, last), max_size=4)) if given_rows.height else []
    again = ordered[repeated].with_columns(pl.format("{}!", "after").alias("after"))
    for rows in (ordered, given_rows, pl.concat([given_rows, again]), pl.concat([ordered, again]).sort("id", "field")):
        expected = rows.unique(["id", "field"], keep="last", maintain_order=True).sort(["id", "field"])
        assert Changes.from_frame(rows).frame().equals(expected)
    assert in_change_order(ordered)
    assert not in_change_order(pl.concat([ordered, again])) or again.is_empty()


def test_no_fields_no_changes() -> None:
    changes = Changes.from_frame(pl.DataFrame(schema=CHANGE_SCHEMA))
    assert (changes.height, changes.changed_records, changes.frame().height) == (0, 0, 0)
    assert list(changes.slices(10)) == []


def test_transitions_count_records_whose_different_values_make_the_same_text() -> None:
    """The after text is made per distinct source values; records whose values differ but whose text is the same
    are one transition."""
    records = pl.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        column("keep", 0): [True, True, True, True, False],
        column("before", 0): ["SMB", "SMB", "SMB", None, "SMB"],
        "employees": [10, 20, 5000, 30, 40],
        "rule": ["r"] * 5,
    })
    size = pl.when(pl.col("employees") < 1000).then(pl.lit("SMB")).otherwise(pl.lit("Enterprise"))
    changes = Changes.of(["Segment__c"], records, [pl.concat_str(size, pl.lit(" tier"))], [pl.col("rule")])
    found = changes.transitions().sort("before", "after", nulls_last=True)
    assert found.rows() == [("Segment__c", "SMB", "Enterprise tier", 1), ("Segment__c", "SMB", "SMB tier", 2),
                            ("Segment__c", None, "SMB tier", 1)]
