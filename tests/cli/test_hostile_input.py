"""Hostile rulebooks, configs and CSV files: each ends in one line on stderr and exit 2, and never hangs."""

from __future__ import annotations

from pathlib import Path

import pytest

from revrules.testing.harness import Cli, run_process

CHAIN = " and ".join(["employees > 1"] * 5000)
BOMB = "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
RULEBOOKS = {
    "alias bomb": ("a: &a [x,x,x,x,x,x,x,x,x]\n" + BOMB,
                   "invalid YAML: aliases expand to more than 500,000 nodes"),
    "alias to itself": ("a: &a [*a]\n", "1:4: invalid YAML: an alias refers to itself"),
    "too many aliases": ("a: &a 1\n" + "".join(f"b{i}: *a\n" for i in range(1001)),
                         "1002:8: invalid YAML: more than 1,000 aliases"),
    "flow nested 100,000 deep": ("a: " + "[" * 100_000 + "]" * 100_000 + "\n",
                                 "invalid YAML: nested more than 100 levels deep"),
    "block nested 150 deep": ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 150)),
                              "invalid YAML: nested more than 100 levels deep"),
    "python tag on a mapping": ("version: 1\ndecisions: !!python/object:os.system {}\n",
                                "2:12: decisions: unsupported YAML tag tag:yaml.org,2002:python/object:os.system"),
    "python tag on a list": ("version: 1\nlists: !!python/tuple [1]\n",
                             "2:8: lists: unsupported YAML tag tag:yaml.org,2002:python/tuple"),
    "set tag": ("version: 1\nlists: !!set {a: null}\n", "2:8: lists: unsupported YAML tag tag:yaml.org,2002:set"),
    "python tag on a scalar": ("version: 1\nlists: !!python/name:os.system x\n",
                               "2:8: lists: unsupported YAML tag tag:yaml.org,2002:python/name:os.system"),
    "5,000-term and chain": (f'version: 1\ndecisions:\n  big:\n    hit: any\n    rules:\n      - when: "{CHAIN}"\n',
                             "6:15: decisions.big.rules[0].when: expression nested more than 100 levels deep"),
    "catastrophic regex run row by row": (
        "version: 1\ndecisions:\n  odd:\n    hit: any\n    rules:\n"
        "      - when: \"name =~ '(a+)+$' and name =~ '(?<=x)y'\"\n",
        "6:15: decisions.odd.rules[0].when: regex '(a+)+$' can take exponential time on non-matching text"),
}
CSV_FILES = {
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "accounts.csv: line 3: contains a NUL byte"),
    "invalid UTF-8": (b"Id,Name\nA1,Gr\xf6\xdfe\n", "accounts.csv: line 2, byte 6: not valid UTF-8 (0xF6)"),
    "ragged row": (b"Id,Name\nA1,x\nA2,y,z\n", "accounts.csv: line 3: 3 fields, but the header has 2"),
    "unclosed quote": (b'Id,Name\nA1,"never closed\nA2,y\n', "accounts.csv: line 2: a quoted field is never closed"),
    "empty": (b"", "accounts.csv: line 1: the file is empty"),
}


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("name", list(RULEBOOKS))
def test_hostile_rulebook_is_one_line_and_exit_2(cli: Cli, starter: Path, name: str) -> None:
    text, message = RULEBOOKS[name]
    (starter.parent / "rules" / "hostile.yaml").write_text(text)
    result = cli("check", "-c", starter)
    assert result.code == 2
    line = _one_error_line(result.err)
    assert line.startswith("error: ") and "hostile.yaml:" in line and message in line, line


@pytest.mark.parametrize("name", list(CSV_FILES))
def test_unreadable_csv_is_one_line_with_its_line_number_and_exit_2(cli: Cli, starter: Path, name: str) -> None:
    data, message = CSV_FILES[name]
    (starter.parent / "accounts.csv").write_bytes(data)
    result = cli("plan", "-c", starter)
    assert result.code == 2, result.err
    assert message in _one_error_line(result.err)


def test_csv_headers_with_spaces_and_non_ascii_letters_can_be_sources(cli: Cli, starter: Path) -> None:
    folder = starter.parent
    csv_text = (folder / "accounts.csv").read_text()
    (folder / "accounts.csv").write_text(csv_text.replace("Name,", "Account Name,", 1)
                                         .replace("NumberOfEmployees", "Größe", 1))
    starter.write_text(starter.read_text().replace("name: Name", "name: Account Name")
                       .replace("source: NumberOfEmployees", "source: Größe"))
    result = cli("plan", "--json", "-c", starter)
    assert result.code == 0, result.err
    assert {c["field"] for c in result.json()["changes"]} >= {"Segment__c"}


def test_crm_field_names_say_exactly_what_they_allow(cli: Cli, starter: Path) -> None:
    starter.write_text(starter.read_text().replace("segment: Segment__c", "segment: Segment-c"))
    result = cli("check", "-c", starter)
    assert result.code == 2
    assert "outputs.segment: must be a CRM field name: letters, digits, '_' and '.', starting with a letter " \
           "(no '-' or spaces)" in _one_error_line(result.err)


def test_a_hubspot_source_must_be_an_api_name(cli: Cli, starter: Path) -> None:
    text = starter.read_text()
    crm = text[text.index("crm:"):text.index("fields:")]
    starter.write_text(text.replace(crm, "crm: {kind: hubspot, access_token: x}\n")
                       .replace("name: Name", "name: Account Name"))
    result = cli("check", "-c", starter)
    assert result.code == 2
    assert "fields.name: hubspot field names are letters" in _one_error_line(result.err)


@pytest.mark.parametrize("name", ["alias bomb", "catastrophic regex run row by row"])
def test_hostile_rulebooks_end_plan_as_a_process_within_a_bound(starter: Path, name: str) -> None:
    # The starter holds few records; 30 a's make `(a+)+$` run for hours if it is ever evaluated.
    with (starter.parent / "accounts.csv").open("a") as handle:
        handle.write("Z1," + "a" * 30 + "!,5,Software,US,,,\n")
    (starter.parent / "rules" / "hostile.yaml").write_text(RULEBOOKS[name][0])
    result = run_process("plan", "-c", starter, timeout=120)  # the bound is generous; it fails in ~2 s
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
