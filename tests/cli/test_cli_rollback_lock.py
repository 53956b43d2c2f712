"""`revrules rollback`, the run lock, and how errors are shown."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from revrules.testing.harness import Cli, by_id, ledger_rows, run_process


def _edit_output_cell(path: Path, record: str, column: str, value: str) -> None:

    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    for row in rows:
        if row["Id"] == record:
            row[column] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_rollback_restores_overwritten_values_except_fields_changed_since(
    starter: Path, cli: Cli
) -> None:
    folder = starter.parent
    accounts = folder / "accounts.csv"
    # Before the first apply, Initech holds a segment and a reason that the apply overwrites.
    text = accounts.read_text().splitlines()
    text[0] += ",Segment__c"
    text[1:] = [line + (",SMB" if line.startswith("0015e000001A003") else ",") for line in text[1:]]
    accounts.write_text("\n".join(text) + "\n")
    assert cli("apply", "-c", starter, "--yes").code == 0
    output = folder / "out" / "accounts.csv"
    assert by_id(output)["0015e000001A003"]["Segment__c"] == "Mid-Market"
    # Someone edits Acme's territory after the run; rollback must leave that alone.
    _edit_output_cell(output, "0015e000001A001", "Territory__c", "Hand-Edited")

    result = cli("rollback", "1", "-c", starter, "--yes", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert [(s["id"], s["field"]) for s in report["skipped"]] == [
        ("0015e000001A001", "Territory__c")
    ]
    out = by_id(output)
    assert out["0015e000001A003"]["Segment__c"] == "SMB"
    assert out["0015e000001A002"]["Segment__c"] == ""
    assert out["0015e000001A001"]["Segment__c"] == ""
    assert out["0015e000001A001"]["Territory__c"] == "Hand-Edited"
    assert out["0015e000001A001"]["OwnerId"] == "0055e000001AAAA"
    assert out["0015e000001A004"]["OwnerId"] == ""
    assert by_id(folder / "out" / "lists" / "enterprise-abm.csv") == {}
    runs = cli("history", "-c", starter, "--json").json()["runs"]
    assert (runs[0]["command"], runs[0]["status"], runs[0]["skipped"]) == (
        "rollback",
        "succeeded",
        1,
    )
    assert runs[0]["written"] == 28
    rows = ledger_rows(
        folder / ".revrules",
        "SELECT DISTINCT rule FROM writes WHERE run_id = ? AND result = 'written'",
        (2,),
    )
    assert rows == [("rollback:1",)]


def test_rollback_of_a_rollback_reapplies(starter: Path, cli: Cli) -> None:
    assert cli("apply", "-c", starter, "--yes").code == 0
    output = starter.parent / "out" / "accounts.csv"
    applied = output.read_text()
    assert cli("rollback", "1", "-c", starter, "--yes").code == 0
    assert cli("rollback", "2", "-c", starter, "--yes").code == 0
    assert output.read_text() == applied


def test_rollback_without_yes_refuses_when_not_a_terminal(starter: Path, cli: Cli) -> None:
    assert cli("apply", "-c", starter, "--yes").code == 0
    before = (starter.parent / "out" / "accounts.csv").read_bytes()
    result = cli("rollback", "1", "-c", starter)
    assert result.code == 2
    assert (starter.parent / "out" / "accounts.csv").read_bytes() == before


def test_rollback_of_an_unknown_run_is_exit_2(starter: Path, cli: Cli) -> None:
    result = cli("rollback", "42", "-c", starter, "--yes")
    assert result.code == 2
    assert "run 42" in result.err


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from revrules.state.lock import run_lock
    with run_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(30)
""")


@pytest.fixture
def lock_holder(starter: Path):  # type: ignore[no-untyped-def]
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(starter.parent / ".revrules")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "locked"
        yield process
    finally:
        process.kill()
        process.wait()


def test_apply_refuses_with_exit_3_while_another_run_holds_the_lock(
    starter: Path, cli: Cli, lock_holder: subprocess.Popen[str]
) -> None:
    result = cli("apply", "-c", starter, "--yes")
    assert result.code == 3
    assert f"another run holds the lock (pid {lock_holder.pid}, since 20" in result.err
    assert not (starter.parent / "out").exists()
    rollback = cli("rollback", "1", "-c", starter, "--yes")
    assert rollback.code == 3


def test_the_lock_of_a_killed_process_is_taken_over(
    starter: Path, cli: Cli, lock_holder: subprocess.Popen[str]
) -> None:
    lock_holder.kill()
    lock_holder.wait()
    assert cli("apply", "-c", starter, "--yes").code == 0


def test_plan_does_not_need_the_lock(
    starter: Path, cli: Cli, lock_holder: subprocess.Popen[str]
) -> None:
    assert cli("plan", "-c", starter).code == 0


def test_errors_are_one_line_per_problem_without_traceback_unless_debug(starter: Path) -> None:
    accounts = starter.parent / "accounts.csv"
    accounts.write_text(accounts.read_text() + "0015e000001A001,Dup,1,X,US,,\n")
    plain = run_process("plan", "-c", starter)
    assert plain.returncode == 2
    assert plain.stdout == ""
    assert plain.stderr.splitlines() == [
        f"error: {accounts}: id column 'Id' has 1 duplicate id(s): 0015e000001A001"
    ]
    debug = run_process("plan", "-c", starter, "--debug")
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith("error: ")


def test_results_go_to_stdout_and_logs_to_stderr(starter: Path) -> None:
    result = run_process("plan", "--json", "-c", starter)
    assert result.returncode == 0

    assert json.loads(result.stdout)["meta"]["records_read"] == 8
    assert "read 8 records" in result.stderr
    as_json = run_process("plan", "--json", "--log-format", "json", "-c", starter)
    assert json.loads(as_json.stderr.splitlines()[0])["message"] == "read 8 records"


def test_missing_input_file_is_a_readable_error(starter: Path, cli: Cli) -> None:
    (starter.parent / "accounts.csv").unlink()
    result = cli("plan", "-c", starter)
    assert result.code == 1
    assert result.err.startswith("error: cannot read ")
    assert len(result.err.splitlines()) == 1
