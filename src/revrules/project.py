"""A project: the loaded config and rulebook, checked against each other, and its connector."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from revrules.config import Config, CsvCrm, OutputModel, SalesforceCrm, load_config
from revrules.connectors.protocols import Connector, OwnerLookup
from revrules.engine.definitions import Rulebook
from revrules.engine.evaluate import evaluate
from revrules.engine.rulebook import load_rulebook
from revrules.errors import InvalidInputError, Problem, did_you_mean

CURRENT_OWNER = "__current_owner"
log = logging.getLogger(__name__)


def override_column(decision: str) -> str:
    """The frame column holding a decision's manual override."""
    return f"__override__{decision}"


@dataclass(frozen=True)
class Project:
    """A loaded config and rulebook, checked against each other."""

    config: Config
    book: Rulebook

    @property
    def outputs(self) -> dict[str, str]:
        """Result name -> CRM field that receives it."""
        return {name: output.field for name, output in self.config.model.outputs.items()}

    @property
    def policies(self) -> dict[str, OutputModel]:
        """CRM field -> the write policy of the output it receives."""
        return {output.field: output for output in self.config.model.outputs.values()}

    @property
    def source(self) -> str:
        """A readable name of where the records come from, e.g. `csv (accounts.csv)`."""
        crm = self.config.model.crm
        where = crm.path if isinstance(crm, CsvCrm) else crm.object
        return f"{crm.kind} ({where})"

    @property
    def owner_output(self) -> str | None:
        """The result name of the owner, when territories route owners and it is written."""
        name = self.book.territories.owner_output if self.book.territories else None
        return name if name in self.outputs else None

    def write_fields(self) -> list[str]:
        """Every CRM field revrules may write."""
        fields = list(self.outputs.values())
        if self.config.model.provenance:
            fields.append(self.config.model.provenance)
        return list(dict.fromkeys(fields))

    def read_fields(self) -> list[str]:
        """Every CRM field a run reads: rule inputs, outputs, overrides, provenance."""
        sources = [spec.source for spec in self.config.field_specs()]
        sources += self.write_fields() + list(self.config.model.overrides.values())
        if self.config.model.hierarchy:
            sources.append(self.config.model.hierarchy.parent)
        return list(dict.fromkeys(sources))

    def connector(self) -> Connector:
        """The configured CRM connector."""
        crm = self.config.model.crm
        if isinstance(crm, CsvCrm):
            from revrules.connectors.csvfile import CsvConnector

            output = self.config.resolve(crm.output) if crm.output else None
            lists_dir = self.config.resolve(crm.lists_dir) if crm.lists_dir else None
            return CsvConnector(self.config.resolve(crm.path), crm.id_column, output=output,
                                lists_dir=lists_dir, write_fields=self.write_fields(), batch_size=crm.batch_size)
        if isinstance(crm, SalesforceCrm):
            from revrules.connectors.salesforce import SalesforceConnector

            return SalesforceConnector.from_config(crm, base=self.config.base, write_fields=self.write_fields())
        from revrules.connectors.hubspot import HubspotConnector

        contact_lists = [item.id for item in self.book.lists if item.include_contacts]
        return HubspotConnector.from_config(crm, write_fields=self.write_fields(), contact_lists=contact_lists)

    def evaluate(self, typed: pl.DataFrame, *, rebalance: float | None = None,
                 unavailable_owners: frozenset[str] = frozenset(), keep_context: bool = False) -> pl.DataFrame:
        """Evaluate the rulebook over typed records; `rebalance` is a tolerance for owner books.

        Parents read only to complete families are left out of the result unless `keep_context`.
        """
        overrides = {d: override_column(d) for d in self.config.model.overrides}
        return evaluate(self.book, typed, overrides=overrides,
                        current_owner=CURRENT_OWNER if self.owner_output else None, rebalance=rebalance,
                        unavailable_owners=unavailable_owners, keep_context=keep_context)

    def pool_owners(self) -> dict[str, list[str]]:
        """Territory leaf id -> the ids of its pool's active owners (and a queue owner for overflow)."""
        found: dict[str, list[str]] = {}
        for path in self.book.territories.leaves() if self.book.territories else []:
            leaf = path[-1]
            pools = [p for p in (leaf.pool, leaf.overflow_pool) if p is not None]
            ids = [o.id for p in pools for o in p.active] + ([leaf.overflow_owner] if leaf.overflow_owner else [])
            if ids:
                found[leaf.id] = list(dict.fromkeys(ids))
        return found

    def unavailable_owners(self, connector: Connector) -> frozenset[str]:
        """Pool owners the CRM does not know or has deactivated (none when it cannot tell)."""
        if not isinstance(connector, OwnerLookup) or self.owner_output is None:
            return frozenset()
        wanted = {owner for ids in self.pool_owners().values() for owner in ids}
        missing = frozenset(wanted - connector.active_owners(sorted(wanted)))
        if missing:
            log.warning("%d pool owner(s) are unknown or inactive in the CRM and get no accounts: %s",
                        len(missing), ", ".join(sorted(missing)))
        return missing


def load_project(config_path: Path) -> Project:
    """Load the config and its rulebook, and check that outputs and overrides name real results."""
    config = load_config(config_path)
    book = load_rulebook(config.rule_sources(), config.field_types())
    problems: list[Problem] = []
    results = set(book.kinds) - set(book.fields)
    for name in config.model.outputs:
        if name not in results:
            message = f"'{name}' is not a decision or derived value{did_you_mean(name, results)}"
            problems.append(config.problem(("outputs", name), message))
    decisions = {d.name for d in book.decisions}
    # The territory and owner outputs take manual values too: a child's override wins over its family's.
    routing = {n for n in (book.territories.output, book.territories.owner_output) if n} if book.territories else set()
    for name in config.model.overrides:
        if name not in decisions | routing:
            message = f"'{name}' is not a decision{did_you_mean(name, decisions | routing)}"
            problems.append(config.problem(("overrides", name), message))
    family = [d.name for d in book.derives if d.family is not None]
    if family and config.model.hierarchy is None:
        message = (f"the rulebook reads family values ({', '.join(family)}) but the config has no "
                   "`hierarchy: {parent: FIELD}`")
        problems.append(config.problem(("rules",), message))
    if config.model.owner_change is not None and Project(config, book).owner_output is None:
        problems.append(config.problem(("owner_change",), "owner_change moves records with an account's owner, "
                                       "but no owner is routed: set territories.owner_output and map it in outputs"))
    if problems:
        raise InvalidInputError(problems)
    return Project(config, book)
