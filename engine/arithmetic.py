"""Number semantics shared by the compiled and the row-by-row paths: 15 significant digits, no NaN.

rule-engine computes with `decimal.Decimal`, so `0.1 + 0.2 == 0.3` holds there while
binary floats say otherwise. Both evaluation paths compute with IEEE doubles and
round every arithmetic result to 15 significant digits, the most a double carries
exactly through a decimal round trip: `0.1 + 0.2` is 0.3, `100 * 1.1` is 110, and
what is written to a CRM is the shortest decimal text, never `40.300000000000004`.
A NaN or infinite result is null (SPEC §3). The compiled path rounds with polars'
`round_sig_figs`; the row-by-row path with `clean_number`, which performs the
same IEEE operations, so the two paths agree bit for bit. Below 1e-8 the scale
polars uses is inexact and results may keep a last-digit artefact.
"""

from __future__ import annotations

import decimal
import math

import polars as pl

SIGNIFICANT_DIGITS = 15

# Outside this range the twin below would round differently from polars; there it asks polars.
_SMALLEST, _LARGEST = 1e-250, 1e250


def clean_expr(value: pl.Expr) -> pl.Expr:
    """`value` rounded to 15 significant digits; NaN and infinities become null."""
    # `value` is referenced twice: nested arithmetic doubles the plan per level, so no more.
    return pl.when(value.is_finite()).then(value.round_sig_figs(SIGNIFICANT_DIGITS))


def clean_number(value: float) -> float | None:
    """The Python twin of `clean_expr`, for the row-by-row path.

    It mirrors polars' `round_sig_figs`: scale by a power of ten computed by
    repeated squaring (as Rust's `powi` does), round half away from zero, scale back.
    """
    if not math.isfinite(value):
        return None
    if value == 0:
        return value
    if not _SMALLEST <= abs(value) <= _LARGEST:
        return float(pl.Series([value]).round_sig_figs(SIGNIFICANT_DIGITS)[0])
    scale = _power_of_ten(SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value))))
    scaled = value * scale
    return math.copysign(math.floor(abs(scaled) + 0.5), scaled) / scale


def _power_of_ten(exponent: int) -> float:
    """10.0 ** exponent by repeated squaring, bit for bit as LLVM's `powi`."""
    base, result, remaining = 10.0, 1.0, abs(exponent)
    while True:
        if remaining & 1:
            result *= base
        remaining //= 2
        if remaining == 0:
            break
        base *= base
    return 1.0 / result if exponent < 0 else result


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
