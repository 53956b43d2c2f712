"""The config file (SPEC §2): strict YAML, `${VAR}` expansion, one pydantic model per CRM kind."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from revrules.engine.convert import FieldSpec, FieldType
from revrules.engine.validation import validate
from revrules.engine.yamlstrict import Document, PathKey, load_yaml_file
from revrules.errors import InvalidInputError, Problem

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
CrmField = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.]*$")]
SourceName = Annotated[str, Field(min_length=1)]
"""A field to read, exactly as the CRM or the CSV header spells it (`Account Name`, `Größe`)."""
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _require_https(url: str | None) -> str | None:
    if url is None:
        return None
    parsed = urlparse(url)
    if parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS):
        return url.rstrip("/")
    raise ValueError("must be an https:// URL (plain http is allowed only for 127.0.0.1 or localhost)")


class CsvCrm(_Strict):
    """A CSV export standing in for the CRM."""

    kind: Literal["csv"]
    path: str
    id_column: str = "Id"
    output: str | None = None
    lists_dir: str | None = None
    batch_size: int = Field(10_000, ge=1)


class SalesforceCrm(_Strict):
    """A Salesforce org."""

    kind: Literal["salesforce"]
    object: CrmField = "Account"
    auth: Literal["jwt", "client_credentials", "password", "session"] = "jwt"
    username: str | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    private_key_file: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    domain: Annotated[str, Field(pattern=r"^(login|test|[A-Za-z0-9][A-Za-z0-9-]*(\.[A-Za-z0-9-]+)*\.my)$")] = "login"
    instance_url: str | None = None
    session_id: SecretStr | None = None
    api_version: Annotated[str, Field(pattern=r"^\d{2,3}\.0$")] = "59.0"
    where: str | None = None
    bulk_read_threshold: int = Field(10_000, ge=0)
    bulk_write_threshold: int = Field(2_000, ge=1)
    api_reserve: int = Field(1_000, ge=0)
    max_retries: int = Field(5, ge=0, le=20)
    retry_backoff_seconds: float = Field(1.0, gt=0, le=60)
    timeout_seconds: float = Field(120.0, gt=0)
    bulk_upload_bytes: int = Field(100_000_000, ge=1_000, le=100_000_000)
    duplicate_rules: Literal["allow_save", "enforce"] = "allow_save"
    """`allow_save` saves records an alerting duplicate rule flags; `enforce` lets the rule refuse them."""
    currency: Literal["corporate", "record"] = "corporate"
    """In a multi-currency org, read currency fields converted to the corporate currency, or as stored."""
    campaign_type: str = "Other"
    """`Type` of the Campaigns revrules creates for marketing lists."""
    campaign_status: str = "Planned"
    """`Status` of the Campaigns revrules creates."""
    campaign_member_status: str = "Sent"
    """`Status` of the CampaignMembers revrules adds (a member status every campaign has)."""
    campaign_member_marker_field: CrmField = "Revrules_List__c"
    """A custom text field on CampaignMember marking the members revrules added (only those are removed)."""

    _https = field_validator("instance_url")(_require_https)


class HubspotCrm(_Strict):
    """A HubSpot portal."""

    kind: Literal["hubspot"]
    object: str = "companies"
    access_token: SecretStr
    base_url: str = "https://api.hubapi.com"
    api_version: str = "2026-03"
    """The path family: a date version (`YYYY-MM`) or `v3`; the connector names the versions it knows."""
    burst_limit: int = Field(190, ge=0)  # requests per 10 s; 0 turns the limiter off
    search_limit: int = Field(5, ge=0)  # searches per second; 0 turns it off
    max_retries: int = Field(5, ge=0, le=20)
    retry_backoff_seconds: float = Field(1.0, gt=0, le=60)
    incremental_lag_seconds: float = Field(60.0, ge=0)
    timeout_seconds: float = Field(60.0, gt=0)
    api_reserve: int = Field(1_000, ge=0)
    """Daily API requests an apply leaves to the portal's other integrations: a write that would eat into
    them is refused before anything is written."""

    _https = field_validator("base_url")(_require_https)

    @field_validator("api_version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if not re.fullmatch(r"v3|\d{4}-\d{2}", value):
            raise ValueError(f"{value!r} is neither a date version such as 2026-03 nor v3")
        return value


class FieldModel(_Strict):
    """A field used in rules: the CRM field it reads and its type."""

    source: SourceName
    type: FieldType = FieldType.STRING
    stage: Literal["pre_sale", "post_sale"] | None = None
    """Whether the value is known before the sale (firmographics) or only after it (usage, our revenue):
    only pre-sale fields may describe an ICP."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`industry: Industry` is short for `{source: Industry, type: string}`."""
        return {"source": value} if isinstance(value, str) else value


class OutputModel(_Strict):
    """An output: the CRM field that receives a result, and when revrules may write it."""

    field: CrmField
    write: Literal["always", "if_blank"] = "always"
    """`if_blank` only fills empty CRM fields: a value a person typed in is never replaced."""
    never_overwrite: list[str] = []
    """CRM values that are never replaced (compared after trimming), e.g. a hand-set `Strategic`."""
    on_null: Literal["keep", "clear"] = "keep"
    """Whether a result that is empty clears the CRM field (`clear`) or leaves it as it is (`keep`)."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`segment: Segment__c` is short for `{field: Segment__c}`."""
        return {"field": value} if isinstance(value, str) else value


class HierarchyModel(_Strict):
    """Account families: the field holding each record's parent id (`ParentId` on Salesforce)."""

    parent: SourceName


class SafetyModel(_Strict):
    """Guards that refuse an apply unless `--force`."""

    max_changed_records: int | str | None = None
    max_list_change: int | str | None = None
    """Membership changes (adds plus removes) one apply may make to one list: a count, or a
    percentage of the list's current size (a list without members yet is then not limited)."""

    @field_validator("max_changed_records", "max_list_change")
    @classmethod
    def _count_or_percentage(cls, value: int | str | None) -> int | str | None:
        # One check rather than a union of types, so a bad value is one problem, not two.
        if isinstance(value, str) and not re.fullmatch(r"\d+(\.\d+)?%", value):
            raise ValueError("must be a count of records (e.g. 500) or a percentage (e.g. 20%)")
        if isinstance(value, int) and value < 0:
            raise ValueError("must not be negative")
        return value


KpiName = Literal["arr", "mrr", "ltv", "churned", "nrr_start_arr", "nrr_end_arr", "won", "lost", "cac", "nps"]


class ReportModel(_Strict):
    """`revrules report` settings."""

    kpis: dict[KpiName, Name] = {}
    """Measure -> the field or derived value that carries it; unnamed measures are guessed by name."""


class NotifyModel(_Strict):
    """Where hand-off digests are sent after an apply: a Slack-compatible incoming webhook.

    The URL is a secret: write it as `${VAR}` so it comes from the environment.
    """

    url: Annotated[str, Field(pattern=r"^https?://")]
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    retry_backoff_seconds: Annotated[float, Field(ge=0)] = 1.0


class OwnerChangeModel(_Strict):
    """Records an account's owner change carries to the new owner: those the previous owner held on it.

    Salesforce names its open deals `open_opportunities`, HubSpot `open_deals`; the other
    CRM's spelling is refused, so a config says what it moves in the CRM's own words.
    """

    contacts: bool = False
    """The account's contacts (Salesforce `Contact.OwnerId`, HubSpot associated contacts' `hubspot_owner_id`)."""
    open_opportunities: bool = False
    """Salesforce: the account's Opportunities with `IsClosed = false`."""
    open_deals: bool = False
    """HubSpot: the company's associated deals with `hs_is_closed` false."""


class JobModel(_Strict):
    """A scheduled job."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
    cron: str
    command: Literal["plan", "apply"] = "apply"
    incremental: bool = False
    misfire_grace_seconds: Annotated[int, Field(ge=1)] | None = None  # default: the schedule's


class ScheduleModel(_Strict):
    """When `revrules schedule` runs what."""

    timezone: str = "UTC"
    jobs: list[JobModel] = []
    # How late a run may still start (after downtime or a long run); later slots are skipped.
    misfire_grace_seconds: Annotated[int, Field(ge=1)] = 3600
    # Incremental runs: every Nth run reads everything, as formula fields change silently.
    full_every: Annotated[int, Field(ge=1)] = 24
    # Incremental reads start this long before the last watermark (clock skew, indexing delay).
    incremental_lag_seconds: Annotated[int, Field(ge=0)] = 300


class ConfigModel(_Strict):
    """The whole config file."""

    version: Literal[1]
    crm: Annotated[CsvCrm | SalesforceCrm | HubspotCrm, Field(discriminator="kind")]
    fields: dict[Name, FieldModel] = Field(min_length=1)
    rules: list[str] = Field(min_length=1)
    outputs: dict[Name, OutputModel] = {}
    overrides: dict[Name, CrmField] = {}
    provenance: CrmField | None = None
    hierarchy: HierarchyModel | None = None
    safety: SafetyModel = SafetyModel()
    state_dir: str = ".revrules"
    schedule: ScheduleModel | None = None
    report: ReportModel = ReportModel()
    notify: NotifyModel | None = None
    owner_change: OwnerChangeModel | None = None


_KNOWN_KEYS = sorted(
    {name for m in (ConfigModel, CsvCrm, SalesforceCrm, HubspotCrm, FieldModel, OutputModel, HierarchyModel,
                    SafetyModel, JobModel, ScheduleModel, ReportModel, NotifyModel, OwnerChangeModel)
     for name in m.model_fields}
)


@dataclass(frozen=True)
class Config:
    """A loaded config: the validated model plus where it came from."""

    model: ConfigModel
    path: Path
    document: Document
    hash: str

    @property
    def base(self) -> Path:
        """The folder relative paths are resolved against."""
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        path = Path(relative)
        return path if path.is_absolute() else self.base / path

    @property
    def state_dir(self) -> Path:
        """Where the ledger, lock and saved plans live."""
        return self.resolve(self.model.state_dir)

    def field_specs(self) -> list[FieldSpec]:
        """The configured fields as the engine's conversion specs."""
        return [FieldSpec(name, item.source, item.type) for name, item in self.model.fields.items()]

    def field_types(self) -> dict[str, FieldType]:
        """Field name -> declared type, for typing the rules."""
        return {spec.name: spec.type for spec in self.field_specs()}

    def rule_sources(self) -> list[Path]:
        """The rulebook files and folders."""
        return [self.resolve(item) for item in self.model.rules]

    def problem(self, path: PathKey, message: str) -> Problem:
        """A problem located in the config file."""
        return self.document.problem(path, message)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(doc: Document, value: Any, path: PathKey, problems: list[Problem]) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string of the document."""
    if isinstance(value, dict):
        return {k: _expand(doc, v, (*path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(doc, v, (*path, i), problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is not None and (found != "" or default is None):
            return found
        if default is not None:
            return default
        problems.append(doc.problem(path, f"environment variable {name} is not set"))
        return ""

    return _VAR.sub(substitute, value)


def load_config(path: Path) -> Config:
    """Load and validate a config file, reporting every problem at once."""
    if not path.is_file():
        raise InvalidInputError(f"{path}: config file not found (use -c/--config, or `revrules init`)")
    doc = load_yaml_file(path, str(path))
    if not isinstance(doc.data, dict):
        raise InvalidInputError([doc.problem((), "expected a mapping at the top of the file")])
    problems: list[Problem] = _secret_url_problems(doc)
    doc.data = _expand(doc, doc.data, (), problems)
    parsed, validation = validate(doc, ConfigModel, _KNOWN_KEYS)
    problems += validation
    if parsed is not None:
        problems += _source_problems(doc, parsed) + _owner_change_problems(doc, parsed)
    if problems or parsed is None:
        raise InvalidInputError(problems)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Config(parsed, path, doc, digest)


def _source_problems(doc: Document, parsed: ConfigModel) -> list[Problem]:
    """Sources a CRM API cannot name: CSV headers may be anything, Salesforce and HubSpot names may not."""
    if parsed.crm.kind == "csv":
        return []
    return [doc.problem(("fields", name, "source") if isinstance(doc.data["fields"][name], dict) else ("fields", name),
                        f"{parsed.crm.kind} field names are letters, digits, '_' and '.', starting with a letter; "
                        f"got {spec.source!r}")
            for name, spec in parsed.fields.items() if not _API_NAME.match(spec.source)]


_ONE_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def _secret_url_problems(doc: Document) -> list[Problem]:
    """`notify.url` holds a secret (whoever has a webhook URL may post to it): only `${VAR}` may give it.

    Checked before expansion, on the text as written: a literal URL, or a `${VAR:-default}`
    whose default is one, would put the secret in the file and so in git.
    """
    notify = doc.data.get("notify")
    url = notify.get("url") if isinstance(notify, dict) else None
    if not isinstance(url, str) or _ONE_VARIABLE.fullmatch(url.strip()):
        return []
    return [doc.problem(("notify", "url"), "the webhook URL is a secret: write it as ${VAR} (for example "
                        "${HANDOFF_WEBHOOK}) and set that variable in the environment, never in the file")]


def _owner_change_problems(doc: Document, parsed: ConfigModel) -> list[Problem]:
    """`owner_change` keys the CRM cannot honour: a CSV has no related records, each CRM names its deals."""
    change = parsed.owner_change
    if change is None:
        return []
    if parsed.crm.kind == "csv":
        return [doc.problem(("owner_change",), "a CSV has no contacts or opportunities to move with an account; "
                            "owner_change needs crm.kind salesforce or hubspot")]
    wrong, right = ("open_deals", "open_opportunities") if parsed.crm.kind == "salesforce" else (
        "open_opportunities", "open_deals")
    if wrong in change.model_fields_set:
        return [doc.problem(("owner_change", wrong), f"{parsed.crm.kind} calls them {right}: "
                            f"write owner_change.{right}", key=True)]
    return []
