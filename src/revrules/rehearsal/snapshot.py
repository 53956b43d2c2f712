"""`revrules snapshot`: copy the records and metadata a rehearsal needs into a plain folder.

The folder holds `manifest.json` (CRM kind, org or portal id, API version, when, what
was read, the API calls it cost by kind; never a secret), `metadata.json` (field
definitions, active owners, lists, the daily API budget), `records.csv` (only the
fields the config reads or writes, ids kept) and, with `owner_change`, `related.csv`
(the copied accounts' contacts and open deals their owner holds: object, id, account, owner).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl

from revrules.config import HubspotCrm, SalesforceCrm
from revrules.connectors.base import ID
from revrules.connectors.protocols import CallCount, MetadataExport, RelatedOwners
from revrules.engine.convert import FieldType
from revrules.errors import InvalidInputError
from revrules.project import Project
from revrules.rehearsal.emulator import call_kind
from revrules.run.cascade import wanted_kinds
from revrules.run.read import read_all
from revrules.state.ledger import private_dir, private_file

FORMAT = 1
MANIFEST = "manifest.json"
METADATA = "metadata.json"
RECORDS = "records.csv"
RELATED = "related.csv"
RELATED_COLUMNS = ("object", "id", "account", "owner")


@dataclass(frozen=True)
class SnapshotSummary:
    """What `snapshot` wrote."""

    folder: Path
    crm: str
    records: int
    records_read: int
    redacted: tuple[str, ...]
    api_calls: dict[str, int] = field(default_factory=dict)
    """The API calls the snapshot cost, by kind, and `total`."""
    related: dict[str, int] = field(default_factory=dict)
    """With `owner_change`: the related records copied, by object."""


def rule_inputs(project: Project) -> set[str]:
    """The field names (rule names, not CRM names) that some rule, derive, territory or list reads."""
    names = {symbol for _, expression in project.book.expressions() for symbol in expression.symbols}
    names |= {d.quantile_of for d in project.book.derives if d.quantile_of}
    return names


def redactable(project: Project) -> list[str]:
    """CRM fields holding text no rule reads (names, websites): `--redact` replaces their values."""
    read = rule_inputs(project)
    kept = set(project.write_fields()) | set(project.config.model.overrides.values())
    return [spec.source for spec in project.config.field_specs()
            if spec.type == FieldType.STRING and spec.name not in read and spec.source not in kept]


def take_snapshot(project: Project, folder: Path, *, sample: int | None = None,
                  redact: bool = False) -> SnapshotSummary:
    """Read the configured CRM and write a snapshot folder.

    Args:
        project: The loaded project (its CRM must be Salesforce or HubSpot).
        folder: Where to write; created when missing.
        sample: Keep about this many records, stratified so every territory and segment is kept.
        redact: Replace text no rule reads with stable placeholders (ids stay).

    Returns:
        What was written.

    Raises:
        InvalidInputError: The CRM is a CSV file, or `sample` is not positive.
        CrmError: The CRM failed or refused.
    """
    crm = project.config.model.crm
    if not isinstance(crm, SalesforceCrm | HubspotCrm):
        raise InvalidInputError("snapshot copies a Salesforce or HubSpot CRM; a CSV project is its own copy")
    if sample is not None and sample < 1:
        raise InvalidInputError(f"--sample {sample}: must be at least 1")
    connector = project.connector()
    if not isinstance(connector, MetadataExport):
        raise InvalidInputError(f"the {crm.kind} connector cannot copy its metadata")
    read = read_all(project, connector)
    raw = read.raw
    if sample is not None and sample < raw.height:
        raw = _stratified(project, read.typed, raw, sample)
    redacted = tuple(redactable(project)) if redact else ()
    for name in redacted:
        if name in raw.columns:
            raw = raw.with_columns(pl.col(name).map_elements(_placeholder, return_dtype=pl.String).alias(name))
    ids = [str(i) for i in raw[ID].to_list()]
    metadata = connector.export_metadata(project.read_fields(), _owner_ids(project, raw), _list_names(project), ids)
    # The copy holds CRM values, like the ledger: its folder and files are for their owner only.
    private_dir(folder)
    raw.select(pl.all().cast(pl.String)).rename({ID: "Id" if crm.kind == "salesforce" else "id"}).write_csv(
        private_file(folder / RECORDS))
    private_file(folder / METADATA).write_text(json.dumps(metadata, indent=1, sort_keys=True, default=str),
                                               encoding="utf-8")
    related = _related(project, connector, raw)
    files = [MANIFEST, METADATA, RECORDS]
    if related is not None:
        related.write_csv(private_file(folder / RELATED))
        files.append(RELATED)
    counts = {} if related is None else dict(related.group_by("object").agg(pl.col("id").n_unique()).sort("object")
                                             .iter_rows())
    calls = _calls_by_kind(crm.kind, connector)
    manifest = {
        "format": FORMAT,
        "crm": crm.kind,
        "object": crm.object,
        "api_version": crm.api_version,
        "account_id": metadata.get("org_id") or metadata.get("portal_id"),
        "source": _host(crm),
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fields": project.read_fields(),
        "records": raw.height,
        "records_in_crm": read.raw.height,
        "sample": sample,
        "redacted": list(redacted),
        "api": metadata.get("api", {}),
        "api_calls": calls,
        **({"related": counts} if related is not None else {}),
        "files": files,
    }
    private_file(folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return SnapshotSummary(folder, crm.kind, raw.height, read.raw.height, redacted, calls, counts)


def _related(project: Project, connector: object, raw: pl.DataFrame) -> pl.DataFrame | None:
    """With `owner_change`, what the cascade reads of the copied accounts: their records their owner holds.

    Only records held by an account's current owner can follow it (the owner a plan
    changes is the one it holds), so only those are copied, with the fields the cascade
    reads (open deals only, as the cascade reads them). None without `owner_change`.

    Raises:
        InvalidInputError: The connector cannot read related records.
    """
    kinds = wanted_kinds(project)
    owner = project.owner_output
    if not kinds or owner is None:
        return None
    if not isinstance(connector, RelatedOwners):
        raise InvalidInputError("owner_change: this connector cannot copy the related records a rehearsal needs")
    field_name = project.outputs[owner]
    held = raw.select(pl.col(ID).cast(pl.String), pl.col(field_name).cast(pl.String)).drop_nulls()
    accounts = held[ID].to_list()
    owners = held[field_name].unique().sort().to_list()
    parts = [pl.DataFrame(schema=dict.fromkeys(RELATED_COLUMNS, pl.String))]
    for kind in kinds:
        name = connector.related_object(kind)
        found = connector.related_owners(name, accounts, owners) if accounts else pl.DataFrame(
            schema={ID: pl.String, "account": pl.String, "owner": pl.String})
        # A record held by another of the copied owners than its account's stays where it is: not needed.
        found = found.join(held, left_on=["account", "owner"], right_on=[ID, field_name], how="semi")
        parts.append(found.select(pl.lit(name, pl.String).alias("object"), pl.col(ID).alias("id"), "account",
                                  "owner"))
    return pl.concat(parts).sort(["object", "id", "account"])


def _calls_by_kind(crm: str, connector: object) -> dict[str, int]:
    """The API calls the snapshot cost, counted as the client sent them: by kind, and `total`."""
    if not isinstance(connector, CallCount):
        return {}
    counted: Counter[str] = Counter()
    for (method, path), number in connector.api_calls().items():
        counted[call_kind(crm, method, path)] += number
    return {**dict(sorted(counted.items())), "total": counted.total()}


def _host(crm: SalesforceCrm | HubspotCrm) -> str | None:
    """The CRM's host, without any credential (user info and query are dropped)."""
    url = crm.instance_url if isinstance(crm, SalesforceCrm) else crm.base_url
    return urlsplit(url).hostname if url else None


def _placeholder(value: str | None) -> str | None:
    """A stable placeholder for a text value: the same value always gives the same placeholder."""
    if value is None or value == "":
        return value
    return "redacted-" + hashlib.sha256(value.encode()).hexdigest()[:10]


def _owner_ids(project: Project, raw: pl.DataFrame) -> list[str]:
    """Owners that own copied records or sit in territory pools."""
    pooled = {owner for ids in project.pool_owners().values() for owner in ids}
    owner = project.owner_output
    held: set[str] = set()
    if owner and project.outputs[owner] in raw.columns:
        held = {str(v) for v in raw[project.outputs[owner]].drop_nulls().to_list() if v}
    return sorted(pooled | held)


def _list_names(project: Project) -> dict[str, str]:
    return {item.id: item.name for item in project.book.lists}


def _stratified(project: Project, typed: pl.DataFrame, raw: pl.DataFrame, sample: int) -> pl.DataFrame:
    """About `sample` records, at least one of every (territory, segment) pair, chosen by id hash."""
    evaluated = project.evaluate(typed)
    strata = [name for name in (project.book.territories.output if project.book.territories else None, "segment")
              if name and name in evaluated.columns]
    key = pl.concat_str([pl.col(s).cast(pl.String).fill_null("") for s in strata], separator="|") if strata \
        else pl.lit("")
    frame = evaluated.select(pl.col(ID).cast(pl.String), key.alias("__stratum")).with_columns(
        pl.col(ID).hash(seed=7).alias("__order"))
    share = sample / frame.height
    chosen = (frame.sort("__order")
              .with_columns(pl.int_range(pl.len()).over("__stratum").alias("__rank"),
                            pl.len().over("__stratum").alias("__size"))
              .filter(pl.col("__rank") < (pl.col("__size") * share).ceil().clip(lower_bound=1)))
    return raw.filter(pl.col(ID).cast(pl.String).is_in(chosen[ID].to_list()))
