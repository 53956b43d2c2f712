"""`revrules` against a Salesforce emulator as strict as an org: logins, limits, duplicates, Bulk sizes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from revrules.testing.harness import Result, ledger_rows
from revrules.testing.projects import SESSION, salesforce_config, write_project
from revrules.testing.salesforce import SalesforceEmulator

Cli = Callable[..., Result]
SEGMENTS = ["SMB", "Mid-Market", "Enterprise"]

RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: mid-market, when: "employees >= 100", then: Mid-Market}
    default: SMB
"""

def account_id(n: int) -> str:
    return f"001Dn0000{n:06d}AAA"


@pytest.fixture
def make_org(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., SalesforceEmulator]]:
    started: list[SalesforceEmulator] = []

    def make(count: int = 12, changing: int = 5) -> SalesforceEmulator:
        records = [{"Id": account_id(i), "Name": f"Account {i}", "NumberOfEmployees": 500 if i < changing else 10,
                    "Segment__c": "SMB"} for i in range(count)]
        emulator = SalesforceEmulator(records, picklists={"Segment__c": SEGMENTS}).start()
        started.append(emulator)
        monkeypatch.setenv("SF_URL", emulator.url)
        monkeypatch.setenv("SF_SESSION", emulator.session_id)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


def project(folder: Path, *, auth: Mapping[str, object] = SESSION, **crm: Any) -> Path:
    config = salesforce_config(auth=auth, rules="rules/", retry_backoff_seconds=0.001, max_retries=2, **crm)
    return write_project(folder, config, RULES, at="rules/segments.yaml")


def mid_market(emulator: SalesforceEmulator) -> int:
    return sum(r["Segment__c"] == "Mid-Market" for r in emulator.records.values())


# -- login ---------------------------------------------------------------------------------------


def test_jwt_with_a_my_domain_in_domain_is_a_clear_config_error(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """The JWT bearer assertion's `aud` must be https://login.salesforce.com or
    https://test.salesforce.com, never a My Domain (OAuth 2.0 JWT Bearer Flow; simple-salesforce
    #672); My Domain belongs in instance_url."""
    emulator = make_org()
    config = project(tmp_path, auth={"auth": "jwt", "username": "rev@example.com", "consumer_key": "3MVG9",
                                     "private_key_file": "jwt.key", "domain": "acme.my"})

    result = cli("plan", "-c", config)

    assert result.code == 2
    assert "instance_url (https://acme.my.salesforce.com)" in result.err
    assert "`login` (production) or `test` (sandbox)" in result.err
    assert "Traceback" not in result.err
    assert emulator.request_log == []


def test_client_credentials_needs_a_my_domain_and_takes_it_from_instance_url(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """The client credentials flow must use the org's My Domain token endpoint (Salesforce Help,
    "OAuth 2.0 Client Credentials Flow"); without one the error names instance_url."""
    from revrules.connectors.salesforce.session import Credentials, my_domain

    make_org()
    config = project(tmp_path, auth={"auth": "client_credentials", "consumer_key": "k", "consumer_secret": "s"})

    result = cli("plan", "-c", config)

    assert result.code == 2
    assert "needs instance_url (your My Domain" in result.err
    from_url = Credentials(auth="client_credentials", instance_url="https://acme.my.salesforce.com")
    assert my_domain(from_url) == "acme.my"


def test_soap_login_is_refused_from_api_65(make_org: Callable[..., SalesforceEmulator]) -> None:
    """SOAP login() is unavailable from API 65.0 (Salesforce Summer '25 release notes); the
    emulator refuses it like an org, so revrules' password auth must not use it."""
    import requests

    emulator = make_org()
    envelope = "<Envelope><Body><login><username>u</username><password>p</password></login></Body></Envelope>"

    old = requests.post(f"{emulator.url}/services/Soap/u/64.0", data=envelope, timeout=10)
    new = requests.post(f"{emulator.url}/services/Soap/u/65.0", data=envelope, timeout=10)

    assert old.status_code == 200
    assert new.status_code == 500
    assert "UNSUPPORTED_API_VERSION" in new.text


# -- limits and broken answers -------------------------------------------------------------------


def test_a_concurrency_limit_is_retried_and_the_write_lands(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """`REQUEST_LIMIT_EXCEEDED` names its limit in the message: "ConcurrentRequests (Concurrent
    API Requests) Limit exceeded." passes in seconds (recorded SOAP fault, gist ndabAP 2021),
    unlike "TotalRequests Limit exceeded." (OrgCheck #181), so it is retried."""
    emulator = make_org()
    config = project(tmp_path)
    emulator.faults.concurrency_limit_on_calls = {4}  # describe, query, limits, then the write

    result = cli("apply", "-c", config, "--yes", "--json")

    assert result.code == 0, result.err
    assert result.json()["written"] == 5
    assert [e.status for e in emulator.request_log if e.method == "PATCH"] == [403, 200]
    assert mid_market(emulator) == 5


def test_a_truncated_read_is_retried_then_one_line_without_traceback(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """A body cut off half-way is not JSON; it is a retriable CrmError (exit 1), never a traceback."""
    emulator = make_org()
    config = project(tmp_path)
    emulator.faults.truncate_body_on_calls = {2, 3, 4}  # the query and both of its retries

    result = cli("plan", "-c", config)

    assert result.code == 1
    assert "answer was unreadable" in result.err
    assert "Traceback" not in result.err
    assert result.err.strip().splitlines()[-1].endswith("gave up after 3 attempt(s) (2 retries); try again later")
    emulator.faults.truncate_body_on_calls = {2}
    assert cli("plan", "-c", config).code == 0


def test_a_truncated_write_answer_is_not_sent_again_blindly(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """The write landed but its answer was lost: read back, recorded as written, and not resent (SPEC §5)."""
    emulator = make_org()
    config = project(tmp_path)
    emulator.faults.truncate_body_on_calls = {4}

    result = cli("apply", "-c", config, "--yes")

    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert "written 5, failed 0" in result.err
    assert [e.method for e in emulator.request_log].count("PATCH") == 1
    assert cli("plan", "-c", config, "--json").json()["changes"] == []


# -- duplicate rules -----------------------------------------------------------------------------


def test_duplicate_alerts_are_saved_with_allow_save_and_blocks_fail_with_their_reason(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """An alerting duplicate rule stops an API save unless `Sforce-Duplicate-Rule-Header:
    allowSave=true` is sent (REST API Developer Guide, Duplicate Rule Header); a blocking rule
    refuses with DUPLICATES_DETECTED "Use one of these records?" (sObject Collections example)."""
    emulator = make_org()
    emulator.faults.duplicate_alerts = {account_id(0), account_id(1)}
    emulator.faults.duplicate_blocks = {account_id(2)}
    config = project(tmp_path)

    result = cli("apply", "-c", config, "--yes", "--json")

    assert result.code == 1
    assert result.json()["written"] == 4
    assert [f["id"] for f in result.json()["failed"]] == [account_id(2)]
    assert "DUPLICATES_DETECTED: Use one of these records?" in result.json()["failed"][0]["error"]
    assert mid_market(emulator) == 4


def test_enforced_duplicate_rules_fail_alerted_records(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """With `duplicate_rules: enforce` no header is sent, so an alerting rule refuses the save."""
    emulator = make_org()
    emulator.faults.duplicate_alerts = {account_id(0)}
    config = project(tmp_path, duplicate_rules="enforce")

    result = cli("apply", "-c", config, "--yes", "--json")

    assert result.json()["written"] == 4
    assert [f["id"] for f in result.json()["failed"]] == [account_id(0)]


def test_duplicate_alerts_in_a_bulk_job_are_saved_through_collections(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """Bulk API 2.0 takes no duplicate-rule header, so alerted records are sent again through
    sObject Collections with allowSave=true."""
    emulator = make_org(count=40, changing=30)
    emulator.faults.duplicate_alerts = {account_id(3)}
    config = project(tmp_path, bulk_write_threshold=10)

    result = cli("apply", "-c", config, "--yes", "--json")

    assert result.code == 0, result.err
    assert result.json()["written"] == 30
    assert emulator.calls("composite", "PATCH") == 1
    assert mid_market(emulator) == 30


# -- Bulk uploads --------------------------------------------------------------------------------


def test_a_bulk_write_larger_than_one_upload_is_split_into_jobs_and_joined(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """Bulk API 2.0 refuses uploads above 100 MB ("upload data that does not exceed 100 MB",
    Bulk API 2.0 Developer Guide, Upload Job Data); scaled down here to 2,000 bytes."""
    emulator = make_org(count=450, changing=401)
    emulator.faults.bulk_upload_max_bytes = 2_000
    emulator.faults.lock_rows = {account_id(7): 1}
    emulator.faults.record_errors = {account_id(300): "No"}
    config = project(tmp_path, bulk_write_threshold=300, bulk_upload_bytes=2000)

    result = cli("apply", "-c", config, "--yes", "--json")
    replan = cli("plan", "-c", config, "--json")

    uploads = [e for e in emulator.request_log if e.method == "PUT"]
    assert result.json()["written"] == 400, result.err
    assert [f["id"] for f in result.json()["failed"]] == [account_id(300)]
    assert len(uploads) > 1
    assert all(e.status == 201 and e.body_size <= 2_000 for e in uploads)
    assert emulator.calls("jobs/ingest", "POST") == len(uploads)
    assert [c["id"] for c in replan.json()["changes"]] == [account_id(300)]
    rows = ledger_rows(tmp_path / ".revrules", "SELECT result, COUNT(*) FROM writes GROUP BY result")
    assert dict(rows) == {"written": 400, "failed": 1}


# -- the shipped quick start against a strict org --------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
TEXT_OUTPUTS = ["Segment__c", "Vertical__c", "Pricing_Tier__c", "Sales_Motion__c", "CS_Model__c", "Region__c",
                "ICP_Tier__c", "Value_Tier__c", "Usage_Level__c", "NPS_Category__c", "Churn_Risk__c",
                "Expansion_Signal__c", "Territory__c", "Segmentation_Reason__c"]


@pytest.fixture
def shipped_org(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[SalesforceEmulator, Path]]:
    """The bundled sample in a strict org with the shipped config's output fields (text: 255
    characters, the most a Salesforce Text field holds), every seed owner and pool owner an
    active User, and the shipped rulebook copied next to a config pointed at the org."""
    from revrules.testing.salesforce.cli import load_records_csv
    from revrules.testing.salesforce.describe import ACCOUNT_FIELDS

    rows = load_records_csv(REPO / "examples" / "accounts.csv")
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    pool = set(re.findall(r'id: "(005\w{15})"', (REPO / "rules" / "routing.yaml").read_text()))
    users = [{"Id": user} for user in sorted(pool | {r["OwnerId"] for r in rows if r.get("OwnerId")})]
    fields = [*ACCOUNT_FIELDS, *({"name": name, "type": "string"} for name in TEXT_OUTPUTS),
              {"name": "ICP_Score__c", "type": "double"}, {"name": "Anti_ICP_Reasons__c", "type": "multipicklist"},
              {"name": "Disqualified__c", "type": "boolean"}]
    emulator = SalesforceEmulator(rows, fields=fields, users=users, marketing_lists=True, null_invalid=True).start()
    monkeypatch.setenv("SF_URL", emulator.url)
    monkeypatch.setenv("SF_SESSION", emulator.session_id)
    config = (REPO / "config.example.yaml").read_text()
    config = re.sub(r"crm:\n  kind: csv\n(  .*\n)+", "crm:\n  kind: salesforce\n  auth: session\n"
                    "  session_id: ${SF_SESSION}\n  instance_url: ${SF_URL}\n", config, count=1)
    (tmp_path / "revrules.yaml").write_text(config)
    yield emulator, tmp_path / "revrules.yaml"
    emulator.stop()


def test_the_shipped_quick_start_applies_to_a_strict_org_without_failures(
    cli: Cli, shipped_org: tuple[SalesforceEmulator, Path]
) -> None:
    """A Salesforce Text field holds at most 255 characters (Object Reference, Field Types:
    "string"); the full provenance of the shipped rulebook is 333 to 494, so the compact form is
    written. Every pool owner is an active User, so no OwnerId is refused."""
    emulator, config = shipped_org

    applied = cli("apply", "-c", config, "--yes", "--json")
    replan = cli("plan", "-c", config, "--json")

    assert applied.code == 0, applied.err
    assert applied.json()["failed"] == []
    assert replan.json()["changes"] == [] and replan.json()["list_changes"] == []
    reasons = [str(r["Segmentation_Reason__c"]) for r in emulator.records.values()]
    assert max(len(r) for r in reasons) <= 255
    assert all(r.startswith("@rulebook:") for r in reasons)
    assert emulator.nulled_on_load > 0  # e.g. "~100" in NumberOfEmployees


def test_an_output_value_longer_than_its_field_is_held_back_at_plan_time(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    """An org refuses a value longer than the field's describe `length` with STRING_TOO_LONG and
    fails the whole record; revrules holds it back at plan time and names the length instead.
    At apply it cannot be written, so it is a per-record failure (SPEC §4 exit 1, §5 ledger):
    failed in the ledger and `history`, listed in the apply summary, never sent."""
    emulator = make_org()
    long_name = "Mid-Market " + "x" * 300
    config = project(tmp_path)
    (tmp_path / "rules" / "segments.yaml").write_text(RULES.replace("then: Mid-Market", f"then: '{long_name}'"))
    emulator.stop()
    wide = SalesforceEmulator([{"Id": account_id(i), "NumberOfEmployees": 500 if i < 2 else 10,
                                "Segment__c": "SMB"} for i in range(4)],
                              fields=[{"name": "Id", "type": "id"}, {"name": "NumberOfEmployees", "type": "int"},
                                      {"name": "Segment__c", "type": "string", "length": 40}]).start()
    try:
        config.write_text(config.read_text().replace("${SF_URL}", wide.url).replace("${SF_SESSION}", wide.session_id))

        plan = cli("plan", "-c", config)
        planned = cli("plan", "-c", config, "--json").json()
        online = cli("check", "-c", config, "--online")
        applied = cli("apply", "-c", config, "--yes")
        reported = cli("apply", "-c", config, "--yes", "--json")
        history = cli("history", "-c", config, "--json")
    finally:
        wide.stop()

    assert "Segment__c holds 40 characters: 2 value(s) up to 311" in plan.out
    assert [(t["id"], t["length"], t["limit"]) for t in planned["too_long"]] == [
        (account_id(0), 311, 40), (account_id(1), 311, 40)]
    assert online.code == 2
    assert "a value of 311 characters" in online.err and "the field holds 40" in online.err
    reason = "too long: 311 characters, the field holds 40; held back at plan time, not sent"
    assert applied.code == 1
    assert "2 field(s) failed:" in applied.out
    assert f"{account_id(0)} Segment__c: {reason}" in applied.out
    assert "failed 2" in applied.err
    assert reported.code == 1
    assert reported.json()["status"] == "failed"
    assert reported.json()["failed"] == [{"id": account_id(i), "field": "Segment__c", "error": reason}
                                         for i in (0, 1)]
    assert [(r["status"], r["written"], r["failed"]) for r in history.json()["runs"]] == [("failed", 0, 2)] * 2
    assert ledger_rows(tmp_path / ".revrules", "SELECT record_id, result, error FROM writes WHERE run_id = 1") == [
        (account_id(0), "failed", reason), (account_id(1), "failed", reason)]
    assert not any(e.method == "PATCH" for e in wide.request_log)


# -- currencies ----------------------------------------------------------------------------------

CURRENCY_RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: big, when: "revenue >= 1000000", then: Enterprise}
    default: SMB
"""


@pytest.mark.parametrize(("mode", "enterprise"), [("corporate", {"usd", "eur"}), ("record", {"usd", "eur", "jpy"})])
def test_multi_currency_orgs_read_amounts_in_the_corporate_currency(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, enterprise: set[str]
) -> None:
    """In a multi-currency org each record's amounts are in its own CurrencyIsoCode; CurrencyType
    holds each active currency's ConversionRate to the corporate one (Object Reference,
    CurrencyType; SOQL guide, convertCurrency()). JPY 1,500,000 is about USD 10,000."""
    records = [
        {"Id": account_id(0), "AnnualRevenue": 2_000_000, "CurrencyIsoCode": "USD", "Segment__c": "SMB"},
        {"Id": account_id(1), "AnnualRevenue": 1_500_000, "CurrencyIsoCode": "EUR", "Segment__c": "SMB"},
        {"Id": account_id(2), "AnnualRevenue": 1_500_000, "CurrencyIsoCode": "JPY", "Segment__c": "SMB"},
    ]
    emulator = SalesforceEmulator(records, picklists={"Segment__c": SEGMENTS},
                                  currencies={"USD": 1.0, "EUR": 0.92, "JPY": 150.0}).start()
    monkeypatch.setenv("SF_URL", emulator.url)
    monkeypatch.setenv("SF_SESSION", emulator.session_id)
    config = project(tmp_path, currency=mode)
    config.write_text(config.read_text().replace("employees: {source: NumberOfEmployees, type: number}",
                                                 "revenue: {source: AnnualRevenue, type: number}"))
    (tmp_path / "rules" / "segments.yaml").write_text(CURRENCY_RULES)
    try:
        plan = cli("plan", "-c", config, "--json")
        online = cli("check", "-c", config, "--online")
    finally:
        emulator.stop()

    assert plan.code == 0, plan.err
    names = {account_id(0): "usd", account_id(1): "eur", account_id(2): "jpy"}
    assert {names[c["id"]] for c in plan.json()["changes"] if c["after"] == "Enterprise"} == enterprise
    assert online.code == 0, online.err
    assert f"currency: {mode}" in online.out
    if mode == "corporate":
        assert "converted to the corporate currency USD" in online.out


# -- record types --------------------------------------------------------------------------------


def test_check_online_validates_then_values_against_each_record_type(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each record type offers its own subset of a picklist's values (User Interface API, "Get
    Values for All Picklist Fields of a Record Type"); a value only the master list has cannot
    be saved on a record of that type from the UI and fails validation rules built on it."""
    emulator = SalesforceEmulator([{"Id": account_id(0), "NumberOfEmployees": 500, "Segment__c": "SMB"}],
                                  picklists={"Segment__c": SEGMENTS},
                                  record_types={"Partner": {"Segment__c": ["SMB", "Enterprise"]}}).start()
    monkeypatch.setenv("SF_URL", emulator.url)
    monkeypatch.setenv("SF_SESSION", emulator.session_id)
    config = project(tmp_path)
    try:
        online = cli("check", "-c", config, "--online")
    finally:
        emulator.stop()

    assert online.code == 2
    assert "Account.Segment__c: the rulebook can write 'Mid-Market', which record type 'Partner' does not offer" \
        in online.err
    assert emulator.calls("ui-api", "GET") == 1


# -- the emulator's command line -----------------------------------------------------------------

OWNER_RULES = """\
version: 1
decisions:
  owner:
    hit: first
    rules:
      - {id: big-to-dana, when: "employees >= 5000", then: "0058c000002Qa1AAAS"}
      - {id: mid-to-ghost, when: "employees >= 1000", then: "0058c000009ZZZZAAA"}
    default: "0058c000002Qa1AAAS"
"""


def test_the_readme_emulator_command_serves_the_sample_and_refuses_unknown_owners(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's command starts on the bundled sample: `~100` cannot be held by a number field,
    so it loads empty with one warning. Owners are Users: every seed OwnerId and each `--user`;
    an org refuses any other OwnerId with INVALID_CROSS_REFERENCE_KEY."""
    command = [sys.executable, "-m", "revrules.testing.salesforce", "--port", "0",
               "--accounts", str(REPO / "examples" / "accounts.csv"), "--user", "0058c000002Qa1AAAS",
               "--session-id", "00DEM0000000001!rehearsal", "--fault", "daily_api_max=100000"]
    helped = subprocess.run([*command[:3], "--help"], capture_output=True, text=True, check=True)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(3)]
        url = banner[1].strip().removeprefix("instance_url=")
        monkeypatch.setenv("SF_URL", url)
        monkeypatch.setenv("SF_SESSION", "00DEM0000000001!rehearsal")
        config = project(tmp_path)
        config.write_text(config.read_text().replace("outputs:\n  segment: Segment__c", "outputs:\n  owner: OwnerId"))
        (tmp_path / "rules" / "segments.yaml").write_text(OWNER_RULES)
        applied = cli("apply", "-c", config, "--yes", "--json")
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)

    assert banner[0].startswith("Salesforce emulator serving 5000 Account record(s)")
    assert re.fullmatch(r"warning: \d+ value\(s\) of --accounts could not be held by their field "
                        r"\(e\.g\. text in a number field\) and were loaded as empty\n", errors)
    for word in ("multipicklist", "textarea", "duplicate_alerts", "concurrency_limit_on_calls",
                 "truncate_body_on_calls", "bulk_upload_max_bytes", "--user"):
        assert word in helped.stdout
    failed = applied.json()["failed"]
    assert applied.json()["written"] > 0 and failed
    assert {f["error"].split(":")[0] for f in failed} == {"INVALID_CROSS_REFERENCE_KEY"}
