"""Terraform-grade plan hygiene: a CI exit code, stale saved plans refused, every transition and value shown."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from revrules.testing.harness import Cli


def test_detailed_exitcode_is_4_with_changes_and_0_once_applied(cli: Cli, starter: Path) -> None:
    assert cli("plan", "-c", starter).code == 0
    assert cli("plan", "--detailed-exitcode", "-c", starter).code == 4
    assert cli("apply", "--yes", "-c", starter).code == 0
    result = cli("plan", "--detailed-exitcode", "-c", starter)
    assert result.code == 0 and "No changes." in result.out


def test_detailed_exitcode_keeps_2_for_an_invalid_rulebook(cli: Cli, starter: Path) -> None:
    (starter.parent / "rules" / "broken.yaml").write_text("version: 1\ndecisions: [\n")
    assert cli("plan", "--detailed-exitcode", "-c", starter).code == 2


def test_apply_refuses_a_saved_plan_from_another_rulebook_or_config_unless_forced(cli: Cli, starter: Path) -> None:
    saved = starter.parent / "plans" / "review.plan.json"
    assert cli("plan", "-o", saved, "-c", starter).code == 0
    rules = starter.parent / "rules" / "segments.yaml"
    rules.write_text(rules.read_text() + "\n# reviewed\n")
    refused = cli("apply", saved, "--yes", "-c", starter)
    assert refused.code == 3
    assert refused.err.strip().splitlines() == [
        f"error: {saved}: the rulebook changed since this plan was made "
        f"({json.loads(saved.read_text())['meta']['created_at']}); make a new plan, or pass --force to apply "
        "this one as it is"]
    starter.write_text(starter.read_text() + "\n# reviewed too\n")
    both = cli("apply", saved, "--yes", "-c", starter)
    assert both.code == 3 and "the rulebook and the config changed since this plan was made" in both.err
    forced = cli("apply", saved, "--yes", "--force", "-c", starter)
    assert forced.code == 0, forced.err
    assert "applying it anyway (--force)" in forced.err


def test_a_saved_plan_with_a_broken_change_is_refused_in_one_line_that_quotes_no_value(
        cli: Cli, starter: Path) -> None:
    """A saved plan's changes are read by polars; a line that is not a change is one error (exit 2), and the
    message names no CRM value from the line (polars' own message would quote it)."""
    saved = starter.parent / "review.plan.json"
    assert cli("plan", "-o", saved, "-c", starter).code == 0
    lines = saved.read_text().splitlines(keepends=True)
    broken = next(i for i, line in enumerate(lines) if '"field":"Segment__c"' in line)
    value = json.loads(lines[broken].strip().rstrip(","))["after"]
    lines[broken] = lines[broken].replace('"after":', '"after" ', 1)
    saved.write_text("".join(lines))
    refused = cli("apply", saved, "--yes", "-c", starter)
    assert refused.code == 2
    assert refused.err.strip().splitlines() == [
        f"error: {saved}: not a readable revrules plan (a change is not a JSON object of id, field, before, "
        "after and rule)"]
    assert value not in refused.err


def test_the_human_plan_shows_every_frequent_transition_and_counts_the_rest(cli: Cli, starter: Path) -> None:
    accounts = starter.parent / "accounts.csv"
    header, *rows = accounts.read_text().splitlines()
    extra = [f"X{i:04d},Company {i},{1 + i % 40},Software,DE,," for i in range(400)]
    accounts.write_text("\n".join([header + ",Segment__c"] + [r + "," for r in rows]
                                  + [f"{r},Old segment {i % 60}" for i, r in enumerate(extra)]) + "\n")
    out = cli("plan", "-c", starter).out
    segment = out[out.index("  Segment__c: "):out.index("  Territory__c: ")]
    shown = [line for line in segment.splitlines() if line.startswith("    Segment__c: ")]
    assert len(shown) >= 10
    assert "    … and " in segment and "more transition(s) covering " in segment
    listed = sum(int(line.rsplit(" ", 1)[1].replace(",", "")) for line in shown)
    more = int(segment.split("covering ")[1].split(" record")[0].replace(",", ""))
    assert listed + more == int(segment.split("Segment__c: ")[1].split(" record")[0].replace(",", ""))


def test_long_values_are_shown_in_full_and_wrapped(cli: Cli, starter: Path) -> None:
    out = cli("plan", "-c", starter).out
    assert "…" not in out
    plan = cli("plan", "--json", "-c", starter).json()
    longest = max((c["after"] for c in plan["changes"] if c["field"] == "Segmentation_Reason__c"), key=len)
    assert len(longest) > 40
    assert f"      after:  {longest}" in out
    assert all(len(line) <= 100 for line in out.splitlines())


def test_plan_show_lists_one_records_changes_with_rules(cli: Cli, starter: Path) -> None:
    plan = cli("plan", "--json", "-c", starter).json()
    record = plan["changes"][0]["id"]
    out = cli("plan", "--show", record, "-c", starter).out
    mine = [c for c in plan["changes"] if c["id"] == record]
    assert out.startswith(f"Record {record}: {len(mine)} field change(s)")
    for change in mine:
        assert f"  {change['field']}    [rule: {change['rule']}]" in out
        assert f"    after:  {change['after']}" in out
    assert cli("plan", "--show", "no-such-id", "-c", starter).out.strip() == "Record no-such-id: no changes planned."


def test_plan_markdown_is_a_pull_request_summary(cli: Cli, starter: Path) -> None:
    result = cli("plan", "--format", "markdown", "--detailed-exitcode", "-c", starter)
    assert result.code == 4
    out = result.out
    assert out.startswith("### revrules plan\n")
    assert "| field | records |" in out and "| `Segment__c` |" in out
    assert "<summary>Top transitions</summary>" in out
    assert "**Owner book moves**" in out
    assert "**Data quality**" in out and "e.g. record `" in out
    cli("apply", "--yes", "-c", starter)
    assert "**No changes.**" in cli("plan", "--format", "markdown", "-c", starter).out


def test_init_writes_a_gitignore_and_a_ci_example(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n.revrules/\n")
    result = cli("init", tmp_path)
    assert result.code == 0
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert ignored[:2] == ["node_modules/", ".revrules/"]
    assert ignored.count(".revrules/") == 1 and "out/" in ignored and "*.plan.json" in ignored
    ci = (tmp_path / "revrules-ci.example.yml").read_text()
    assert "revrules plan --detailed-exitcode --format markdown" in ci
    assert ci.startswith("# ")


def test_plan_json_into_a_pipe_nobody_reads_ends_quietly(starter: Path) -> None:
    """`revrules plan --json | head -1`: when the reader goes away, the command stops with exit 1 and
    no traceback (SPEC §4: an error is readable lines on stderr, no traceback unless --debug)."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte: every write to stdout fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "revrules", "plan", "--json", "-c", str(starter)],
                              stdout=write, stderr=subprocess.PIPE, timeout=120, check=False)
    finally:
        os.close(write)
    assert done.returncode == 1, done.stderr
    assert b"Traceback" not in done.stderr and b"Exception ignored" not in done.stderr, done.stderr


def test_a_plan_that_cannot_be_saved_is_one_line_and_leaves_the_old_plan_whole(starter: Path) -> None:
    """A write that fails part way (here the file size limit, as a full disk would) is a one-line error
    and exit 1; the plan is written to a temporary sibling, so the plan saved before stays as it was and
    no part of the new one is left behind (SPEC §4: no traceback unless --debug)."""
    saved = starter.parent / "review.plan.json"
    saved.write_text("the plan saved before")

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    done = subprocess.run([sys.executable, "-m", "revrules", "plan", "-o", str(saved), "-c", str(starter)],
                          preexec_fn=small_files, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == f"error: cannot write the plan to {saved}: File too large"
    assert "Traceback" not in done.stderr
    assert saved.read_text() == "the plan saved before"
    assert not [path.name for path in starter.parent.iterdir() if path.name.endswith(".tmp")]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this platform")
def test_plan_json_into_a_full_disk_is_one_line(starter: Path) -> None:
    """`revrules plan --json > file` on a full disk (/dev/full answers every write with ENOSPC)."""
    with Path("/dev/full").open("wb") as full:
        done = subprocess.run([sys.executable, "-m", "revrules", "plan", "--json", "-c", str(starter)],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == "error: cannot write the plan to stdout: No space left on device"
