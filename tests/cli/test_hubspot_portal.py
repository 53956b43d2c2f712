"""`revrules` against the HubSpot emulator as a real portal sees it: token scopes, the quick start, rate limits."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hubspot import HubSpot
from hubspot.crm.lists import ApiException as ListsApiException
from hubspot.crm.lists import ListCreateRequest
from hubspot.crm.owners import ApiException as OwnersApiException

import revrules.testing.hubspot as emulator_module
from revrules.testing import projects
from revrules.testing.harness import Cli

TOKEN = "test-token"
COMPANY_SCOPES = ("crm.objects.companies.read", "crm.objects.companies.write", "crm.schemas.companies.read",
                  "crm.schemas.companies.write")

RULES = """\
version: 1
decisions:
  segment:
    hit: first
    rules:
      - {id: enterprise, when: "employees >= 2000", then: Enterprise}
    default: SMB
territories:
  output: territory
  owner_output: owner
  tree:
    - id: ALL
      when: "true"
      owners: [{id: "1000001"}]
lists:
  - id: big
    name: Big Companies
    when: "segment == 'Enterprise'"
"""

@contextmanager
def emulator_process(*args: str) -> Iterator[str]:
    """`python -m revrules.testing.hubspot ARGS` as a process; yields its URL."""
    command = [sys.executable, "-m", "revrules.testing.hubspot", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line + (process.stderr.read() if process.stderr else "")
        yield match[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_project(folder: Path, url: str, monkeypatch: pytest.MonkeyPatch, rules: str = RULES) -> Path:
    monkeypatch.setenv("HUBSPOT_TOKEN", TOKEN)
    config = projects.hubspot_config(
        url, token="${HUBSPOT_TOKEN}",
        outputs={"segment": "revrules_segment", "territory": "revrules_territory", "owner": "hubspot_owner_id"},
        retry_backoff_seconds=0.01)
    return projects.write_project(folder, config, rules)


def test_check_online_lists_each_missing_owner_and_list_scope_on_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """Owners need `crm.objects.owners.read`, lists `crm.lists.read` and `crm.lists.write`.

    Scope names: HubSpot API reference, "Scope requirements" of the owners and lists endpoints;
    the 403 body is the one hubspot-api-nodejs issue #50 records (category `MISSING_SCOPES`).
    The emulator runs as a process with its `--scopes` switch, as the README shows.
    """
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("Id,NumberOfEmployees\n1,5000\n2,20\n")
    with emulator_process("--accounts", str(accounts), "--access-token", TOKEN,
                          "--scopes", ",".join(COMPANY_SCOPES)) as url:
        config = write_project(tmp_path, url, monkeypatch)
        checked = cli("check", "-c", config, "--online", "--create-properties")
        assert checked.code == 2
        lines = checked.err.strip().splitlines()
        assert len(lines) == 3, checked.err
        for line, scope in zip(lines, ("crm.objects.owners.read", "crm.lists.read", "crm.lists.write"), strict=True):
            assert f"lacks the scope {scope} (" in line
        assert "territories route owners" in lines[0] and "the rulebook has lists" in lines[2]

        # Without territories and lists the same token has every scope the config needs.
        (tmp_path / "rules.yaml").write_text(RULES.split("territories:", maxsplit=1)[0])
        routing = "  territory: revrules_territory\n  owner: hubspot_owner_id\n"
        config.write_text(config.read_text().replace(routing, ""))
        assert cli("check", "-c", config, "--online", "--create-properties").code == 0


def test_the_emulator_refuses_owners_and_lists_without_their_scope(tmp_path: Path) -> None:
    """403 `MISSING_SCOPES` naming the scope under `errors[].context.requiredGranularScopes`.

    Recorded shape: hubspot-api-nodejs issue #50 (the 403 body of a call lacking a scope).
    Through hubspot-api-client, as any client of the portal would call it.
    """
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("Id,Name\n1,A\n")
    with emulator_process("--accounts", str(accounts), "--access-token", TOKEN,
                          "--scopes", ",".join(COMPANY_SCOPES)) as url:
        client = HubSpot(access_token=TOKEN, host=url)
        with pytest.raises(OwnersApiException) as refused:
            client.crm.owners.owners_api.get_page(limit=1)
        assert refused.value.status == 403
        body = json.loads(refused.value.body)
        assert body["category"] == "MISSING_SCOPES"
        assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.owners.read"]
        lists = client.crm.lists.lists_api
        with pytest.raises(ListsApiException) as created:
            lists.create(ListCreateRequest(name="Big Companies", object_type_id="0-2", processing_type="MANUAL"))
        assert created.value.status == 403
        assert json.loads(created.value.body)["errors"][0]["context"]["requiredGranularScopes"] == ["crm.lists.write"]
        with pytest.raises(ListsApiException) as found:
            lists.get_by_name("Big Companies", "0-2")
        assert found.value.status == 403
        assert json.loads(found.value.body)["category"] == "MISSING_SCOPES"


# -- the shipped quick start, following only the README --------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def readme_quick_start() -> list[list[str]]:
    """The commands of the README's "HubSpot quick start" block, split into words."""
    section = (REPO / "README.md").read_text().split("### HubSpot quick start", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line.removesuffix("&")) for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("version", ["2026-03", "v3"])
def test_the_readme_hubspot_quick_start_applies_without_failures_and_replans_empty(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """The shipped rulebook on a portal set up only as the README's HubSpot quick start says.

    HubSpot refuses a value that is not an option of an enumeration (`INVALID_OPTION`, recorded
    in tests/fixtures/hubspot/hubspot_error_and_batch_bodies_from_public_sources.json) and an
    owner id that is not an owner; paths per HubSpot's 2026-03 API reference and the legacy v3
    family. Zero per-record failures (exit 0), then `plan --detailed-exitcode` exits 0 (empty).
    """
    emulator, export, *commands = readme_quick_start()
    assert emulator[:3] == ["python", "-m", "revrules.testing.hubspot"] and export[0] == "export"
    for name in ("rules", "examples"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "config.hubspot.example.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)
    switches = emulator[3:]
    switches[switches.index("--port") + 1] = "0"  # the README's fixed port may be taken here
    if version == "v3":
        switches += ["--api-versions", "v3"]
        monkeypatch.setenv("HUBSPOT_API_VERSION", "v3")
    with emulator_process(*switches) as url:
        for name, value in (pair.split("=", 1) for pair in export[1:]):
            monkeypatch.setenv(name, url if name == "HUBSPOT_BASE_URL" else value)
        results = []
        for command in commands:
            assert command[0] == "revrules"
            results.append(cli(*command[1:]))
    checked, applied, replanned = results
    assert checked.code == 0, checked.err
    assert "created property revrules_segment" in checked.out
    assert applied.code == 0, applied.err
    assert "failed 0" in applied.err
    assert replanned.code == 0, replanned.out


# -- a Free/Starter portal's burst limit in steady state -------------------------------------------

SEGMENTS = RULES.split("territories:", maxsplit=1)[0]


def test_a_free_portal_sees_no_429_in_steady_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    """Free and Starter portals allow 100 requests per 10 s (HubSpot "API usage guidelines and
    limits"); every answer carries `X-HubSpot-RateLimit-Max`, `-Remaining` and
    `-Interval-Milliseconds`. revrules is configured for 190 (the default) and must pace itself
    to the portal's headers: an apply of 10,000 companies (over two hundred calls, several windows)
    gets no 429. The window is scaled to 1 s, which the emulator's interval header reports.
    """
    monkeypatch.setattr(emulator_module, "BURST_WINDOW_SECONDS", 1.0)
    records = [{"id": str(1000 + i), "numberofemployees": str((i * 37) % 5000)} for i in range(10_000)]
    with emulator_module.HubSpotEmulator(records, burst_limit=100, search_limit=None) as emulator:
        config = write_project(tmp_path, emulator.url, monkeypatch, rules=SEGMENTS)
        routing = "  territory: revrules_territory\n  owner: hubspot_owner_id\n"
        config.write_text(config.read_text().replace(routing, ""))
        assert cli("check", "-c", config, "--online", "--create-properties").code == 0
        applied = cli("apply", "-c", config, "--yes", "--json")
        assert applied.code == 0, applied.err
        assert applied.json()["written"] == 10_000
        assert len(emulator.request_log) > 2 * 100  # more than two windows' worth of requests
        assert emulator.count(status=429) == 0
