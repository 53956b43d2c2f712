"""Multi-currency orgs: currency fields read in the corporate currency, whatever each record's own currency."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from revrules.connectors.base import ID
from revrules.connectors.salesforce.describe import describe
from revrules.connectors.salesforce.session import SalesforceSession
from revrules.errors import CrmError

log = logging.getLogger(__name__)

ISO_FIELD = "CurrencyIsoCode"
"""Present on every object of a multi-currency org: the currency of the record's amounts."""
RATES_SOQL = "SELECT IsoCode, ConversionRate, IsCorporate FROM CurrencyType WHERE IsActive = true"


@dataclass(frozen=True)
class Rates:
    """The org's active currencies: each one's rate to the corporate currency."""

    corporate: str
    rates: pl.DataFrame
    """`CurrencyIsoCode` and `__rate`, one row per active currency."""


def converts(session: SalesforceSession, names: Sequence[str]) -> list[str]:
    """The fields of `names` read converted: currency fields, in a multi-currency org, unless `currency: record`."""
    info = describe(session)
    if session.tuning.currency == "record" or ISO_FIELD not in info:
        return []
    return [name for name in names if info[name].type == "currency"]


def output_problems(session: SalesforceSession, write_fields: Sequence[str]) -> list[str]:
    """Outputs that would be compared in the corporate currency but written in each record's own, one line each.

    A converted field's `before` is in the corporate currency while an update stores the
    value in the record's `CurrencyIsoCode`, so the plan would compare and write in different
    units. Such a config is refused rather than converted back on write: a rulebook that
    writes amounts states them in one currency, which only `currency: record` keeps apart.
    """
    return [
        f"{session.object_name}.{name}: a currency output cannot be written with crm.currency: corporate "
        "(it would be compared in the corporate currency but written in each record's own); set "
        "crm.currency: record or write a non-currency field"
        for name in converts(session, [n for n in write_fields if n in describe(session)])
    ]


def with_iso(names: list[str], converted: Sequence[str]) -> list[str]:
    """The fields to select: `names`, plus `CurrencyIsoCode` when some are converted."""
    return list(dict.fromkeys([*names, ISO_FIELD])) if converted else names


def to_corporate(session: SalesforceSession, frame: pl.DataFrame, names: list[str],
                 converted: Sequence[str]) -> pl.DataFrame:
    """Each converted field divided by its record's conversion rate, as text like a read gives.

    Salesforce keeps one rate per active currency relative to the corporate currency
    (Object Reference, CurrencyType.ConversionRate), which is what `convertCurrency()`
    applies for a user whose currency is the corporate one; doing it here works the same
    on the REST and the Bulk path. A record whose currency has no active rate reads null.
    """
    if not converted:
        return frame
    rates = corporate_rates(session).rates
    joined = frame.join(rates, on=ISO_FIELD, how="left", maintain_order="left")
    amounts = [
        (pl.col(name).cast(pl.Float64, strict=False) / pl.col("__rate")).round(2).alias(name)
        for name in converted
    ]
    texts = [
        pl.when(pl.col(name) == pl.col(name).floor())
        .then(pl.col(name).cast(pl.Int64, strict=False).cast(pl.String))
        .otherwise(pl.col(name).cast(pl.String)).alias(name)
        for name in converted
    ]
    return joined.with_columns(amounts).with_columns(texts).select(ID, *names)


def corporate_rates(session: SalesforceSession) -> Rates:
    """The org's active currencies and their rates, read once per session.

    Raises:
        CrmError: The rates could not be read, or no currency is the corporate one.
    """
    if session.rates is None:
        answer = session.call("read currency rates", lambda sf: sf.query_all(RATES_SOQL))
        records = list((answer or {}).get("records", []))
        corporate = next((str(r["IsoCode"]) for r in records if r.get("IsCorporate")), None)
        if corporate is None:
            raise CrmError("the org is multi-currency but CurrencyType names no corporate currency")
        rates = pl.DataFrame({ISO_FIELD: [str(r["IsoCode"]) for r in records],
                              "__rate": [float(r["ConversionRate"]) for r in records]},
                             schema={ISO_FIELD: pl.String, "__rate": pl.Float64})
        session.rates = Rates(corporate, rates)
        log.info("currency fields are read converted to the corporate currency %s", corporate)
    rates_read: Rates = session.rates
    return rates_read


def currency_mode(session: SalesforceSession) -> str | None:
    """What `check --online` says about currencies; None in a single-currency org."""
    if ISO_FIELD not in describe(session):
        return None
    if session.tuning.currency == "record":
        return "currency: record: currency fields are read in each record's own currency (CurrencyIsoCode)"
    return (f"currency: corporate: currency fields are read converted to the corporate currency "
            f"{corporate_rates(session).corporate}")
