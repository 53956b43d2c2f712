"""Number semantics shared by the compiled and the row-by-row paths: 15 significant digits, no NaN.

rule-engine computes with `decimal.Decimal`, so `0.1 + 0.2 == 0.3` holds there while
binary floats say otherwise. Both evaluation paths compute with IEEE doubles and
round every arithmetic result to 15 significant digits, the most a double carries
exactly through a decimal round trip: `0.1 + 0.2` is 0.3, `100 * 1.1` is 110, and
what is written to a CRM is the shortest decimal text, never `40.300000000000004`.
A NaN or infinite result is null (SPEC §3). The polars expression (`clean_expr`)
and the Python function (`clean_number`) perform the same IEEE operations in the
same order, so the two paths agree bit for bit.
"""

from __future__ import annotations

import decimal
import math

import polars as pl

SIGNIFICANT_DIGITS = 15

# Powers of ten up to 1e22 are exact doubles; beyond that the scale itself rounds.
_EXACT_POWER = 22


def clean_expr(value: pl.Expr) -> pl.Expr:
    """`value` rounded to 15 significant digits; NaN and infinities become null."""
    digits = (SIGNIFICANT_DIGITS - 1) - value.abs().log10().floor()
    up = pl.lit(10.0).pow(digits)
    down = pl.lit(10.0).pow(-digits)
    return (
        pl.when(~value.is_finite()).then(None)
        .when(value == 0).then(value)
        .when(digits >= 0).then((value * up).round() / up)
        .otherwise((value / down).round() * down)
    )


def clean_number(value: float) -> float | None:
    """The Python twin of `clean_expr`, for the row-by-row path."""
    if not math.isfinite(value):
        return None
    if value == 0:
        return value
    digits = float((SIGNIFICANT_DIGITS - 1) - math.floor(math.log10(abs(value))))
    # polars rounds half to even, as Python's round() does.
    if digits >= 0:
        up = math.pow(10.0, digits)
        return float(round(value * up)) / up
    down = math.pow(10.0, -digits)
    return float(round(value / down)) * down


def truncate_expr(value: pl.Expr) -> pl.Expr:
    """Rounding toward zero, as Decimal's `//` and `%` do."""
    return pl.when(value >= 0).then(value.floor()).otherwise(value.ceil())


def truncate_number(value: float) -> float:
    """The Python twin of `truncate_expr`."""
    return float(math.floor(value)) if value >= 0 else float(math.ceil(value))


def literal_number(value: decimal.Decimal) -> float | None:
    """A number literal as both paths read it: the nearest double; `inf` and `nan` are null."""
    number = float(value)
    return number if math.isfinite(number) else None
