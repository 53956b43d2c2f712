"""The `revrules` command against the Salesforce emulator, through the real simple-salesforce."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from revrules.testing.harness import Result, ledger_rows
from revrules.testing.projects import SESSION, salesforce_config, write_project
from revrules.testing.salesforce import SalesforceEmulator

Cli = Callable[..., Result]
SEGMENTS = ["SMB", "Mid-Market", "Enterprise"]
SECRET = "client-s3cr3t"

RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: enterprise, when: "employees >= 1000", then: Enterprise}
      - {id: mid-market, when: "employees >= 100", then: Mid-Market}
    default: SMB
"""

CLIENT_CREDENTIALS = {"auth": "client_credentials", "consumer_key": "3MVG9example",
                      "consumer_secret": "${SF_SECRET}", "domain": "acme.my"}


def account_id(n: int) -> str:
    return f"001Dn0000{n:06d}AAA"


def accounts(count: int, changing: int) -> list[dict[str, object]]:
    """`count` SMB accounts; the first `changing` have 500 employees (so become Mid-Market)."""
    return [
        {
            "Id": account_id(i),
            "Name": f"Account {i}",
            "NumberOfEmployees": 500 if i < changing else 10,
            "Segment__c": "SMB",
        }
        for i in range(count)
    ]


@pytest.fixture
def make_org(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., SalesforceEmulator]]:
    started: list[SalesforceEmulator] = []

    def make(count: int = 12, changing: int = 5, page_size: int = 2000) -> SalesforceEmulator:
        emulator = SalesforceEmulator(
            accounts(count, changing), picklists={"Segment__c": SEGMENTS}, page_size=page_size
        ).start()
        started.append(emulator)
        monkeypatch.setenv("SF_URL", emulator.url)
        monkeypatch.setenv("SF_SESSION", emulator.session_id)
        monkeypatch.setenv("SF_SECRET", SECRET)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


def project(folder: Path, *, auth: Mapping[str, object] = SESSION, **crm: Any) -> Path:
    fields = {"employees": "{source: NumberOfEmployees, type: number}", "name": "Name"}
    config = salesforce_config(auth=auth, fields=fields, rules="rules/", retry_backoff_seconds=0.001, max_retries=2,
                               **crm)
    return write_project(folder, config, RULES, at="rules/segments.yaml")


def segments(emulator: SalesforceEmulator) -> dict[str, str]:
    return {rid: str(r["Segment__c"]) for rid, r in emulator.records.items()}


def writes(emulator: SalesforceEmulator) -> list[int]:
    """The statuses of the sObject Collections calls, in order."""
    return [
        e.status
        for e in emulator.request_log
        if e.method == "PATCH" and e.path.endswith("composite/sobjects")
    ]


def results(state_dir: Path, run: int) -> dict[str, int]:
    rows = ledger_rows(
        state_dir, "SELECT result, COUNT(*) FROM writes WHERE run_id = ? GROUP BY result", (run,)
    )
    return dict(rows)


# -- the whole cycle -----------------------------------------------------------------------------


def test_plan_apply_replan_rollback(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org(count=12, changing=5)
    config = project(tmp_path)

    plan = cli("plan", "-c", config, "--json")
    emulator.reset_log()
    applied = cli("apply", "-c", config, "--yes", "--json")
    apply_log = emulator.request_log
    replan = cli("plan", "-c", config, "--json")
    emulator.reset_log()
    rolled_back = cli("rollback", "1", "-c", config, "--yes", "--json")

    assert plan.code == 0, plan.err
    changes = plan.json()["changes"]
    assert [(c["id"], c["before"], c["after"]) for c in changes] == [
        (account_id(i), "SMB", "Mid-Market") for i in range(5)
    ]
    assert applied.code == 0, applied.err
    assert applied.json()["written"] == 5
    # describe, one query page, the API budget, one Collections call: nothing more.
    assert [(e.method, e.path.split("v59.0/")[1].split("/")[0]) for e in apply_log] == [
        ("GET", "sobjects"),
        ("GET", "query"),
        ("GET", "limits"),
        ("PATCH", "composite"),
    ]
    assert replan.code == 0 and replan.json()["changes"] == []
    assert rolled_back.code == 0, rolled_back.err
    assert rolled_back.json()["written"] == 5
    assert set(segments(emulator).values()) == {"SMB"}
    assert writes(emulator) == [200]


def test_a_run_with_nothing_to_change_makes_no_write_call(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org(count=30, changing=0, page_size=7)
    config = project(tmp_path)

    result = cli("apply", "-c", config, "--yes")

    assert result.code == 0, result.err
    assert emulator.calls("query") == math.ceil(30 / 7)
    assert emulator.calls("composite") == emulator.calls("jobs") == emulator.calls("limits") == 0


@pytest.mark.parametrize(("count", "changing", "page_size"), [(450, 401, 200), (60, 1, 25)])
def test_write_calls_are_ceil_k_over_200_and_reads_the_fewest_pages(
    cli: Cli,
    make_org: Callable[..., SalesforceEmulator],
    tmp_path: Path,
    count: int,
    changing: int,
    page_size: int,
) -> None:
    emulator = make_org(count=count, changing=changing, page_size=page_size)
    config = project(tmp_path)

    result = cli("apply", "-c", config, "--yes")

    assert result.code == 0, result.err
    assert writes(emulator) == [200] * math.ceil(changing / 200)
    assert emulator.calls("query") == math.ceil(count / page_size)
    assert emulator.calls("jobs") == 0
    assert list(segments(emulator).values()).count("Mid-Market") == changing


def test_a_large_plan_is_written_as_one_bulk_job(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org(count=450, changing=401, page_size=200)
    config = project(tmp_path, bulk_write_threshold=300, bulk_read_threshold=300)

    result = cli("apply", "-c", config, "--yes", "--json")

    assert result.code == 0, result.err
    assert result.json()["written"] == 401
    assert emulator.calls("jobs/ingest", "POST") == 1
    assert emulator.calls("jobs/ingest/", "PUT") == 1
    assert emulator.calls("jobs/query", "POST") == 1
    assert emulator.calls("composite") == 0
    assert list(segments(emulator).values()).count("Mid-Market") == 401


# -- faults, with the outcome checked in the org and the ledger -----------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_throttled_write_is_retried_and_lands_once(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path, status: int
) -> None:
    emulator = make_org(count=12, changing=5)
    config = project(tmp_path)
    emulator.faults.status_on_call = {4: status}  # describe, query, limits, then the write

    result = cli("apply", "-c", config, "--yes")

    assert result.code == 0, result.err
    assert writes(emulator) == [status, 200]
    assert list(segments(emulator).values()).count("Mid-Market") == 5


def test_expired_session_mid_run_logs_in_again_and_writes_once(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org(count=12, changing=5)
    config = project(tmp_path, auth=CLIENT_CREDENTIALS)
    emulator.faults.expire_session_on_call = 4

    result = cli("apply", "-c", config, "--yes", "--debug")

    assert result.code == 0, result.err
    assert writes(emulator) == [401, 200]
    assert emulator.calls("/services/oauth2/token", "POST") == 2
    assert list(segments(emulator).values()).count("Mid-Market") == 5
    assert SECRET not in result.err + result.out
    assert emulator.session_id not in result.err + result.out


def test_expired_session_mid_bulk_job_logs_in_again(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org(count=40, changing=30)
    config = project(tmp_path, auth=CLIENT_CREDENTIALS, bulk_write_threshold=20)
    # describe, query, limits, job create, upload, close, then the first poll expires.
    emulator.faults.expire_session_on_call = 7

    result = cli("apply", "-c", config, "--yes")

    assert result.code == 0, result.err
    assert emulator.calls("jobs/ingest", "POST") == 1 and emulator.calls("jobs/ingest/", "PUT") == 1
    assert emulator.calls("/services/oauth2/token", "POST") == 2
    assert list(segments(emulator).values()).count("Mid-Market") == 30


def test_expired_session_with_session_auth_exits_1_with_a_clear_message(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org()
    config = project(tmp_path)
    emulator.expire_sessions()

    result = cli("plan", "-c", config)

    assert result.code == 1
    assert "provide a fresh crm.session_id" in result.err
    assert emulator.session_id not in result.err


def test_locked_rows_are_retried_then_land(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org(count=12, changing=5)
    config = project(tmp_path)
    emulator.faults.lock_rows = {account_id(2): 1}

    result = cli("apply", "-c", config, "--yes")

    assert result.code == 0, result.err
    assert writes(emulator) == [200, 200]
    assert list(segments(emulator).values()).count("Mid-Market") == 5
    assert results(tmp_path / ".revrules", 1) == {"written": 5}


def test_rows_locked_for_good_and_validation_errors_are_reported_and_the_rest_lands(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org(count=12, changing=5)
    config = project(tmp_path)
    emulator.faults.lock_rows = {account_id(2)}
    emulator.faults.record_errors = {account_id(3): "Mid-Market needs an owner"}

    result = cli("apply", "-c", config, "--yes", "--json")

    assert result.code == 1
    failed = {f["id"]: (f["field"], f["error"]) for f in result.json()["failed"]}
    assert failed[account_id(3)] == (
        "Segment__c",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Mid-Market needs an owner",
    )
    assert failed[account_id(2)][1].startswith("UNABLE_TO_LOCK_ROW: ")
    assert set(failed) == {account_id(2), account_id(3)}
    assert writes(emulator) == [200, 200, 200]  # the first call, then the locked row twice
    assert [rid for rid, s in segments(emulator).items() if s == "Mid-Market"] == [
        account_id(0),
        account_id(1),
        account_id(4),
    ]
    assert results(tmp_path / ".revrules", 1) == {"written": 3, "failed": 2}


def test_request_limit_exceeded_stops_cleanly_and_the_ledger_says_what_happened(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org(count=450, changing=450, page_size=2000)
    config = project(tmp_path)
    emulator.reset_log()
    emulator.faults.daily_limit_after = 4  # describe, query, limits, the first write

    result = cli("apply", "-c", config, "--yes")
    history = cli("history", "-c", config, "--json")

    assert result.code == 1
    assert "REQUEST_LIMIT_EXCEEDED" in result.err
    assert writes(emulator) == [200, 403]
    assert emulator.request_log[-1].status == 403  # nothing sent after the refusal
    assert list(segments(emulator).values()).count("Mid-Market") == 200
    assert results(tmp_path / ".revrules", 1) == {"written": 200, "failed": 200, "skipped": 50}
    skipped = ledger_rows(
        tmp_path / ".revrules", "SELECT DISTINCT error FROM writes WHERE result = 'skipped'"
    )
    assert skipped[0][0].startswith("not attempted: ")
    run = history.json()["runs"][0]
    assert (run["status"], run["written"]) == ("error", 200)

    emulator.faults.daily_limit_after = None
    resumed = cli("apply", "-c", config, "--yes", "--json")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["written"] == 250
    assert set(segments(emulator).values()) == {"Mid-Market"}


def test_apply_is_refused_when_the_api_budget_is_short(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org(count=450, changing=450)
    config = project(tmp_path)
    config.write_text(
        config.read_text().replace("api_reserve: 0", "api_reserve: 100"), encoding="utf-8"
    )
    emulator.faults.daily_api_remaining = 103  # describe, query, limits use three

    result = cli("apply", "-c", config, "--yes")
    history = cli("history", "-c", config, "--json")

    assert result.code == 3
    assert "needs about 3 API call(s)" in result.err
    assert writes(emulator) == []
    assert history.json()["runs"][0]["status"] == "refused"


# -- auth flows and check --online -----------------------------------------------------------------


def test_jwt_auth_plans_against_the_token_endpoint(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    rsa = pytest.importorskip(
        "cryptography.hazmat.primitives.asymmetric.rsa",
        reason="cryptography is needed to make an RSA key for JWT",
    )
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "jwt.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    emulator = make_org()
    config = project(
        tmp_path,
        auth={"auth": "jwt", "username": "rev@example.com", "consumer_key": "3MVG9example",
              "private_key_file": "jwt.key"},
    )

    result = cli("plan", "-c", config, "--json")

    assert result.code == 0, result.err
    assert len(result.json()["changes"]) == 5
    assert emulator.calls("/services/oauth2/token", "POST") == 1


def test_client_credentials_auth_applies(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    emulator = make_org()
    config = project(tmp_path, auth=CLIENT_CREDENTIALS)

    result = cli("apply", "-c", config, "--yes")

    assert result.code == 0, result.err
    assert emulator.calls("/services/oauth2/token", "POST") == 1
    assert list(segments(emulator).values()).count("Mid-Market") == 5


def test_check_online_passes_and_then_names_each_problem(
    cli: Cli, make_org: Callable[..., SalesforceEmulator], tmp_path: Path
) -> None:
    make_org()
    config = project(tmp_path)

    good = cli("check", "-c", config, "--online")
    (tmp_path / "rules" / "segments.yaml").write_text(
        RULES.replace("then: Enterprise", "then: Strategic"), encoding="utf-8"
    )
    config.write_text(
        config.read_text()
        .replace("name: Name", "name: Nmae")
        .replace("segment: Segment__c", "segment: CreatedDate"),
        encoding="utf-8",
    )
    bad_field = cli("check", "-c", config, "--online")
    config.write_text(
        config.read_text()
        .replace("name: Nmae", "name: Name")
        .replace("segment: CreatedDate", "segment: Segment__c"),
        encoding="utf-8",
    )
    bad_value = cli("check", "-c", config, "--online")

    assert good.code == 0, good.err
    assert "online:" in good.out
    assert bad_field.code == 2
    assert "Account.Nmae: no such field (did you mean 'Name'?)" in bad_field.err
    assert "Account.CreatedDate: the field is not updateable" in bad_field.err
    assert bad_value.code == 2
    assert (
        "can write 'Strategic', which is not a value of this restricted picklist" in bad_value.err
    )


# -- benchmark --------------------------------------------------------------------------------


@pytest.mark.benchmark
@pytest.mark.parametrize("mode", ["bulk", "collections"])
def test_benchmark_50000_accounts(
    cli: Cli,
    make_org: Callable[..., SalesforceEmulator],
    tmp_path: Path,
    mode: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    count = 50_000
    emulator = make_org(count=count, changing=count)
    config = project(tmp_path, bulk_write_threshold=100000) if mode == "collections" else project(tmp_path)

    started = time.perf_counter()
    plan = cli("plan", "-c", config, "--json")
    planned = time.perf_counter()
    plan_calls = len(emulator.request_log)
    emulator.reset_log()
    applied = cli("apply", "-c", config, "--yes", "--json")
    finished = time.perf_counter()

    assert plan.code == 0 and applied.code == 0, applied.err
    assert applied.json()["written"] == count
    calls: dict[str, int] = {}
    for entry in emulator.request_log:
        key = f"{entry.method} {entry.path.split('v59.0/')[-1].split('/')[0]}"
        calls[key] = calls.get(key, 0) + 1
    if mode == "bulk":
        assert emulator.calls("jobs/ingest", "POST") == 1 and emulator.calls("composite") == 0
    else:
        assert emulator.calls("composite", "PATCH") == count // 200
    with capsys.disabled():
        print(
            f"\nN={count} {mode}: plan {planned - started:.1f}s ({plan_calls} calls), "
            f"apply {finished - planned:.1f}s, apply calls {calls}"
        )
