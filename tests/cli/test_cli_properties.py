"""Invariants of plan and apply over generated account tables (hypothesis)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revrules.cli import main
from tests.cli.projects import FORMAT_RULES, write_project

ROUTED_RULES = FORMAT_RULES.replace(
    "tests:",
    """\
territories:
  output: territory
  owner_output: owner
  tree:
    - id: BIG
      when: "segment == 'Big'"
      owners: [{id: O1, weight: 2, capacity: 3}, {id: O2, capacity: 2}]
    - id: REST
      when: "true"
      owners: [{id: O3}, {id: O4}]
lists:
  - id: disqualified
    name: Disqualified accounts
    when: "disqualified"
tests:""",
)
ROUTED_OUTPUTS = "  territory: Territory__c\n  owner: OwnerId\n"
COLUMNS = ["Id", "Emp", "Mrr", "Domain", "OwnerId", "Segment__c", "Arr__c", "Anti__c", "Dq__c"]

employees = st.one_of(st.just(""), st.integers(0, 5000).map(str), st.sampled_from(["1,200", "150.0", "n/a"]))
mrr = st.one_of(st.just(""), st.integers(0, 999).map(str), st.sampled_from(["10.5", "100.0", "0.25"]))
account = st.fixed_dictionaries(
    {
        "Emp": employees,
        "Mrr": mrr,
        "Domain": st.sampled_from(["", "a.edu", "b.com", "C.EDU"]),
        "OwnerId": st.sampled_from(["", "O1", "O2", "O3", "O4", "OX"]),
        "Segment__c": st.sampled_from(["", "Big", "Small", " Small "]),
        "Arr__c": st.sampled_from(["", "1200", "1200.0", "0"]),
        "Anti__c": st.sampled_from(["", "Zeta", "Alpha;Zeta", "Zeta;Alpha"]),
        "Dq__c": st.sampled_from(["", "true", "false"]),
    }
)
tables = st.lists(account, min_size=1, max_size=12).map(
    lambda rows: [{"Id": f"00{index:03d}", **row} for index, row in enumerate(rows)]
)


def _csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _run(*args: object) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    assert code in (0, 1), err.getvalue()
    return code, out.getvalue()


def _project(folder: Path, rows: list[dict[str, str]]) -> Path:
    config = write_project(folder, _csv(rows), rules=ROUTED_RULES, extra_crm=", lists_dir: lists")
    config.write_text(config.read_text() + ROUTED_OUTPUTS)
    return config


def _plan(config: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_run("plan", "--json", "-c", config)[1])
    data.pop("meta")
    return data


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=tables)
def test_apply_then_plan_on_unchanged_data_is_empty(rows: list[dict[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = _project(Path(folder), rows)
        code, _ = _run("apply", "--yes", "--force", "-c", config)
        assert code == 0
        again = _plan(config)
        assert again["changes"] == []
        assert again["list_changes"] == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=tables, data=st.data())
def test_input_row_order_does_not_change_the_plan(rows: list[dict[str, str]], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(rows))
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        in_order = _plan(_project(Path(first), rows))
        reordered = _plan(_project(Path(second), list(shuffled)))

    def canonical(plan: dict[str, Any]) -> dict[str, Any]:
        return {
            key: sorted(map(json.dumps, value)) if isinstance(value, list) else value for key, value in plan.items()
        }

    assert canonical(reordered) == canonical(in_order)


def test_data_quality_names_the_smallest_bad_id_whatever_the_row_order(tmp_path: Path) -> None:
    rows = [{"Id": f"00{i:03d}", **dict.fromkeys(COLUMNS[1:], ""), "Emp": "n/a"} for i in range(3)]
    first = _plan(_project(tmp_path / "a", rows))["data_quality"]
    second = _plan(_project(tmp_path / "b", rows[::-1]))["data_quality"]
    assert first == second
    assert first[0]["example_id"] == "00000"
