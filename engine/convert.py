"""Type conversion: turns raw CRM values into the declared field types before rules run."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from revrules.errors import InvalidInputError

ID = "__id"
"""The record-id column, as every connector names it."""


class FieldType(StrEnum):
    """The types a rulebook field may be declared as."""

    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    LIST = "list"


@dataclass(frozen=True)
class FieldSpec:
    """One configured field: the name rules use, the CRM field it reads, its type."""

    name: str
    source: str
    type: FieldType


@dataclass(frozen=True)
class QualityIssue:
    """Values of one field that could not be converted.

    Holds only a count and a record id: the failing value itself is customer data
    and never leaves the engine.
    """

    field: str
    source: str
    count: int
    example_id: str


POLARS_TYPES: dict[FieldType, pl.DataType] = {
    FieldType.STRING: pl.String(),
    FieldType.NUMBER: pl.Float64(),
    FieldType.INTEGER: pl.Int64(),
    FieldType.BOOLEAN: pl.Boolean(),
    FieldType.DATE: pl.Date(),
    FieldType.DATETIME: pl.Datetime("us", "UTC"),
    FieldType.LIST: pl.List(pl.String()),
}
"""The polars dtype each field type converts to."""

# Digits, optionally grouped by thousands; a leading sign and dollar sign are allowed
# because spreadsheet exports format currency fields that way.
_INTEGER_RE = r"^[+-]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)$"
_NUMBER_RE = r"^[+-]?\$?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_US_DATE_RE = r"^(\d{1,2})/(\d{1,2})/(\d{4})$"
_ISO_DATETIME_RE = (
    r"^(\d{4}-\d{2}-\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$"
)
_SALESFORCE_DATETIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$"
# HubSpot sends datetimes as epoch milliseconds; 12-13 digits covers 1973-2286 and
# keeps plain 8-digit dates such as 20240131 from being read as epochs.
_EPOCH_MS_RE = r"^\d{12,13}$"
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_INT64_LIMIT = 2.0**63
_BY_VALUE_FROM = 20_000
"""Records from which a column of repeating values is converted once per distinct value."""
_BY_VALUE_SHARE = 0.25
"""A column repeats when at most this share of its values are distinct."""
_BY_VALUE_SAMPLE = 5_000
_BY_VALUE_SAMPLE_SHARE = 0.9
"""A column whose sample of about `_BY_VALUE_SAMPLE` values has a larger share distinct is converted row by row."""


def convert_frame(
    raw: pl.DataFrame, specs: Sequence[FieldSpec]
) -> tuple[pl.DataFrame, list[QualityIssue]]:
    """Convert a connector's raw frame to the declared types.

    Args:
        raw: Column `__id` plus one column per distinct `source` in `specs`, as the
            connector read it (strings, or numbers and booleans from JSON APIs).
        specs: The configured fields; two specs may read the same source.

    Returns:
        A frame with `__id` and one column per spec `name` in the dtype of
        `POLARS_TYPES`, in the order of `raw`; and one `QualityIssue` per field with
        values that could not be converted, in the order of `specs`.

    Raises:
        InvalidInputError: A spec name is repeated or clashes with `__id`, or a source
            column is missing from `raw`.
    """
    _check_specs(raw, specs)
    # A column whose values repeat (picklists, flags, scores, the values revrules wrote) is looked at
    # through its distinct values: parsing or checking a value costs several times more than finding it.
    distinct = _repeating(raw, [source for source in dict.fromkeys(spec.source for spec in specs)
                                if source != ID and raw.schema[source] == pl.String])
    # A text field already trimmed and without empty values is taken as read: its values are shared, not copied.
    taken = _already_clean(raw, [spec.source for spec in specs if spec.type == FieldType.STRING], distinct)
    made = [spec for spec in specs if not (spec.type == FieldType.STRING and spec.source in taken)]
    converted = _converted(raw, made, distinct)
    issues = _quality_issues(converted, made, {spec.name: _failed(spec.name) for spec in made})
    built = {spec.name for spec in made}
    record_id = raw.get_column(ID) if raw.schema[ID] == pl.String else converted.get_column(ID)
    frame = pl.DataFrame([
        record_id,
        *(converted.get_column(spec.name) if spec.name in built else raw.get_column(spec.source).alias(spec.name)
          for spec in specs),
    ])
    # One piece per column: evaluation would otherwise copy every column into one, and keep both.
    return frame.rechunk(), issues


def _failed(name: str) -> str:
    return f"\x00failed\x00{name}"


def _already_clean(raw: pl.DataFrame, sources: Sequence[str], distinct: Mapping[str, pl.Series]) -> set[str]:
    """The text columns among `sources` with no value to trim and no empty value (`distinct` of some: their values)."""
    text = [source for source in dict.fromkeys(sources) if raw.schema[source] == pl.String]
    if not text:
        return set()
    # A value to trim is one that trimming shortens: measuring lengths is cheaper than a regex search,
    # which looks for whitespace at the end of a value by scanning all of it.
    def untidy(values: pl.Expr) -> pl.Expr:
        return (values.str.strip_chars().str.len_bytes().ne(values.str.len_bytes()) | values.eq("")).any()

    found = dict(zip(text, raw.select(untidy(pl.col(source)) if source not in distinct
                                      else untidy(pl.lit(distinct[source])) for source in text).row(0), strict=True))
    return {source for source in text if not found[source]}


def _converted(raw: pl.DataFrame, specs: Sequence[FieldSpec], distinct: Mapping[str, pl.Series]) -> pl.DataFrame:
    """`__id`, each spec's converted column and its failure flags (`_failed`).

    A text column whose values repeat (`distinct` holds its values) is converted once per
    distinct value, and each record takes its value's result. Other columns are converted
    row by row.
    """
    distinct = {source: values for source, values in distinct.items() if any(spec.source == source for spec in specs)}
    converted = _converted_rows(raw, [spec for spec in specs if spec.source not in distinct])
    converted = converted.with_columns(_by_value(raw, specs, distinct))
    failed_names = [_failed(spec.name) for spec in specs]
    return converted.select(ID, *(spec.name for spec in specs), *failed_names)


def _repeating(raw: pl.DataFrame, sources: Sequence[str]) -> dict[str, pl.Series]:
    """The distinct values (nulls left out) of those long `sources` columns whose values are few for their length.

    This only chooses how a column is converted: both ways give the same values.
    """
    if raw.height < _BY_VALUE_FROM or not sources:
        return {}
    # A sample first: finding every distinct value of a column of different values costs as much as converting it.
    sample = raw.select(sources).gather_every(raw.height // _BY_VALUE_SAMPLE)
    counts = sample.select(pl.col(source).n_unique() for source in sources).row(0)
    likely = [source for source, count in zip(sources, counts, strict=True)
              if count <= sample.height * _BY_VALUE_SAMPLE_SHARE]
    if not likely:
        return {}
    # Found for every column at once, so that columns are looked at side by side.
    found = raw.select(pl.col(source).drop_nulls().unique().implode() for source in likely)
    return {source: values.alias(source) for source in likely
            if (values := found.get_column(source)[0]).len() <= raw.height * _BY_VALUE_SHARE}


def _by_value(raw: pl.DataFrame, specs: Sequence[FieldSpec], distinct: Mapping[str, pl.Series]) -> list[pl.Series]:
    """Each spec's converted column and failure flags, each of the `distinct` values of its source converted once."""
    columns: list[pl.Expr] = []
    flags: list[pl.Expr] = []
    for source, values in distinct.items():
        mine = [spec for spec in specs if spec.source == source]
        results = _converted_rows(pl.DataFrame([values.alias(ID), values.alias(source)]), mine)
        # Each record's value's place among the distinct values (null for an empty cell, whose results are null).
        index = (pl.col(source).replace_strict(values, pl.int_range(values.len(), dtype=pl.UInt32, eager=True),
                                               return_dtype=pl.UInt32)
                 if values.len() else pl.repeat(None, pl.len(), dtype=pl.UInt32))
        for spec in mine:
            columns.append(pl.lit(results.get_column(spec.name)).gather(index).alias(spec.name))
            # Most columns have no value that fails: their flags need no look at the records.
            failed = results.get_column(_failed(spec.name))
            flags.append((pl.lit(failed).gather(index).fill_null(False) if failed.any()
                          else pl.repeat(False, pl.len())).alias(_failed(spec.name)))
    if not columns:
        return []
    return raw.lazy().select(*columns, *flags).collect().get_columns()


def _converted_rows(raw: pl.DataFrame, specs: Sequence[FieldSpec]) -> pl.DataFrame:
    """`__id`, each spec's converted column and its failure flags (`_failed`), computed in one go, row by row."""
    sources = list(dict.fromkeys(spec.source for spec in specs))
    cleaned_names = {source: f"\x00raw\x00{source}" for source in sources}
    failed_names = {spec.name: _failed(spec.name) for spec in specs}

    cleaned = raw.lazy().select(
        pl.col(ID).cast(pl.String),
        *(
            _clean(_as_string(pl.col(source), raw.schema[source])).alias(cleaned_names[source])
            for source in sources
        ),
    )
    # A datetime column's Salesforce-shaped values are parsed first, as a column of their own (as an
    # expression repeated inside the general parsers, it would be worked out once per use).
    shaped = {spec.source: f"\x00salesforce\x00{spec.source}" for spec in specs if spec.type == FieldType.DATETIME}
    cleaned = cleaned.with_columns(
        _salesforce_datetime(pl.col(cleaned_names[source])).alias(name) for source, name in shaped.items()
    )
    converted = cleaned.with_columns(
        _convert(pl.col(cleaned_names[spec.source]), spec.type,
                 pl.col(shaped[spec.source]) if spec.type == FieldType.DATETIME else None).alias(spec.name)
        for spec in specs
    ).with_columns(
        (pl.col(cleaned_names[spec.source]).is_not_null() & pl.col(spec.name).is_null()).alias(
            failed_names[spec.name]
        )
        for spec in specs
    )
    return converted.select(ID, *(spec.name for spec in specs), *failed_names.values()).collect()


def _quality_issues(
    frame: pl.DataFrame, specs: Sequence[FieldSpec], failed_names: dict[str, str]
) -> list[QualityIssue]:
    """Count each field's failures and name the smallest failing id, so input order does not matter."""
    if not specs:
        return []
    stats = frame.select(
        *(pl.col(failed_names[spec.name]).sum().alias(f"n{i}") for i, spec in enumerate(specs)),
        *(
            pl.col(ID).filter(pl.col(failed_names[spec.name])).min().alias(f"id{i}")
            for i, spec in enumerate(specs)
        ),
    ).row(0, named=True)
    return [
        QualityIssue(spec.name, spec.source, int(stats[f"n{i}"]), str(stats[f"id{i}"]))
        for i, spec in enumerate(specs)
        if stats[f"n{i}"]
    ]


def convert_values(values: Sequence[object], type: FieldType) -> pl.Series:
    """Convert a few loose values (one record's, or a test's) by the rules of `convert_frame`.

    Args:
        values: Python values as a CRM or a JSON document gives them: strings,
            numbers, booleans, None, and for convenience dates, datetimes and lists.
        type: The declared type.

    Returns:
        A series of `POLARS_TYPES[type]`; values that cannot be converted are null.
    """
    texts = pl.Series("value", [_to_text(value) for value in values], dtype=pl.String)
    return texts.to_frame().select(_convert(_clean(pl.col("value")), type)).to_series()


def _check_specs(raw: pl.DataFrame, specs: Sequence[FieldSpec]) -> None:
    """Refuse specs that would produce an ambiguous frame or read a missing column."""
    problems: list[str] = []
    seen: set[str] = set()
    for spec in specs:
        if spec.name == ID:
            problems.append(f"field name {ID!r} is reserved for the record id")
        elif spec.name in seen:
            problems.append(f"field {spec.name!r} is declared twice")
        seen.add(spec.name)
    if ID not in raw.columns:
        problems.append(f"the records have no {ID!r} column")
    problems.extend(
        f"field {spec.name!r}: the records have no column {spec.source!r}"
        for spec in specs
        if spec.source not in raw.columns
    )
    if problems:
        raise InvalidInputError("\n".join(problems))


def _as_string(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Render a raw column as text, whatever dtype the connector produced."""
    if dtype == pl.String:
        return column
    if dtype.is_float():
        # JSON APIs send 950000000.0 or 1.7e12 for integral values; written back
        # without the fraction they stay valid integers and epoch milliseconds.
        integral = column.is_finite() & (column == column.floor()) & (column.abs() < _INT64_LIMIT)
        return (
            pl.when(integral)
            .then(column.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(column.cast(pl.String))
        )
    if isinstance(dtype, pl.List):
        return column.cast(pl.List(pl.String)).list.join(";")
    return column.cast(pl.String)


def _clean(text: pl.Expr) -> pl.Expr:
    """Trim whitespace and treat an empty value as null."""
    trimmed = text.str.strip_chars()
    return pl.when(trimmed != "").then(trimmed)


def _convert(text: pl.Expr, type: FieldType, salesforce: pl.Expr | None = None) -> pl.Expr:
    """The conversion of cleaned text (trimmed, empty as null) to `type`; failures are null.

    `salesforce`: for a datetime, its values of Salesforce's shape already parsed (`_salesforce_datetime`).
    """
    match type:
        case FieldType.STRING:
            return text
        case FieldType.NUMBER:
            return _to_number(text)
        case FieldType.INTEGER:
            return _to_integer(text)
        case FieldType.BOOLEAN:
            return text.str.to_lowercase().replace_strict(
                _BOOLEANS, default=None, return_dtype=pl.Boolean
            )
        case FieldType.DATE:
            return _to_date(text)
        case FieldType.DATETIME:
            return _to_datetime(text, salesforce)
        case FieldType.LIST:
            return _to_list(text)


def _digits(text: pl.Expr) -> pl.Expr:
    """Drop the currency sign and thousands separators a validated number may hold."""
    return text.str.replace_all(r"[$,]", "")


def _to_number(text: pl.Expr) -> pl.Expr:
    """Parse decimal and scientific notation, with optional `$` and thousands separators."""
    valid = text.str.contains(_NUMBER_RE)
    number = _digits(text).cast(pl.Float64, strict=False)
    # SPEC §3: `1e400` overflows to infinity; like `nan` and `inf`, it is no number.
    return pl.when(valid & number.is_finite()).then(number)


def _to_integer(text: pl.Expr) -> pl.Expr:
    """Parse integral numbers; plain digits exactly, other notations via float."""
    plain = text.str.contains(_INTEGER_RE)
    number = _to_number(text)
    # Plain digits skip the float so integers beyond 2**53 keep every digit.
    integral = number.is_finite() & (number == number.floor()) & (number.abs() < _INT64_LIMIT)
    return (
        pl.when(plain)
        .then(_digits(text).cast(pl.Int64, strict=False))
        .when(integral)
        .then(number.cast(pl.Int64, strict=False))
    )


def _to_date(text: pl.Expr) -> pl.Expr:
    """Parse ISO and US dates, or the date written in a datetime string."""
    # A datetime string names a calendar date in its own offset; that is the date the
    # user sees in the CRM, so it is taken as written rather than shifted to UTC.
    written = pl.when(_iso_datetime(text).is_not_null()).then(
        text.str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    )
    return pl.coalesce(written, _us_date(text), _epoch_ms(text).dt.date())


def _us_date(text: pl.Expr) -> pl.Expr:
    """Parse `MM/DD/YYYY` (one-digit month and day allowed)."""
    parts = text.str.extract_groups(_US_DATE_RE)
    iso = pl.concat_str(
        parts.struct.field("3"),
        parts.struct.field("1").str.pad_start(2, "0"),
        parts.struct.field("2").str.pad_start(2, "0"),
        separator="-",
    )
    return iso.str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def _iso_datetime(text: pl.Expr) -> pl.Expr:
    """Parse ISO 8601 (`Z`, `+00:00`, `+0000` or no offset; naive is UTC) to UTC."""
    parts = text.str.extract_groups(_ISO_DATETIME_RE)
    offset = (
        parts.struct.field("6")
        .str.replace(r"^[Zz]$", "+00:00")
        .str.replace(r"^([+-]\d{2})$", "${1}:00")
        .str.replace(":", "")
        .fill_null("+0000")
    )
    canonical = pl.concat_str(
        parts.struct.field("1"),
        pl.lit("T"),
        parts.struct.field("2").fill_null("00"),
        pl.lit(":"),
        parts.struct.field("3").fill_null("00"),
        pl.lit(":"),
        parts.struct.field("4").fill_null("00"),
        pl.lit("."),
        parts.struct.field("5").fill_null("").str.pad_end(6, "0").str.slice(0, 6),
        offset,
    )
    return canonical.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.6f%z", strict=False)


def _epoch_ms(text: pl.Expr) -> pl.Expr:
    """Parse HubSpot's epoch milliseconds to a UTC datetime."""
    millis = pl.when(text.str.contains(_EPOCH_MS_RE)).then(text.cast(pl.Int64, strict=False))
    return pl.from_epoch(millis, time_unit="ms").dt.cast_time_unit("us").dt.replace_time_zone("UTC")


def _salesforce_datetime(text: pl.Expr) -> pl.Expr:
    """Parse the shape Salesforce's APIs and exports write (`2019-10-15T06:22:00.000+0000`); null for any other."""
    shaped = pl.when(text.str.contains(_SALESFORCE_DATETIME_RE)).then(text)
    return shaped.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.3f%z", strict=False)


def _to_datetime(text: pl.Expr, salesforce: pl.Expr | None = None) -> pl.Expr:
    """Parse ISO 8601, epoch milliseconds, or a date alone as midnight UTC.

    `salesforce`, when given, is `_salesforce_datetime(text)` made a column by the caller:
    those values are taken as parsed, and only the others go through the general parsers,
    which cost several times more per value (a regex with groups, then the pieces put back
    together). Both ways read every value alike.
    """
    rest = text if salesforce is None else pl.when(salesforce.is_null()).then(text)
    midnight = _us_date(rest).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    parsed = [_iso_datetime(rest), _epoch_ms(rest), midnight]
    return pl.coalesce(parsed if salesforce is None else [salesforce, *parsed])


def _to_list(text: pl.Expr) -> pl.Expr:
    """Split a `;`-separated multi-select, trimming items and dropping empty ones."""
    items = (
        text.str.split(";")
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
    )
    # A value of separators only selects nothing, which is what an empty cell means.
    return pl.when(items.list.len() > 0).then(items)


def _to_text(value: object) -> str | None:
    """Render one loose value as the text a CRM export would hold."""
    match value:
        case None:
            return None
        case bool():
            return "true" if value else "false"
        case float() if math.isfinite(value) and value.is_integer():
            return str(int(value))
        case dt.datetime() | dt.date():
            return value.isoformat()
        case list() | tuple():
            return ";".join(text for item in value if (text := _to_text(item)) is not None)
        case _:
            return str(value)
