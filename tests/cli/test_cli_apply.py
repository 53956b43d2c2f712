"""`revrules apply`: confirmation, safety guard, saved plans, drift, write failures, CSV values."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest

from revrules.connectors.base import RecordUpdate, WriteResult
from revrules.connectors.protocols import Connector
from revrules.project import Project
from revrules.testing.harness import Cli, by_id, ledger_rows, read_csv, run_process
from tests.cli.projects import write_project

FORMAT_ACCOUNTS = "Id,Emp,Mrr,Domain,Arr__c\nA1,2,100,x.edu,\nA2,2000,10.5,y.com,5\nA3,50,,z.com,7\n"


def _runs(starter: Path) -> list[tuple[str, str]]:
    return ledger_rows(starter.parent / ".revrules", "SELECT command, status FROM runs ORDER BY id")


def _set_limit(starter: Path, limit: str) -> None:
    text = starter.read_text()
    starter.write_text(re.sub(r"max_changed_records: \S+", f"max_changed_records: {limit}", text))


def test_apply_yes_writes_the_output_csv_and_lists(starter: Path, cli: Cli) -> None:
    result = cli("apply", "-c", starter, "--yes")
    assert result.code == 0, result.err
    assert "Run 1: succeeded. 29 field(s) written." in result.out
    out = by_id(starter.parent / "out" / "accounts.csv")
    assert out["0015e000001A001"]["Segment__c"] == "Enterprise"
    assert out["0015e000001A001"]["Territory__c"] == "NA-ENT"
    assert out["0015e000001A005"]["Segment__c"] == "Strategic"
    assert out["0015e000001A007"]["Segment__c"] == "Unclassified"
    assert out["0015e000001A001"]["Segmentation_Reason__c"].endswith(f"@rulebook:{_rulebook_hash(cli, starter)[:7]}")
    assert out["0015e000001A003"]["NumberOfEmployees"] == "1,200"  # untouched cells round-trip
    assert list(by_id(starter.parent / "out" / "lists" / "enterprise-abm.csv")) == ["0015e000001A001"]
    assert (starter.parent / "accounts.csv").read_text().startswith("Id,Name,NumberOfEmployees")
    assert not [p for p in (starter.parent / "out").iterdir() if p.name.endswith(".tmp")]
    written = ledger_rows(starter.parent / ".revrules", "SELECT COUNT(*) FROM writes WHERE result = 'written'")
    assert written == [(29,)]


def _rulebook_hash(cli: Cli, starter: Path) -> str:
    return str(cli("plan", "-c", starter, "--json").json()["meta"]["rulebook_hash"])


def test_apply_json_reports_the_run(starter: Path, cli: Cli) -> None:
    result = cli("apply", "-c", starter, "--yes", "--json")
    assert result.code == 0
    data = result.json()
    assert data["status"] == "succeeded"
    assert data["written"] == 29
    assert data["failed"] == []
    assert data["list_changes_written"] == 1


def test_apply_without_yes_refuses_when_stdin_is_not_a_terminal(starter: Path, cli: Cli) -> None:
    result = cli("apply", "-c", starter)
    assert result.code == 2
    assert "stdin is not a terminal" in result.err
    assert "--yes" in result.err
    assert not (starter.parent / "out").exists()
    assert _runs(starter) == [("apply", "refused")]


def test_apply_without_yes_in_a_real_process_writes_nothing(starter: Path) -> None:
    result = run_process("apply", "-c", starter)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert not (starter.parent / "out").exists()


def test_apply_with_nothing_to_change_succeeds_without_confirmation(starter: Path, cli: Cli) -> None:
    assert cli("apply", "-c", starter, "--yes").code == 0
    result = cli("apply", "-c", starter)
    assert result.code == 0
    assert "No changes" in result.out


@pytest.mark.parametrize("limit", ["7", "80%"])
def test_safety_guard_refuses_with_exit_3_and_records_the_refusal(starter: Path, cli: Cli, limit: str) -> None:
    _set_limit(starter, limit)
    result = cli("apply", "-c", starter, "--yes")
    assert result.code == 3
    assert "max_changed_records" in result.err
    assert "--force" in result.err
    assert not (starter.parent / "out").exists()
    assert _runs(starter) == [("apply", "refused")]
    history = cli("history", "-c", starter, "--json").json()
    assert history["runs"][0]["status"] == "refused"


def test_safety_guard_allows_a_plan_within_the_limit(starter: Path, cli: Cli) -> None:
    _set_limit(starter, "8")
    assert cli("apply", "-c", starter, "--yes").code == 0
    _set_limit(starter, "100%")


def test_force_overrides_the_safety_guard(starter: Path, cli: Cli) -> None:
    _set_limit(starter, "10%")
    result = cli("apply", "-c", starter, "--yes", "--force")
    assert result.code == 0, result.err
    assert (starter.parent / "out" / "accounts.csv").is_file()
    assert _runs(starter) == [("apply", "succeeded")]


def test_apply_saved_plan_writes_exactly_that_plan(starter: Path, cli: Cli) -> None:
    saved = starter.parent / "plan.json"
    assert cli("plan", "-c", starter, "-o", saved).code == 0
    # A rulebook change after the plan does not change what the saved plan writes (once forced: SPEC §4).
    rules = starter.parent / "rules" / "segments.yaml"
    rules.write_text(rules.read_text().replace("then: SMB", "then: Small Business"))
    result = cli("apply", saved, "-c", starter, "--yes", "--force")
    assert result.code == 0, result.err
    out = by_id(starter.parent / "out" / "accounts.csv")
    assert out["0015e000001A004"]["Segment__c"] == "SMB"


def test_apply_skips_fields_changed_since_plan(starter: Path, cli: Cli) -> None:
    folder = starter.parent
    saved = folder / "plan.json"
    assert cli("plan", "-c", starter, "-o", saved).code == 0
    # Someone sets a segment in the CRM after the plan was made.
    accounts = folder / "accounts.csv"
    lines = accounts.read_text().splitlines()
    lines[0] += ",Segment__c"
    lines[1:] = [line + (",Hand-set" if line.startswith("0015e000001A002") else ",") for line in lines[1:]]
    accounts.write_text("\n".join(lines) + "\n")
    result = cli("apply", saved, "-c", starter, "--yes", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert [(s["id"], s["field"]) for s in data["skipped"]] == [("0015e000001A002", "Segment__c")]
    assert "changed" in data["skipped"][0]["reason"]
    assert data["written"] == 28
    out = by_id(folder / "out" / "accounts.csv")
    assert out["0015e000001A002"]["Segment__c"] == "Hand-set"
    assert out["0015e000001A002"]["Territory__c"] == "NA-COMM"
    skipped = ledger_rows(folder / ".revrules", "SELECT record_id, field FROM writes WHERE result = 'skipped'")
    assert skipped == [("0015e000001A002", "Segment__c")]
    assert cli("history", "-c", starter, "--json").json()["runs"][0]["skipped"] == 1


def test_apply_saved_plan_text_lists_the_skipped_fields(starter: Path, cli: Cli) -> None:
    folder = starter.parent
    saved = folder / "plan.json"
    assert cli("plan", "-c", starter, "-o", saved).code == 0
    accounts = folder / "accounts.csv"
    accounts.write_text(
        accounts.read_text().replace(
            "Vandelay Industries,8,Other,NO,,", "Vandelay Industries,8,Other,NO,0055e000001ZZZZ,"
        )
    )
    result = cli("apply", saved, "-c", starter, "--yes")
    assert result.code == 0
    assert "1 field(s) skipped:" in result.out
    assert "0015e000001A006 OwnerId: changed in the CRM since the plan was made" in result.out
    assert by_id(folder / "out" / "accounts.csv")["0015e000001A006"]["OwnerId"] == "0055e000001ZZZZ"


def test_write_failure_is_reported_per_field_with_exit_1_and_the_rest_lands(starter: Path, cli: Cli) -> None:
    folder = starter.parent
    saved = folder / "plan.json"
    assert cli("plan", "-c", starter, "-o", saved).code == 0
    accounts = folder / "accounts.csv"
    accounts.write_text(
        "".join(
            line for line in accounts.read_text().splitlines(keepends=True) if not line.startswith("0015e000001A006")
        )
    )
    result = cli("apply", saved, "-c", starter, "--yes")
    assert result.code == 1
    assert re.search(r"field\(s\) failed:", result.out)
    assert "0015e000001A006 Segment__c: record not found" in result.out
    assert "Run 1: partial." in result.out
    out = by_id(folder / "out" / "accounts.csv")
    assert "0015e000001A006" not in out
    assert out["0015e000001A007"]["Segment__c"] == "Unclassified"
    failed = ledger_rows(folder / ".revrules", "SELECT DISTINCT record_id, error FROM writes WHERE result = 'failed'")
    assert failed == [("0015e000001A006", "record not found")]
    run = cli("history", "-c", starter, "--json").json()["runs"][0]
    assert (run["status"], run["failed"], run["written"]) == ("partial", 4, 25)


def test_write_failure_json_lists_id_field_and_reason(starter: Path, cli: Cli) -> None:
    folder = starter.parent
    saved = folder / "plan.json"
    assert cli("plan", "-c", starter, "-o", saved).code == 0
    document = json.loads(saved.read_text())
    document["changes"].append(
        {"id": "NO-SUCH-ID", "field": "Segment__c", "before": None, "after": "SMB", "rule": "smb"}
    )
    saved.write_text(json.dumps(document))
    result = cli("apply", saved, "-c", starter, "--yes", "--force", "--json")
    assert result.code == 1
    assert result.json()["failed"] == [{"id": "NO-SUCH-ID", "field": "Segment__c", "error": "record not found"}]


def test_values_are_written_in_the_csv_format(tmp_path: Path, cli: Cli) -> None:
    config = write_project(tmp_path, FORMAT_ACCOUNTS)
    # An empty result clears a field only where the output says so (the default keeps the CRM's value).
    config.write_text(config.read_text().replace("arr: Arr__c", "arr: {field: Arr__c, on_null: clear}"))
    assert cli("apply", "-c", config, "--yes").code == 0
    out = by_id(tmp_path / "out.csv")
    assert out["A1"]["Dq__c"] == "true"
    assert out["A2"]["Dq__c"] == "false"
    assert out["A1"]["Anti__c"] == "Zeta;Alpha"  # rule order, not sorted
    assert out["A2"]["Anti__c"] == ""  # an empty list is an empty cell
    assert out["A1"]["Arr__c"] == "1200"  # integral: no ".0"
    assert out["A2"]["Arr__c"] == "126"
    assert out["A3"]["Arr__c"] == ""  # null empties the cell
    assert out["A2"]["Score__c"] == "12.5"
    assert out["A1"]["Score__c"] == "10"
    assert read_csv(tmp_path / "out.csv")[0].keys() >= {"Id", "Emp", "Arr__c", "Segment__c"}
    again = cli("plan", "-c", config, "--json").json()
    assert again["changes"] == []


def test_default_output_rewrites_the_input_in_place(tmp_path: Path, cli: Cli) -> None:
    config = write_project(tmp_path, FORMAT_ACCOUNTS)
    config.write_text(config.read_text().replace(", output: out.csv", ""))
    assert cli("apply", "-c", config, "--yes").code == 0
    assert not (tmp_path / "out.csv").exists()
    assert by_id(tmp_path / "accounts.csv")["A2"]["Segment__c"] == "Big"
    assert cli("plan", "-c", config, "--json").json()["changes"] == []


def test_apply_keeps_a_utf8_bom(tmp_path: Path, cli: Cli) -> None:
    config = write_project(tmp_path, FORMAT_ACCOUNTS)
    (tmp_path / "accounts.csv").write_bytes(b"\xef\xbb\xbf" + FORMAT_ACCOUNTS.encode())
    assert cli("apply", "-c", config, "--yes").code == 0
    assert (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbfId,")
    assert cli("plan", "-c", config, "--json").json()["changes"] == []


def test_duplicate_ids_are_an_input_error_listing_them(tmp_path: Path, cli: Cli) -> None:
    config = write_project(tmp_path, FORMAT_ACCOUNTS + "A2,3,1,q.com,\n")
    result = cli("plan", "-c", config)
    assert result.code == 2
    assert "duplicate" in result.err
    assert "A2" in result.err
    assert "Traceback" not in result.err


def test_unreadable_or_foreign_saved_plan_is_exit_2(starter: Path, cli: Cli) -> None:
    folder = starter.parent
    (folder / "junk.json").write_text('{"not": "a plan"}')
    assert cli("plan", "-c", starter, "-o", folder / "plan.json").code == 0
    document = json.loads((folder / "plan.json").read_text())
    document["meta"]["crm"] = "hubspot"
    (folder / "hubspot.json").write_text(json.dumps(document))
    for name, message in (
        ("junk.json", "not a readable revrules plan"),
        ("missing.json", "not a readable revrules plan"),
        ("hubspot.json", "the plan is for a hubspot CRM"),
    ):
        result = cli("apply", folder / name, "-c", starter, "--yes")
        assert result.code == 2, name
        assert message in result.err
        assert len(result.err.splitlines()) == 1
    assert not (folder / "out").exists()


def test_a_crm_failure_mid_run_is_exit_1_and_the_run_is_recorded_as_error(starter: Path, cli: Cli) -> None:
    folder = starter.parent
    (folder / "out").mkdir()
    (folder / "out" / "lists").write_text("a file where the lists folder should be")
    result = cli("apply", "-c", starter, "--yes")
    assert result.code == 1
    assert result.err.splitlines()[-1].startswith("error: cannot write ")
    assert "Traceback" not in result.err
    run = cli("history", "-c", starter, "--json").json()["runs"][0]
    assert (run["status"], run["written"]) == ("error", 29)
    assert "cannot write" in run["message"]
    # The field writes landed before the failure, so the next run only has the list to write.
    (folder / "out" / "lists").unlink()
    data = cli("plan", "-c", starter, "--json").json()
    assert data["changes"] == []
    assert len(data["list_changes"]) == 1


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize(("answer", "code"), [("yes", 0), ("y", 3)])
def test_apply_asks_on_a_terminal_and_only_yes_proceeds(starter: Path, answer: str, code: int) -> None:
    controller, terminal = os.openpty()
    try:
        os.write(controller, f"{answer}\n".encode())
        result = subprocess.run(
            [sys.executable, "-m", "revrules", "apply", "-c", str(starter)],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert result.returncode == code, result.stderr
    assert "Only 'yes' will be accepted" in result.stdout
    assert (starter.parent / "out" / "accounts.csv").exists() == (code == 0)


def test_lists_without_lists_dir_are_a_config_error(starter: Path, cli: Cli) -> None:
    starter.write_text(starter.read_text().replace("  lists_dir: out/lists\n", ""))
    result = cli("plan", "-c", starter)
    assert result.code == 2
    errors = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert errors == ["error: list 'enterprise-abm': no lists_dir is configured for the CSV CRM"]


class _NoLists:
    """A connector with only the core abilities: it cannot keep marketing lists."""

    def __init__(self, inner: Connector) -> None:
        self._inner = inner
        self.kind = inner.kind

    def read(self, fields: Sequence[str]) -> pl.DataFrame:
        return self._inner.read(fields)

    def read_records(self, ids: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
        return self._inner.read_records(ids, fields)

    def write(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        return self._inner.write(updates)

    @property
    def batch_size(self) -> int:
        return self._inner.batch_size


def test_a_connector_that_cannot_write_lists_refuses_before_writing_fields(
    starter: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect = Project.connector
    monkeypatch.setattr(Project, "connector", lambda project: _NoLists(connect(project)))
    result = cli("apply", "-c", starter, "--yes")
    assert result.code == 2
    assert "cannot write marketing lists" in result.err
    assert not (starter.parent / "out" / "accounts.csv").exists()
    run = cli("history", "-c", starter, "--json").json()["runs"][0]
    assert (run["status"], run["written"]) == ("error", 0)
    assert run["finished_at"] is not None
