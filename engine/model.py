"""The rulebook file format (SPEC §3), validated with pydantic."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
NodeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Scalar = str | bool | int | float
Condition = str | bool
Value = Scalar | list[Scalar] | None

HitPolicy = Literal["first", "unique", "collect", "sum", "any"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleModel(_Strict):
    """One rule of a decision."""

    id: RuleId | None = None
    when: Condition
    then: Scalar | None = None
    description: str | None = None


class QuantileModel(_Strict):
    """A derive that buckets a numeric value over the whole population."""

    quantile: Name
    buckets: int = Field(5, ge=2, le=1000)


class LookupModel(_Strict):
    """A table read from a CSV file beside the rulebook: a key column and value columns."""

    file: Annotated[str, Field(min_length=1)]
    key: Annotated[str, Field(min_length=1)]
    types: dict[str, Literal["string", "number", "integer", "boolean", "date", "datetime", "list"]] = {}
    """Value column -> its type; other columns are text."""
    match: Literal["exact", "keyword"] = "exact"
    """`exact`: the key equals the value; `keyword`: the value contains the key (first by `priority`)."""
    priority: str | None = None
    """A numeric column: among several matching keywords the lowest wins (then the earliest row)."""


class LookupDeriveModel(_Strict):
    """A derive that reads one column of a lookup table's row whose key matches an expression."""

    lookup: Name
    key: Annotated[str, Field(min_length=1)]
    column: Annotated[str, Field(min_length=1)]


class FamilyModel(_Strict):
    """A value over the ultimate parent's whole family: `{family: sum, of: arr}`."""

    family: Literal["count", "sum", "min", "max", "any"]
    of: str | None = None


class RelativeModel(_Strict):
    """A value read on the parent's or the ultimate parent's record: `{parent: industry}`."""

    parent: str | None = None
    ultimate: str | None = None

    @model_validator(mode="after")
    def _one(self) -> RelativeModel:
        if (self.parent is None) == (self.ultimate is None):
            raise ValueError("give exactly one of parent: or ultimate:")
        return self


class DecisionModel(_Strict):
    """A decision: rules combined by a hit policy."""

    description: str | None = None
    hit: HitPolicy = "first"
    rules: list[RuleModel] = Field(min_length=1)
    default: Scalar | None = None


class AwayModel(_Strict):
    """An owner out of office: keeps their book, gets no new accounts before `until`, then catches up."""

    until: dt.date
    catch_up: Literal["fair", "none"] = "fair"


class OwnerModel(_Strict):
    """A member of a territory's owner pool; `active: false` is gone, `away` is out of office."""

    id: Annotated[str, Field(min_length=1)]
    weight: float = Field(1.0, gt=0)
    capacity: float | None = Field(None, ge=0)
    active: bool = True
    away: AwayModel | None = None


class PoolModel(_Strict):
    """An owner pool defined once and used by several territories."""

    owners: list[OwnerModel] = Field(min_length=1)
    balance_by: Name | None = None
    description: str | None = None


class OverflowModel(_Strict):
    """Where accounts go when every member of the pool is at capacity: a pool or a queue owner."""

    pool: NodeId | None = None
    owner: Annotated[str, Field(min_length=1)] | None = None


class TerritoryModel(_Strict):
    """A node of the territory tree; leaves carry owner pools."""

    id: NodeId
    when: Condition = True
    description: str | None = None
    owners: list[OwnerModel] = []
    pool: NodeId | None = None
    overflow: OverflowModel | None = None
    children: list[TerritoryModel] = []


class TerritoriesModel(_Strict):
    """Where territory and owner results go, and the tree."""

    output: Name = "territory"
    owner_output: Name | None = "owner"
    value: Name | None = None
    families: Literal["separate", "together"] = "separate"
    """`together`: every account goes to its ultimate parent's territory and owner."""
    tree: list[TerritoryModel] = Field(min_length=1)


class ListModel(_Strict):
    """A marketing list whose members are the records where `when` holds.

    `include_contacts: true` also keeps a contact list, named `<name> (contacts)`, of the
    contacts associated with the member companies. Only HubSpot has it; the CSV and
    Salesforce connectors ignore `include_contacts`.
    """

    id: RuleId
    name: Annotated[str, Field(min_length=1)]
    when: Condition
    description: str | None = None
    include_contacts: bool = False


class TestCaseModel(_Strict):
    """A rulebook test: one account and the values it must get."""

    name: Annotated[str, Field(min_length=1)]
    account: dict[str, Value] = {}
    expect: dict[str, Value] = Field(min_length=1)


class RulebookFileModel(_Strict):
    """One rulebook file."""

    version: Literal[1]
    description: str | None = None
    lookups: dict[Name, LookupModel] = {}
    derive: dict[Name, str | QuantileModel | LookupDeriveModel | FamilyModel | RelativeModel] = {}
    decisions: dict[Name, DecisionModel] = {}
    pools: dict[NodeId, PoolModel] = {}
    territories: TerritoriesModel | None = None
    lists: list[ListModel] = []
    tests: list[TestCaseModel] = []


class TestFileModel(_Strict):
    """A file of rulebook tests under `tests/` beside the rulebooks."""

    version: Literal[1] = 1
    tests: list[TestCaseModel] = Field(min_length=1)


KNOWN_KEYS = sorted(
    {name for model in (RuleModel, QuantileModel, LookupModel, LookupDeriveModel, FamilyModel,
                        RelativeModel, DecisionModel, AwayModel, OwnerModel,
                        PoolModel, OverflowModel, TerritoryModel, TerritoriesModel, ListModel, TestCaseModel,
                        RulebookFileModel)
     for name in model.model_fields}
)
