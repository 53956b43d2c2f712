"""`revrules init` and `revrules check`, including broken configs and secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from revrules.testing.harness import Cli, run_process
from revrules.testing.hubspot import HubSpotEmulator

HUBSPOT_CONFIG = """\
version: 1
crm:
  kind: hubspot
  access_token: ${HUBSPOT_TOKEN}
  base_url: ${HUBSPOT_URL:-http://127.0.0.1:8765}
fields:
  name: Name
  employees: {source: NumberOfEmployees, type: number}
  industry: Industry
  country: {source: BillingCountry, type: string}
rules:
  - rules/
outputs:
  segment: Segment__c
state_dir: .revrules
"""
SECRET = "pat-na1-0123456789-SUPERSECRET"


def _replace(config: Path, old: str, new: str) -> None:
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


def test_init_writes_a_project_that_checks_tests_and_plans(tmp_path: Path, cli: Cli) -> None:
    result = cli("init", tmp_path)
    assert result.code == 0
    for name in (
        "revrules.yaml",
        "rules/segments.yaml",
        "rules/tests/segments.yaml",
        "accounts.csv",
    ):
        assert (tmp_path / name).is_file()
    config = tmp_path / "revrules.yaml"
    assert cli("check", "-c", config).code == 0
    assert cli("test", "-c", config).last_line == "3 passed, 0 failed"
    assert cli("plan", "-c", config).code == 0


def test_init_refuses_to_overwrite_and_exits_2(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "revrules.yaml").write_text("mine\n")
    result = cli("init", tmp_path)
    assert result.code == 2
    assert "overwrite" in result.err
    assert (tmp_path / "revrules.yaml").read_text() == "mine\n"
    assert not (tmp_path / "accounts.csv").exists()


def test_check_reports_ok_with_counts(starter: Path, cli: Cli) -> None:
    result = cli("check", "-c", starter)
    assert result.code == 0
    assert result.out.splitlines()[0] == f"{starter}: OK"
    assert "1 decisions with 3 rules" in result.out
    assert "3 tests" in result.out


def test_options_before_the_command_are_honoured(starter: Path, cli: Cli) -> None:
    assert cli("-c", starter, "check").code == 0


def test_missing_config_is_exit_2_with_a_hint(tmp_path: Path, cli: Cli) -> None:
    result = cli("check", "-c", tmp_path / "nope.yaml")
    assert result.code == 2
    assert "config file not found" in result.err
    assert "Traceback" not in result.err


def test_broken_config_reports_every_problem_at_once_with_positions(starter: Path, cli: Cli) -> None:
    _replace(starter, "version: 1", "version: 2")
    _replace(starter, "type: number}", "type: numbr}")
    _replace(starter, "outputs:", "outptus:")
    _replace(starter, "max_changed_records: 100%", "max_changed_records: lots")
    result = cli("check", "-c", starter)
    assert result.code == 2
    assert result.out == ""
    lines = result.err.splitlines()
    pattern = re.compile(rf"^error: {re.escape(str(starter))}:\d+:\d+: [\w.\[\]]+: .+$")
    assert all(pattern.match(line) for line in lines), lines
    text = "\n".join(lines)
    assert ":1:10: version: " in text
    assert "fields.employees.type: " in text
    assert "unknown key 'outptus' (did you mean 'outputs'?)" in text
    assert "safety.max_changed_records" in text
    assert len(lines) == 4, lines  # one line per problem, no duplicates from union types
    assert "Traceback" not in result.err


def test_unknown_nested_key_suggests_the_closest(starter: Path, cli: Cli) -> None:
    _replace(starter, "id_column: Id", "id_colum: Id")
    result = cli("check", "-c", starter)
    assert result.code == 2
    assert re.search(r":5:3: crm.id_colum: unknown key 'id_colum' \(did you mean 'id_column'\?\)", result.err)


def test_broken_rulebook_is_exit_2_with_file_line_col(starter: Path, cli: Cli) -> None:
    rules = starter.parent / "rules" / "segments.yaml"
    rules.write_text(rules.read_text().replace('"employees >= 2000"', '"employes >= 2000"'))
    result = cli("check", "-c", starter)
    assert result.code == 2
    assert re.search(
        r"segments\.yaml:\d+:\d+: decisions\.segment\.rules\[0\]\.when: .*employes.*"
        r"did you mean 'employees'",
        result.err,
    ), result.err


def test_variables_expand_with_defaults(starter: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _replace(starter, "state_dir: .revrules", "state_dir: ${RR_STATE:-state-default}")
    _replace(starter, "path: accounts.csv", "path: ${RR_INPUT}")
    monkeypatch.setenv("RR_INPUT", "accounts.csv")
    monkeypatch.delenv("RR_STATE", raising=False)
    assert cli("check", "-c", starter).code == 0
    assert cli("apply", "-c", starter, "--yes").code == 0
    assert (starter.parent / "state-default" / "ledger.db").is_file()

    monkeypatch.setenv("RR_STATE", "state-from-env")
    assert cli("apply", "-c", starter, "--yes").code == 0
    assert (starter.parent / "state-from-env" / "ledger.db").is_file()


def test_unset_variable_without_default_is_an_error_naming_it(
    starter: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _replace(starter, "path: accounts.csv", "path: ${RR_MISSING_INPUT}")
    monkeypatch.delenv("RR_MISSING_INPUT", raising=False)
    result = cli("check", "-c", starter)
    assert result.code == 2
    assert re.search(
        r"revrules\.yaml:4:9: crm\.path: environment variable RR_MISSING_INPUT is not set",
        result.err,
    ), result.err


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:8765", True),
        ("http://localhost:8765", True),
        ("https://api.hubapi.com", True),
        ("http://api.hubapi.com", False),
        ("http://127.0.0.1.example.com", False),
    ],
)
def test_plain_http_base_url_is_refused_unless_loopback(
    tmp_path: Path, starter: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, url: str, ok: bool
) -> None:
    starter.write_text(HUBSPOT_CONFIG)
    monkeypatch.setenv("HUBSPOT_TOKEN", SECRET)
    monkeypatch.setenv("HUBSPOT_URL", url)
    result = cli("check", "-c", starter)
    assert result.code == (0 if ok else 2), result.err
    if not ok:
        assert "crm.base_url: " in result.err
        assert "https://" in result.err


def test_salesforce_instance_url_must_be_https_unless_loopback(starter: Path, cli: Cli) -> None:
    text = starter.read_text()
    crm = text[text.index("crm:") : text.index("fields:")]
    starter.write_text(
        text.replace(
            crm,
            "crm:\n  kind: salesforce\n  auth: session\n  session_id: abc\n  instance_url: http://my.salesforce.com\n",
        )
    )
    result = cli("check", "-c", starter)
    assert result.code == 2
    assert "crm.instance_url: " in result.err
    starter.write_text(starter.read_text().replace("http://my.salesforce.com", "http://localhost:9000"))
    assert cli("check", "-c", starter).code == 0


def _assert_secret_nowhere(folder: Path, seen: list[str]) -> None:
    assert all(SECRET not in text for text in seen)
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_secret_never_appears_in_output_logs_or_state(starter: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    starter.write_text(HUBSPOT_CONFIG + "outptus: {}\n")  # a config problem next to the secret
    monkeypatch.setenv("HUBSPOT_TOKEN", SECRET)
    seen = []
    args: tuple[str, ...]
    for args in (("check",), ("check", "--debug"), ("test", "--log-format", "json"), ("history",)):
        result = cli(*args, "-c", starter)
        assert result.code == 2
        assert "outptus" in result.err
        seen.append(result.out + result.err)
    starter.write_text(HUBSPOT_CONFIG)
    for args in (
        ("check",),
        ("check", "--debug"),
        ("test", "--json"),
        ("explain", "--account", '{"employees": 3}', "--json", "--debug"),
        ("history", "--json"),
    ):
        result = cli(*args, "-c", starter)
        assert result.code == 0, result.err
        seen.append(result.out + result.err)
    _assert_secret_nowhere(starter.parent, seen)


def test_secret_never_appears_in_a_hubspot_plan_or_ledger(
    starter: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("revrules.connectors.hubspot", reason="the HubSpot connector is not built yet")
    config = (
        HUBSPOT_CONFIG.replace("NumberOfEmployees", "numberofemployees")
        .replace("Name", "name")
        .replace("Industry", "industry")
        .replace("BillingCountry", "country")
        .replace("Segment__c", "rr_segment")
    )
    starter.write_text(config)
    rules = starter.parent / "rules" / "segments.yaml"
    rules.write_text(rules.read_text().split("lists:")[0])  # HubSpot lists are not part of this test
    seen = []
    with HubSpotEmulator.from_csv(starter.parent / "accounts.csv", access_token=SECRET) as emulator:
        monkeypatch.setenv("HUBSPOT_TOKEN", SECRET)
        monkeypatch.setenv("HUBSPOT_URL", emulator.url)
        steps = (
            ("check", "--online", "--create-properties", "--debug"),
            ("plan", "--debug"),
            ("plan", "--json", "-o", starter.parent / "plan.json"),
            ("apply", "--yes", "--debug"),
            ("history", "--json"),
        )
        for args in steps:
            result = cli(*args, "-c", starter)
            assert result.code == 0, (args, result.err)
            seen.append(result.out + result.err)
        assert emulator.companies[next(iter(emulator.companies))]["rr_segment"]
    runs = cli("history", "-c", starter, "--json").json()["runs"]
    assert runs[0]["written"] == 8
    _assert_secret_nowhere(starter.parent, seen)


def test_secret_is_not_stored_in_the_ledger_or_plans_of_a_csv_run(
    starter: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A secret that reaches the config through a variable must not land anywhere a run writes.
    _replace(
        starter,
        "state_dir: .revrules",
        "state_dir: ${RR_STATE:-.revrules}\n# token: ${HUBSPOT_TOKEN}",
    )
    monkeypatch.setenv("HUBSPOT_TOKEN", SECRET)
    assert cli("plan", "-c", starter, "-o", starter.parent / "plan.json").code == 0
    assert cli("apply", "-c", starter, "--yes").code == 0
    for path in (starter.parent / ".revrules").rglob("*"):
        assert SECRET.encode() not in path.read_bytes()
    assert SECRET not in (starter.parent / "plan.json").read_text()


def test_check_online_reports_a_missing_csv_column(starter: Path, cli: Cli) -> None:
    assert cli("check", "--online", "-c", starter).code == 0
    _replace(
        starter,
        "industry: Industry",
        "industry: Industry\n  revenue: {source: AnnualRevenue, type: number}",
    )
    result = cli("check", "--online", "-c", starter)
    assert result.code == 2
    assert "AnnualRevenue" in result.err
    assert "Traceback" not in result.err


def test_check_online_lists_every_missing_column(starter: Path, cli: Cli) -> None:
    _replace(
        starter,
        "industry: Industry",
        "industry: Industry\n  revenue: {source: AnnualRevenue, type: number}\n  website: Website",
    )
    result = cli("check", "--online", "-c", starter)
    assert result.code == 2
    assert "AnnualRevenue" in result.err
    assert "Website" in result.err


def test_usage_error_is_exit_2(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("plan", "--no-such-flag")
    assert exit_info.value.code == 2


def test_real_process_check_exit_codes_and_streams(starter: Path) -> None:
    ok = run_process("check", "-c", starter)
    assert ok.returncode == 0
    assert "OK" in ok.stdout
    _replace(starter, "outputs:", "outptus:")
    bad = run_process("check", "-c", starter)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert "did you mean 'outputs'" in bad.stderr
    assert "Traceback" not in bad.stderr
