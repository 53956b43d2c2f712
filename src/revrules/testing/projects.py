"""Small projects for the tests and benchmarks: a config per CRM kind, and the folder that holds it.

A config function writes the lines every test of that CRM needs and takes what a test varies
as keywords: `fields` and `outputs` map a name to its YAML (one line each), `rules` is the one
entry of `rules:`, `extra` is further top-level YAML, and any other keyword is one more line
of `crm:` (`max_retries=2` gives `max_retries: 2`). The result is plain text laid out as a user
would write it, so a test can still `.replace()` a line of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from revrules.testing.hubspot.protocol import DEFAULT_ACCESS_TOKEN

SESSION: Mapping[str, object] = {"auth": "session", "session_id": "${SF_SESSION}"}
"""Log in to the Salesforce emulator with the session id in `SF_SESSION` (its `session_id`)."""

# What most tests read and write: the number of employees, and one output `segment`.
_SALESFORCE_FIELDS: Mapping[str, str] = {"employees": "{source: NumberOfEmployees, type: number}"}
_HUBSPOT_FIELDS: Mapping[str, str] = {"employees": "{source: numberofemployees, type: number}"}
_CSV_FIELDS: Mapping[str, str] = {"employees": "{source: Emp, type: number}"}
_SEGMENT: Mapping[str, str] = {"segment": "Segment__c"}
_HUBSPOT_SEGMENT: Mapping[str, str] = {"segment": "revrules_segment"}

SEGMENT_RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: big, when: "employees >= 100", then: Big}
    default: Small
"""
"""One decision: 100 employees or more is Big, the rest Small."""


def list_rules(threshold: int, *, name: str, include_contacts: bool = False) -> str:
    """A rulebook of one list, `big`, named `name`: the accounts of `threshold` employees or more."""
    rules = f"""\
version: 1
lists:
  - id: big
    name: {name}
    when: "employees >= {threshold}"
"""
    return rules + ("    include_contacts: true\n" if include_contacts else "")


def salesforce_config(
    url: str = "${SF_URL}",
    *,
    auth: Mapping[str, object] = SESSION,
    fields: Mapping[str, str] = _SALESFORCE_FIELDS,
    rules: str = "rules.yaml",
    outputs: Mapping[str, str] = _SEGMENT,
    extra: str = "",
    **crm: object,
) -> str:
    """A config for the Salesforce emulator at `url`, logged in by `auth`, with no API reserve.

    By default it reads `employees` from NumberOfEmployees and writes `segment` to Segment__c;
    `outputs={}` writes none.
    """
    return _config({"kind": "salesforce", **auth, "instance_url": url, "api_reserve": 0, **crm},
                   fields=fields, rules=rules, outputs=outputs, extra=extra)


def hubspot_config(
    url: str = "${HS_URL}",
    *,
    token: str = DEFAULT_ACCESS_TOKEN,
    fields: Mapping[str, str] = _HUBSPOT_FIELDS,
    rules: str = "rules.yaml",
    outputs: Mapping[str, str] = _HUBSPOT_SEGMENT,
    extra: str = "",
    **crm: object,
) -> str:
    """A config for the HubSpot emulator at `url` with the access token `token` (the emulator's own by default).

    By default it reads `employees` from numberofemployees and writes `segment` to revrules_segment;
    `outputs={}` writes none.
    """
    return _config({"kind": "hubspot", "access_token": token, "base_url": url, **crm},
                   fields=fields, rules=rules, outputs=outputs, extra=extra)


def csv_config(
    *,
    fields: Mapping[str, str] = _CSV_FIELDS,
    rules: str = "rules/",
    outputs: Mapping[str, str] = _SEGMENT,
    extra: str = "",
    **crm: object,
) -> str:
    """A config that reads `accounts.csv` (its ids in column `Id`) and writes `out.csv`.

    By default it reads `employees` from column Emp and writes `segment` to Segment__c.
    """
    return _config({"kind": "csv", "path": "accounts.csv", "id_column": "Id", "output": "out.csv", **crm},
                   fields=fields, rules=rules, outputs=outputs, extra=extra)


def write_project(folder: Path, config: str, rulebook: str, *, at: str = "rules.yaml") -> Path:
    """Write `config` as `folder/revrules.yaml` and `rulebook` at `folder/at`; returns the config's path.

    `at` must be what the config's `rules` names: the file itself, or the folder it is in.
    """
    (folder / at).parent.mkdir(parents=True, exist_ok=True)
    (folder / at).write_text(rulebook, encoding="utf-8")
    path = folder / "revrules.yaml"
    path.write_text(config, encoding="utf-8")
    return path


def _config(crm: Mapping[str, object], *, fields: Mapping[str, str], rules: str, outputs: Mapping[str, str],
            extra: str) -> str:
    lines = ["version: 1", "crm:", *_block(crm), "fields:", *_block(fields), f"rules: [{rules}]"]
    if outputs:
        lines += ["outputs:", *_block(outputs)]
    if extra:
        lines.append(extra.rstrip("\n"))
    return "\n".join([*lines, "state_dir: .revrules"]) + "\n"


def _block(mapping: Mapping[str, object]) -> list[str]:
    return [f"  {key}: {value}" for key, value in mapping.items()]
