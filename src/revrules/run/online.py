"""`check --online`: the config and rulebook checked against the CRM's fields, picklists, owners and lists."""

from __future__ import annotations

from revrules.connectors.base import PropertySpec
from revrules.connectors.protocols import (
    ColumnListing,
    Connector,
    OnlineCheck,
    OnlineNotes,
    PicklistOptions,
    PropertyCreation,
    RelatedOwners,
    ScopeCheck,
    TextLimits,
)
from revrules.engine.convert import FieldType
from revrules.engine.lint import Picklist
from revrules.errors import InvalidInputError
from revrules.project import Project
from revrules.run.cascade import wanted_kinds
from revrules.run.lists import list_names
from revrules.run.provenance import shortest_compact


def check_online(project: Project, connector: Connector, *, create_properties: bool = False) -> list[str]:
    """Check against the CRM; returns what was done and found fine, raises with every problem at once.

    The token's scopes come first: every later step reads what a missing scope would refuse.

    Raises:
        InvalidInputError: The token lacks a scope the config needs, a field is missing or not
            writable, a value is not an option, an owner is unknown or inactive, or a list cannot be kept.
    """
    if isinstance(connector, ScopeCheck):
        related = [connector.related_object(k) for k in wanted_kinds(project)] if isinstance(
            connector, RelatedOwners) else []
        lacking = connector.missing_scopes(owners=project.owner_output is not None and bool(project.pool_owners()),
                                           lists=bool(project.book.lists), related=related)
        if lacking:
            raise InvalidInputError("\n".join(lacking))
    done: list[str] = []
    present = override_values(project, connector) if isinstance(connector, OnlineCheck | PropertyCreation) else {}
    if create_properties:
        if not isinstance(connector, PropertyCreation):
            raise InvalidInputError(f"--create-properties: the {connector.kind} connector cannot create fields")
        done += connector.create_properties(property_specs(project, present))
    if isinstance(connector, OnlineCheck):
        problems = connector.check_online(project.read_fields(), project.write_fields(),
                                          allowed_values(project, present))
        problems += owner_problems(project, connector)
        problems += provenance_problems(project, connector)
        if project.book.lists:
            problems += connector.check_lists(list_names(project))
        if problems:
            raise InvalidInputError("\n".join(problems))
        if isinstance(connector, OnlineNotes):
            done += connector.online_notes()
        return [*done, f"every mapped field exists in {project.source}, outputs are writable and written values "
                       "fit their picklists"]
    columns = set(connector.columns()) if isinstance(connector, ColumnListing) else set()
    missing = [f for f in project.read_fields() if f not in columns and f not in project.write_fields()]
    if missing:
        raise InvalidInputError("\n".join(f"field '{f}' is not in {project.source}" for f in missing))
    return [*done, f"every mapped field exists in {project.source}"]


def output_picklists(project: Project, connector: Connector) -> dict[str, Picklist]:
    """Result name -> the options of the picklist it is written to, for outputs the CRM gives a list of values.

    Empty for a source without picklists (a CSV file).
    """
    if not isinstance(connector, PicklistOptions):
        return {}
    options = connector.picklist_options(sorted(set(project.outputs.values())))
    return {name: Picklist(field, options[field]) for name, field in project.outputs.items() if field in options}


def provenance_problems(project: Project, connector: Connector) -> list[str]:
    """A provenance field too short for even the compact form (the hash tag and a cut marker)."""
    target = project.config.model.provenance
    if not target or not isinstance(connector, TextLimits):
        return []
    limit = connector.text_lengths([target]).get(target)
    needed = shortest_compact(project)
    if limit is None or limit >= needed:
        return []
    return [f"provenance: {target} holds {limit} characters; even the compact form needs {needed}"]


def owner_problems(project: Project, connector: Connector) -> list[str]:
    """Pool owners the CRM does not know or has deactivated, by territory."""
    unavailable = project.unavailable_owners(connector)
    return [
        f"territory {territory}: owner {owner} is not an active {connector.kind} user; routing skips it"
        for territory, owners in project.pool_owners().items()
        for owner in owners
        if owner in unavailable
    ]


def override_values(project: Project, connector: Connector) -> dict[str, set[str]]:
    """Output field -> the values already in its decision's override field, which revrules copies to it.

    Reads only the override fields; a `;`-separated value counts as its parts (multi-select).
    """
    wanted = {field: project.outputs[decision] for decision, field in project.config.model.overrides.items()
              if decision in project.outputs}
    if not wanted:
        return {}
    frame = connector.read(sorted(wanted))
    found: dict[str, set[str]] = {}
    for source, output in wanted.items():
        values = frame.get_column(source).drop_nulls().str.split(";").explode().str.strip_chars()
        found.setdefault(output, set()).update(v for v in values.unique().to_list() if v)
    return found


def allowed_values(project: Project, present: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """CRM field -> every value revrules can write to it.

    Fixed `then` values and defaults of `first`/`unique`/`collect` decisions, `true`/`false` for
    `any` decisions and boolean outputs, territory leaves, and `present` (override values).
    """
    allowed: dict[str, set[str]] = {field: set(values) for field, values in (present or {}).items()}
    for decision in project.book.decisions:
        field = project.outputs.get(decision.name)
        if field is not None and (decision.hit == "any" or project.book.kinds.get(decision.name) == FieldType.BOOLEAN):
            allowed.setdefault(field, set()).update(("true", "false"))
            continue
        if field is None or decision.hit not in ("first", "unique", "collect"):
            continue
        values = [rule.then for rule in decision.rules] + [decision.default]
        allowed.setdefault(field, set()).update(
            str(v).lower() if isinstance(v, bool) else str(v)
            for v in values if v is not None and v != "" and not isinstance(v, list))
    territories = project.book.territories
    if territories is not None and territories.output in project.outputs:
        leaves = {path[-1].id for path in territories.leaves()}
        allowed.setdefault(project.outputs[territories.output], set()).update(leaves)
    return allowed


def property_specs(project: Project, present: dict[str, set[str]] | None = None) -> list[PropertySpec]:
    """The output fields `check --online --create-properties` creates when missing (or extends with options).

    Enumerations get an option for every value revrules may write (`allowed_values`, override
    values included); `any` decisions and boolean outputs become booleans; `collect`
    decisions and list outputs become multi-value enumerations.
    """
    allowed = allowed_values(project, present)
    specs: dict[str, PropertySpec] = {}
    hits = {decision.name: decision.hit for decision in project.book.decisions}
    for name, field in project.outputs.items():
        kind = project.book.kinds.get(name)
        label = name.replace("_", " ").capitalize()
        if kind == FieldType.BOOLEAN or hits.get(name) == "any":
            specs[field] = PropertySpec(field, label, "bool", ("true", "false"))
        elif kind in (FieldType.NUMBER, FieldType.INTEGER):
            specs[field] = PropertySpec(field, label, "number")
        elif allowed.get(field) and kind in (FieldType.STRING, FieldType.LIST):
            specs[field] = PropertySpec(field, label, "enumeration", tuple(sorted(allowed[field])),
                                        multiple=kind == FieldType.LIST or hits.get(name) == "collect")
        else:
            specs.setdefault(field, PropertySpec(field, label, "string"))
    if project.config.model.provenance:
        specs.setdefault(project.config.model.provenance,
                         PropertySpec(project.config.model.provenance, "Segmentation reason", "string"))
    return list(specs.values())
