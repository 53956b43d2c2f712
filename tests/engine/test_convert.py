"""Tests for converting raw CRM values to the declared field types."""

from __future__ import annotations

import datetime as dt
import time

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from revrules.engine import convert as convert_module
from revrules.engine.convert import (
    POLARS_TYPES,
    FieldSpec,
    FieldType,
    QualityIssue,
    convert_frame,
    convert_values,
)
from revrules.errors import InvalidInputError

UTC = dt.UTC


def one(value: object, type_: FieldType) -> object:
    return convert_values([value], type_).to_list()[0]


# -- empty values -------------------------------------------------------------------


@pytest.mark.parametrize("type_", list(FieldType))
@pytest.mark.parametrize("value", ["", "   ", "\t\n", None])
def test_empty_values_are_null_for_every_type(type_: FieldType, value: object) -> None:
    assert one(value, type_) is None


@pytest.mark.parametrize("type_", list(FieldType))
def test_empty_values_are_never_quality_issues(type_: FieldType) -> None:
    raw = pl.DataFrame({"__id": ["a", "b", "c"], "F": ["", "  ", None]})
    frame, issues = convert_frame(raw, [FieldSpec("f", "F", type_)])
    assert frame["f"].null_count() == 3
    assert issues == []


@pytest.mark.parametrize("type_", list(FieldType))
def test_convert_values_returns_the_declared_polars_type(type_: FieldType) -> None:
    assert convert_values(["x", None], type_).dtype == POLARS_TYPES[type_]


# -- string ---------------------------------------------------------------------------


def test_strings_are_trimmed() -> None:
    assert convert_values(["  Acme Inc ", "x"], FieldType.STRING).to_list() == ["Acme Inc", "x"]


# -- number ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,200", 1200.0),
        ("1200.0", 1200.0),
        ("1200", 1200.0),
        (1200, 1200.0),
        (1200.0, 1200.0),
        (" 1,200 ", 1200.0),
        ("1.2e3", 1200.0),
        ("1.2E+3", 1200.0),
        ("-5", -5.0),
        ("+5", 5.0),
        ("$1,200", 1200.0),
        ("-$1,200.50", -1200.5),
        ("1,234,567.25", 1234567.25),
        (".5", 0.5),
        ("0", 0.0),
        (950000000.0, 950000000.0),
        (0.25, 0.25),
    ],
)
def test_numbers_parse_common_crm_formats(value: object, expected: float) -> None:
    assert one(value, FieldType.NUMBER) == expected


@pytest.mark.parametrize(
    "value",
    ["unknown", "12abc", "1,2,3", "1,20", "12,0000", "N/A", "inf", "nan", "1.2.3", "$", "-", "1e400", "-1e400",
     float("nan"), float("inf")],
)
def test_numbers_reject_anything_else(value: object) -> None:
    assert one(value, FieldType.NUMBER) is None


@given(st.integers(min_value=-(10**15), max_value=10**15), st.booleans(), st.booleans())
def test_any_integer_formatted_with_or_without_separators_parses_back_as_a_number(
    number: int, separators: bool, dollar: bool
) -> None:
    text = f"{abs(number):,}" if separators else str(abs(number))
    text = ("-" if number < 0 else "") + ("$" if dollar else "") + text
    assert one(text, FieldType.NUMBER) == float(number)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_round_trips_through_its_repr(number: float) -> None:
    assert one(repr(number), FieldType.NUMBER) == number
    assert one(number, FieldType.NUMBER) == number


# -- integer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,200", 1200),
        ("1200.0", 1200),
        ("1.2e3", 1200),
        (1200, 1200),
        (1200.0, 1200),
        ("-5", -5),
        ("$1,200", 1200),
        ("9223372036854775807", 2**63 - 1),
    ],
)
def test_integers_parse_integral_values(value: object, expected: int) -> None:
    assert one(value, FieldType.INTEGER) == expected


@pytest.mark.parametrize("value", ["12.5", "1.5e0", "unknown", "1,2,3", "9223372036854775808"])
def test_integers_reject_fractions_garbage_and_overflow(value: str) -> None:
    assert one(value, FieldType.INTEGER) is None


@given(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1), st.booleans())
def test_any_int64_formatted_with_or_without_separators_parses_back_exactly(
    number: int, separators: bool
) -> None:
    text = f"{number:,}" if separators else str(number)
    assert one(text, FieldType.INTEGER) == number


# -- boolean --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" True ", True),
        ("1", True),
        ("yes", True),
        ("Yes", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("NO", False),
        (True, True),
        (False, False),
    ],
)
def test_booleans_accept_true_false_one_zero_yes_no(value: object, expected: bool) -> None:
    assert one(value, FieldType.BOOLEAN) is expected


@pytest.mark.parametrize("value", ["maybe", "2", "y", "t", "truthy"])
def test_booleans_reject_anything_else(value: str) -> None:
    assert one(value, FieldType.BOOLEAN) is None


# -- date -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-31", dt.date(2024, 1, 31)),
        ("2024-01-31T10:00:00Z", dt.date(2024, 1, 31)),
        ("2024-01-31T23:30:00.000+0000", dt.date(2024, 1, 31)),
        # The date as written in the CRM, not shifted to UTC.
        ("2024-01-31T23:30:00-05:00", dt.date(2024, 1, 31)),
        ("01/31/2024", dt.date(2024, 1, 31)),
        ("1/5/2024", dt.date(2024, 1, 5)),
        ("1706659200000", dt.date(2024, 1, 31)),
        (dt.date(2024, 1, 31), dt.date(2024, 1, 31)),
    ],
)
def test_dates_parse_iso_us_and_datetime_strings(value: object, expected: dt.date) -> None:
    assert one(value, FieldType.DATE) == expected


@pytest.mark.parametrize(
    "value", ["31/01/2024", "2024-02-30", "2024-13-01", "yesterday", "2024-01-31T25:00:00Z", "2024"]
)
def test_dates_reject_invalid_and_ambiguous_values(value: str) -> None:
    assert one(value, FieldType.DATE) is None


@given(st.dates(min_value=dt.date(1000, 1, 1)))
def test_any_date_round_trips_in_iso_and_us_form(day: dt.date) -> None:
    assert one(day.isoformat(), FieldType.DATE) == day
    assert one(f"{day.month:02d}/{day.day:02d}/{day.year:04d}", FieldType.DATE) == day


# -- datetime -------------------------------------------------------------------------

TEN_UTC = dt.datetime(2024, 1, 31, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-31T10:00:00Z", TEN_UTC),
        ("2024-01-31T10:00:00+00:00", TEN_UTC),
        ("2024-01-31T10:00:00.000+0000", TEN_UTC),
        ("2024-01-31T10:00:00", TEN_UTC),
        ("2024-01-31 10:00", TEN_UTC),
        ("2024-01-31T05:00:00-05:00", TEN_UTC),
        ("2024-01-31T15:30:00+0530", TEN_UTC),
        ("2024-01-31T10:00:00.123456Z", TEN_UTC.replace(microsecond=123456)),
        ("2024-01-31T10:00:00.5Z", TEN_UTC.replace(microsecond=500000)),
        ("2024-01-31T10:00:00.123456789Z", TEN_UTC.replace(microsecond=123456)),
        ("1706695200000", TEN_UTC),
        ("2024-01-31", dt.datetime(2024, 1, 31, tzinfo=UTC)),
        ("01/31/2024", dt.datetime(2024, 1, 31, tzinfo=UTC)),
        (1706695200000, TEN_UTC),
        (1706695200000.0, TEN_UTC),
    ],
)
def test_datetimes_parse_iso_epoch_millis_and_dates_to_utc(
    value: object, expected: dt.datetime
) -> None:
    assert one(value, FieldType.DATETIME) == expected


@pytest.mark.parametrize(
    "value",
    ["20240131", "1706695200", "2024-01-31T10:00:00+25:00", "2024-01-31T10:00:61Z", "soon"],
)
def test_datetimes_reject_unknown_formats(value: str) -> None:
    assert one(value, FieldType.DATETIME) is None


def test_datetimes_are_always_utc() -> None:
    series = convert_values(["2024-01-31T10:00:00-08:00"], FieldType.DATETIME)
    assert series.dtype == pl.Datetime("us", "UTC")
    assert series.to_list() == [dt.datetime(2024, 1, 31, 18, 0, tzinfo=UTC)]


@given(
    st.datetimes(
        min_value=dt.datetime(1970, 1, 1),  # noqa: DTZ001  # hypothesis bounds are naive by definition
        max_value=dt.datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_any_utc_datetime_round_trips_in_iso_and_epoch_millis(moment: dt.datetime) -> None:
    assert one(moment.isoformat(), FieldType.DATETIME) == moment
    assert one(moment.isoformat().replace("+00:00", "Z"), FieldType.DATETIME) == moment
    millis = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    digits = str((millis - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(milliseconds=1))
    if 12 <= len(digits) <= 13:
        assert one(digits, FieldType.DATETIME) == millis


@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),  # noqa: DTZ001
        max_value=dt.datetime(9999, 12, 30),  # noqa: DTZ001
    ),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
    st.sampled_from(["{:+03d}{:02d}", "{:+03d}:{:02d}"]),
    st.sampled_from(["", "x", " ", "T", "0"]),
)
def test_salesforce_shaped_datetimes_read_as_the_general_parser_reads_them(
    moment: dt.datetime, offset_minutes: int, offset_form: str, noise: str
) -> None:
    """Salesforce writes datetimes as `2022-01-02T21:33:43.000+0000` (the Bulk API 2.0 JobInfo
    `createdDate` in tests/fixtures/salesforce/salesforce_error_and_job_bodies_excerpt.json).
    `convert_frame` parses that shape directly; it must agree with the general parsers alone
    (`convert_values`, for a few loose values) on it and on near misses, which it leaves to them.
    """
    hours, minutes = divmod(abs(offset_minutes), 60)
    offset = offset_form.format(hours if offset_minutes >= 0 else -hours, minutes)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + offset
    values = [text, text + noise, noise + text, text.replace(".", noise, 1), text[:-1]]
    raw = pl.DataFrame({"__id": [str(i) for i in range(len(values))], "At": values})
    typed, _ = convert_frame(raw, [FieldSpec("at", "At", FieldType.DATETIME)])
    assert typed["at"].to_list() == [one(value, FieldType.DATETIME) for value in values]


# -- list -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a;b;c", ["a", "b", "c"]),
        (" c ; a ;b ", ["c", "a", "b"]),
        ("a;;b;", ["a", "b"]),
        ("single", ["single"]),
        (";", None),
        (["x", "y"], ["x", "y"]),
    ],
)
def test_lists_split_on_semicolons_trim_and_keep_order(
    value: object, expected: list[str] | None
) -> None:
    assert one(value, FieldType.LIST) == expected


@given(st.lists(st.text(alphabet="abcXYZ -_1", min_size=1).map(str.strip).filter(bool)))
def test_any_list_round_trips_through_its_joined_form(items: list[str]) -> None:
    assert one(";".join(items), FieldType.LIST) == (items or None)


# -- frames and quality issues --------------------------------------------------------


def test_convert_frame_outputs_id_and_one_column_per_spec_name() -> None:
    raw = pl.DataFrame({"__id": ["a", "b"], "Employees": ["1,200", "50"], "Flag": ["yes", "no"]})
    specs = [
        FieldSpec("employees", "Employees", FieldType.NUMBER),
        FieldSpec("headcount", "Employees", FieldType.INTEGER),
        FieldSpec("flag", "Flag", FieldType.BOOLEAN),
    ]
    frame, issues = convert_frame(raw, specs)
    assert frame.columns == ["__id", "employees", "headcount", "flag"]
    assert frame.schema == pl.Schema(
        {"__id": pl.String, "employees": pl.Float64, "headcount": pl.Int64, "flag": pl.Boolean}
    )
    assert frame.rows() == [("a", 1200.0, 1200, True), ("b", 50.0, 50, False)]
    assert issues == []


def test_convert_frame_accepts_numeric_and_boolean_source_columns() -> None:
    raw = pl.DataFrame(
        {
            "__id": ["a", "b"],
            "Revenue": [950000000.0, 12.5],
            "Seats": [3, None],
            "Active": [True, False],
            "Modified": [1706695200000.0, None],
        }
    )
    specs = [
        FieldSpec("revenue", "Revenue", FieldType.NUMBER),
        FieldSpec("revenue_text", "Revenue", FieldType.STRING),
        FieldSpec("seats", "Seats", FieldType.INTEGER),
        FieldSpec("active", "Active", FieldType.BOOLEAN),
        FieldSpec("modified", "Modified", FieldType.DATETIME),
    ]
    frame, issues = convert_frame(raw, specs)
    assert frame.rows() == [
        ("a", 950000000.0, "950000000", 3, True, TEN_UTC),
        ("b", 12.5, "12.5", None, False, None),
    ]
    assert issues == []


def test_quality_issue_counts_failures_and_names_the_first_failing_record() -> None:
    raw = pl.DataFrame(
        {
            "__id": ["r1", "r2", "r3", "r4", "r5"],
            "Employees": ["10", "unknown", "", "12abc", "secret-value"],
        }
    )
    specs = [
        FieldSpec("employees", "Employees", FieldType.NUMBER),
        FieldSpec("name", "Employees", FieldType.STRING),
    ]
    _, issues = convert_frame(raw, specs)
    assert issues == [QualityIssue("employees", "Employees", count=3, example_id="r2")]


def test_quality_issues_never_hold_field_values() -> None:
    raw = pl.DataFrame({"__id": ["r1"], "Amount": ["jane@example.com"]})
    _, issues = convert_frame(raw, [FieldSpec("amount", "Amount", FieldType.NUMBER)])
    assert "jane@example.com" not in repr(issues)


def test_quality_issues_follow_spec_order_one_per_failing_field() -> None:
    raw = pl.DataFrame({"__id": ["a", "b"], "X": ["x", "1"], "Y": ["2024-01-31", "nope"]})
    specs = [
        FieldSpec("y", "Y", FieldType.DATE),
        FieldSpec("x", "X", FieldType.INTEGER),
        FieldSpec("x_text", "X", FieldType.STRING),
    ]
    _, issues = convert_frame(raw, specs)
    assert issues == [
        QualityIssue("y", "Y", count=1, example_id="b"),
        QualityIssue("x", "X", count=1, example_id="a"),
    ]


def test_convert_frame_keeps_record_order() -> None:
    ids = [f"id{i}" for i in range(100, 0, -1)]
    raw = pl.DataFrame({"__id": ids, "N": [str(i) for i in range(100)]})
    frame, _ = convert_frame(raw, [FieldSpec("n", "N", FieldType.INTEGER)])
    assert frame["__id"].to_list() == ids
    assert frame["n"].to_list() == list(range(100))


def test_convert_frame_with_no_specs_returns_only_ids() -> None:
    frame, issues = convert_frame(pl.DataFrame({"__id": ["a"]}), [])
    assert frame.columns == ["__id"]
    assert issues == []


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([FieldSpec("x", "Missing", FieldType.STRING)], "no column 'Missing'"),
        ([FieldSpec("__id", "X", FieldType.STRING)], "reserved"),
        (
            [FieldSpec("x", "X", FieldType.STRING), FieldSpec("x", "X", FieldType.NUMBER)],
            "declared twice",
        ),
    ],
)
def test_convert_frame_rejects_bad_specs(specs: list[FieldSpec], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        convert_frame(pl.DataFrame({"__id": ["a"], "X": ["1"]}), specs)


def _ten_columns(n: int) -> tuple[pl.DataFrame, list[FieldSpec]]:
    value = (pl.int_range(n) * 7919) % 100_000
    even = value % 2 == 0
    raw = pl.select(
        pl.format("001{}", pl.int_range(n).cast(pl.String).str.pad_start(12, "0")).alias("__id"),
        pl.format(
            "${},{}", value // 1000, (value % 1000).cast(pl.String).str.pad_start(3, "0")
        ).alias("amount"),
        value.cast(pl.String).alias("employees"),
        pl.when(even).then(pl.lit(" Yes")).otherwise(pl.lit("false")).alias("active"),
        pl.when(even).then(pl.lit("2024-01-31")).otherwise(pl.lit("01/31/2024")).alias("day"),
        pl.when(even)
        .then(pl.lit("2024-01-31T10:00:00.000+0000"))
        .otherwise(pl.lit("1706695200000"))
        .alias("modified"),
        pl.when(even).then(pl.lit("Sales; Marketing")).otherwise(pl.lit("")).alias("teams"),
        pl.lit("Acme Corporation ").alias("name"),
        (value / 4).alias("ratio"),
    )
    specs = [
        FieldSpec("amount", "amount", FieldType.NUMBER),
        FieldSpec("employees", "employees", FieldType.INTEGER),
        FieldSpec("active", "active", FieldType.BOOLEAN),
        FieldSpec("day", "day", FieldType.DATE),
        FieldSpec("modified", "modified", FieldType.DATETIME),
        FieldSpec("teams", "teams", FieldType.LIST),
        FieldSpec("name", "name", FieldType.STRING),
        FieldSpec("ratio", "ratio", FieldType.NUMBER),
        FieldSpec("modified_day", "modified", FieldType.DATE),
        FieldSpec("amount_int", "amount", FieldType.INTEGER),
    ]
    return raw, specs


def test_ten_columns_of_every_type_convert_without_issues() -> None:
    n = 20_000
    frame, issues = convert_frame(*_ten_columns(n))
    assert frame.height == n
    assert issues == []
    assert frame.drop("teams").null_count().row(0) == (0,) * 10
    assert frame["modified"].unique().to_list() == [TEN_UTC]


@pytest.mark.benchmark
def test_a_million_rows_of_ten_columns_convert_in_seconds() -> None:
    n = 1_000_000
    raw, specs = _ten_columns(n)
    started = time.perf_counter()
    frame, issues = convert_frame(raw, specs)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"conversion took {elapsed:.1f} s"
    assert frame.height == n
    assert issues == []
    assert frame.drop("teams").null_count().row(0) == (0,) * 10
    assert frame["modified"].unique().to_list() == [TEN_UTC]


# -- columns of repeating values ----------------------------------------------------------

_REPEATED = ["1", " 2 ", "$1,000", "x", "", "  ", "true", "No", "a; b", "b;a", ";", "2024-01-31",
             "2019-10-15T06:22:00.000+0000", "1700000000000", "1e400", "nan"]


@pytest.mark.parametrize("type_", list(FieldType))
def test_a_column_of_repeating_values_converts_as_row_by_row(monkeypatch: pytest.MonkeyPatch,
                                                              type_: FieldType) -> None:
    values = [None, *_REPEATED] * 2_000
    raw = pl.DataFrame({"__id": [f"id{i:06d}" for i in range(len(values))], "X": values},
                       schema={"__id": pl.String, "X": pl.String})
    specs = [FieldSpec("x", "X", type_), FieldSpec("text", "X", FieldType.STRING)]
    by_value, by_value_issues = convert_frame(raw, specs)
    monkeypatch.setattr(convert_module, "_BY_VALUE_FROM", len(values) + 1)
    by_row, by_row_issues = convert_frame(raw, specs)
    assert by_value.equals(by_row)
    assert by_value.schema == by_row.schema
    assert by_value_issues == by_row_issues


def test_columns_converted_together_by_value_match_each_alone_and_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeating columns are found and converted side by side: one's failures never mark another's records."""
    n = 30_000
    raw = pl.DataFrame({
        "__id": [f"id{i:06d}" for i in range(n)],
        "A": ["1", "2", "x"] * (n // 3),  # repeats, one value fails
        "B": ["10", " 20 "] * (n // 2),  # repeats, none fails
        "C": [str(i) for i in range(n)],  # different values: row by row
        "D": [None] * n,
    }, schema=dict.fromkeys(("__id", "A", "B", "C", "D"), pl.String))
    specs = [FieldSpec("a", "A", FieldType.NUMBER), FieldSpec("a_text", "A", FieldType.STRING),
             FieldSpec("b", "B", FieldType.INTEGER), FieldSpec("c", "C", FieldType.NUMBER),
             FieldSpec("d", "D", FieldType.BOOLEAN)]
    together, issues = convert_frame(raw, specs)
    for spec in specs:
        alone, alone_issues = convert_frame(raw.select("__id", spec.source), [spec])
        assert together[spec.name].equals(alone[spec.name])
        assert [i for i in issues if i.field == spec.name] == alone_issues
    assert issues == [QualityIssue("a", "A", count=n // 3, example_id="id000002")]
    monkeypatch.setattr(convert_module, "_BY_VALUE_FROM", n + 1)
    by_row, by_row_issues = convert_frame(raw, specs)
    assert together.equals(by_row)
    assert issues == by_row_issues


def test_a_long_column_without_values_converts_to_nulls() -> None:
    raw = pl.DataFrame({"__id": [str(i) for i in range(30_000)], "X": [None] * 30_000},
                       schema={"__id": pl.String, "X": pl.String})
    frame, issues = convert_frame(raw, [FieldSpec("x", "X", FieldType.NUMBER), FieldSpec("y", "X", FieldType.LIST)])
    assert frame["x"].null_count() == frame["y"].null_count() == 30_000
    assert frame.schema["y"] == pl.List(pl.String)
    assert issues == []


@pytest.mark.parametrize("copies", [1, 10_000], ids=["row-by-row", "by-distinct-value"])
@pytest.mark.parametrize("value", ["x ", " x", "x\u00a0", "\u2003x", "x\n", ""])
def test_a_text_column_with_one_value_to_trim_is_trimmed(value: str, copies: int) -> None:
    """Also when the column repeats, and whether it needs trimming is seen in its distinct values."""
    raw = pl.DataFrame({"__id": [str(i) for i in range(3 * copies)], "X": ["clean", value, "also clean"] * copies})
    frame, _ = convert_frame(raw, [FieldSpec("x", "X", FieldType.STRING)])
    assert frame["x"].to_list() == ["clean", value.strip() or None, "also clean"] * copies


def test_a_long_column_of_different_values_converts_each_one() -> None:
    values = [f"${i * 1000:,}" if i % 7 else "junk" for i in range(30_000)]
    raw = pl.DataFrame({"__id": [f"id{i:05d}" for i in range(30_000)], "N": values})
    frame, issues = convert_frame(raw, [FieldSpec("n", "N", FieldType.INTEGER)])
    assert frame["n"].to_list() == [i * 1000 if i % 7 else None for i in range(30_000)]
    assert issues == [QualityIssue("n", "N", count=len(range(0, 30_000, 7)), example_id="id00000")]
