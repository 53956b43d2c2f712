"""Tests for the CSV connector: reading an export, atomic write-back, list files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl
import pytest

from revrules.connectors import csvread
from revrules.connectors.base import RecordUpdate, WriteResult
from revrules.connectors.csvfile import CsvConnector
from revrules.errors import CrmError, InvalidInputError

EXPORT = (
    "Id,Name,NumberOfEmployees,AnnualRevenue,Segment__c\n"
    '001A,"Acme, Inc",1200,950000000.0,SMB\n'
    "001B,Globex,,1.50E+3,\n"
    '001C,"Initech ""Labs""",00042,"",Mid-Market\n'
)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text(EXPORT, encoding="utf-8")
    return path


def connector(path: Path, **options: object) -> CsvConnector:
    return CsvConnector(path, "Id", **options)  # type: ignore[arg-type]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- reading --------------------------------------------------------------------------


def test_read_returns_id_and_fields_as_raw_text(export: Path) -> None:
    frame = connector(export).read(["NumberOfEmployees", "AnnualRevenue"])
    assert frame.schema == pl.Schema(
        {"__id": pl.String, "NumberOfEmployees": pl.String, "AnnualRevenue": pl.String}
    )
    assert frame.rows() == [
        ("001A", "1200", "950000000.0"),
        ("001B", None, "1.50E+3"),
        ("001C", "00042", None),
    ]


def test_empty_cells_read_as_null_whether_quoted_or_not(export: Path) -> None:
    frame = connector(export).read(["NumberOfEmployees", "AnnualRevenue", "Segment__c"])
    assert frame.filter(pl.col("__id") == "001B")["NumberOfEmployees"].to_list() == [None]
    assert frame.filter(pl.col("__id") == "001C")["AnnualRevenue"].to_list() == [None]
    assert frame["Segment__c"].to_list() == ["SMB", None, "Mid-Market"]


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfId,Name\n1,Acme\n")
    source = connector(path)
    assert source.columns() == ["Id", "Name"]
    assert source.read(["Name"]).rows() == [("1", "Acme")]


def test_columns_is_the_input_header(export: Path) -> None:
    expected = ["Id", "Name", "NumberOfEmployees", "AnnualRevenue", "Segment__c"]
    assert connector(export).columns() == expected


def test_duplicate_ids_are_listed_with_their_count(tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    rows = [f"{i % 12},x" for i in range(40)]
    path.write_text("Id,Name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        connector(path).read(["Name"])
    message = str(caught.value)
    assert "12 duplicate id(s): 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ..." in message
    assert "10, 11" not in message


def test_a_missing_id_column_suggests_the_closest_column(export: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"'ID' is not in the header \(did you mean 'Id'"):
        CsvConnector(export, "ID").read(["Name"])


def test_every_unknown_field_is_reported_at_once(export: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        connector(export).read(["Nmae", "Totally"])
    assert "'Nmae' (did you mean 'Name'?)" in str(caught.value)
    assert "no column 'Totally'" in str(caught.value)


def test_empty_ids_are_an_error_naming_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text('Id,Name\n1,a\n,b\n"",c\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"empty on 2 row\(s\) \(lines 3, 4\)"):
        connector(path).read(["Name"])


def test_a_repeated_header_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "repeat.csv"
    path.write_text("Id,Name,Name\n1,a,b\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="repeats column"):
        connector(path).read(["Name"])


def test_a_missing_file_is_a_crm_error(tmp_path: Path) -> None:
    source = connector(tmp_path / "absent.csv")
    with pytest.raises(CrmError, match=r"cannot read .*absent\.csv"):
        source.read(["Name"])
    with pytest.raises(CrmError):
        source.columns()


def test_a_file_that_is_not_utf8_is_invalid_input_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Id,Name\n1,Société\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match=r"line 2, byte 7: not valid UTF-8 \(0xE9\)"):
        connector(path).read(["Name"])


def test_a_write_field_not_yet_in_the_file_reads_as_null(export: Path) -> None:
    frame = connector(export, write_fields=["Territory__c"]).read(["Territory__c"])
    assert frame["Territory__c"].to_list() == [None, None, None]


def test_reads_see_changes_made_to_the_file_by_others(export: Path) -> None:
    source = connector(export)
    assert source.read(["Name"])["Name"][1] == "Globex"
    time.sleep(0.01)
    export.write_text(EXPORT.replace("Globex", "Globex Corp"), encoding="utf-8")
    assert source.read(["Name"])["Name"][1] == "Globex Corp"


# -- writing --------------------------------------------------------------------------


def test_write_in_place_replaces_and_appends_columns_keeping_the_rest(export: Path) -> None:
    source = connector(export, write_fields=["Segment__c", "Territory__c"])
    results = source.write(
        [
            RecordUpdate("001B", {"Segment__c": "Enterprise", "Territory__c": "NA-ENT"}),
            RecordUpdate("001A", {"Territory__c": "EMEA"}),
        ]
    )
    assert results == [
        WriteResult("001B", "Segment__c", ok=True),
        WriteResult("001B", "Territory__c", ok=True),
        WriteResult("001A", "Territory__c", ok=True),
    ]
    assert export.read_text(encoding="utf-8") == (
        "Id,Name,NumberOfEmployees,AnnualRevenue,Segment__c,Territory__c\n"
        '001A,"Acme, Inc",1200,950000000.0,SMB,EMEA\n'
        "001B,Globex,,1.50E+3,Enterprise,NA-ENT\n"
        '001C,"Initech ""Labs""",00042,"",Mid-Market,\n'
    )


def test_a_separate_output_leaves_the_input_untouched(export: Path, tmp_path: Path) -> None:
    output = tmp_path / "out" / "accounts.csv"
    output.parent.mkdir()
    source = connector(export, output=output, write_fields=["Segment__c"])
    source.write([RecordUpdate("001C", {"Segment__c": "Enterprise"})])
    assert export.read_text(encoding="utf-8") == EXPORT
    assert output.read_text(encoding="utf-8") == EXPORT.replace("Mid-Market", "Enterprise")


def test_read_after_write_to_a_separate_output_sees_the_written_values(
    export: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.csv"
    fields = ["Segment__c", "Territory__c"]
    connector(export, output=output, write_fields=fields).write(
        [RecordUpdate("001A", {"Segment__c": "Enterprise", "Territory__c": "NA"})]
    )
    # A later run with a fresh export: new records keep the input's values.
    export.write_text(EXPORT + "001D,Hooli,5,,SMB\n", encoding="utf-8")
    frame = connector(export, output=output, write_fields=fields).read(["Name", *fields])
    assert frame.rows() == [
        ("001A", "Acme, Inc", "Enterprise", "NA"),
        ("001B", "Globex", None, None),
        ("001C", 'Initech "Labs"', "Mid-Market", None),
        ("001D", "Hooli", "SMB", None),
    ]


def test_fields_not_written_always_come_from_the_input(export: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    connector(export, output=output, write_fields=["Segment__c"]).write(
        [RecordUpdate("001A", {"Segment__c": "Enterprise"})]
    )
    export.write_text(EXPORT.replace("Globex", "Globex Corp"), encoding="utf-8")
    frame = connector(export, output=output, write_fields=["Segment__c"]).read(["Name"])
    assert frame["Name"][1] == "Globex Corp"


def test_a_second_apply_to_a_separate_output_keeps_the_input_column_order(export: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    fields = ["Segment__c", "Territory__c"]
    connector(export, output=output, write_fields=fields).write(
        [RecordUpdate("001A", {"Segment__c": "Enterprise", "Territory__c": "NA"})])
    # A fresh connector reads the input without its written columns and takes them from the output.
    connector(export, output=output, write_fields=fields).write([RecordUpdate("001B", {"Territory__c": "EMEA"})])
    assert output.read_text(encoding="utf-8") == (
        "Id,Name,NumberOfEmployees,AnnualRevenue,Segment__c,Territory__c\n"
        '001A,"Acme, Inc",1200,950000000.0,Enterprise,NA\n'
        "001B,Globex,,1.50E+3,,EMEA\n"
        '001C,"Initech ""Labs""",00042,"",Mid-Market,\n'
    )


def test_records_the_output_lacks_keep_the_input_values_of_written_columns(export: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    connector(export, output=output, write_fields=["Segment__c"]).write(
        [RecordUpdate("001A", {"Segment__c": "Enterprise"})])
    # The export comes back in another order with a record more: the output no longer lines up.
    lines = EXPORT.splitlines(keepends=True)
    export.write_text(lines[0] + "001D,Hooli,5,,SMB\n" + "".join(reversed(lines[1:])), encoding="utf-8")
    frame = connector(export, output=output, write_fields=["Segment__c"]).read(["Name", "Segment__c"])
    assert frame.rows() == [
        ("001D", "Hooli", "SMB"),
        ("001C", 'Initech "Labs"', "Mid-Market"),
        ("001B", "Globex", None),
        ("001A", "Acme, Inc", "Enterprise"),
    ]


def test_a_bom_input_with_a_separate_output_reads_its_ids(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + EXPORT.encode())
    output = tmp_path / "out.csv"
    connector(path, output=output, write_fields=["Segment__c"]).write([RecordUpdate("001B", {"Segment__c": "SMB"})])
    frame = connector(path, output=output, write_fields=["Segment__c"]).read(["Name", "Segment__c"])
    assert frame["__id"].to_list() == ["001A", "001B", "001C"]
    assert frame["Segment__c"].to_list() == ["SMB", "SMB", "Mid-Market"]
    assert output.read_bytes().startswith(b"\xef\xbb\xbfId,Name,")


def test_the_input_problems_are_reported_before_the_output_ones(export: Path, tmp_path: Path) -> None:
    export.write_text(EXPORT + "001A,Again,1,,\n", encoding="utf-8")
    output = tmp_path / "out.csv"
    output.write_text("Name,Segment__c\nAcme,SMB\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="duplicate id"):
        connector(export, output=output, write_fields=["Segment__c"]).read(["Segment__c"])
    export.write_text(EXPORT, encoding="utf-8")
    with pytest.raises(CrmError, match="id column 'Id' is not in the header"):
        connector(export, output=output, write_fields=["Segment__c"]).read(["Segment__c"])


def test_successive_batches_accumulate_in_the_output(export: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    source = connector(export, output=output, write_fields=["Segment__c"])
    source.write([RecordUpdate("001A", {"Segment__c": "One"})])
    source.write([RecordUpdate("001B", {"Segment__c": "Two"})])
    fresh = connector(export, output=output, write_fields=["Segment__c"])
    assert fresh.read(["Segment__c"])["Segment__c"].to_list() == ["One", "Two", "Mid-Market"]


def test_the_id_column_is_never_written(export: Path) -> None:
    results = connector(export).write(
        [RecordUpdate("001A", {"Id": "001Z", "Segment__c": "Enterprise"})]
    )
    assert results == [
        WriteResult("001A", "Id", ok=False, error="the id column cannot be written"),
        WriteResult("001A", "Segment__c", ok=True),
    ]
    assert export.read_text(encoding="utf-8").splitlines()[1].startswith("001A,")


def test_a_batch_written_as_a_frame_lands_like_record_updates_and_reports_only_failures(
    export: Path, tmp_path: Path
) -> None:
    changes = pl.DataFrame({"id": ["001A", "001A", "001Q", "001C"], "field": ["Id", "Segment__c", "Segment__c",
                                                                          "Segment__c"],
                            "after": ["001Z", "Enterprise", "SMB", None]})
    by_frame = connector(export, output=tmp_path / "frame.csv").write_frame(changes)
    assert by_frame.rows() == [("001A", "Id", "the id column cannot be written"),
                               ("001Q", "Segment__c", "record not found")]
    by_updates = connector(export, output=tmp_path / "updates.csv").write([
        RecordUpdate("001A", {"Id": "001Z", "Segment__c": "Enterprise"}), RecordUpdate("001Q", {"Segment__c": "SMB"}),
        RecordUpdate("001C", {"Segment__c": None})])
    assert [(r.record_id, r.field, r.error) for r in by_updates if not r.ok] == by_frame.rows()
    assert (tmp_path / "frame.csv").read_bytes() == (tmp_path / "updates.csv").read_bytes()


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (1200, "1200"),
        (1200.0, "1200"),
        (-3.0, "-3"),
        (12.5, "12.5"),
        (0.1, "0.1"),
        ("Mid-Market", "Mid-Market"),
        ("a;b", "a;b"),
        ("  spaced  ", "  spaced  "),
        ("Smith, Jones", '"Smith, Jones"'),
    ],
)
def test_values_are_written_in_the_csv_representation(
    export: Path, value: object, cell: str
) -> None:
    connector(export, write_fields=["Out"]).write([RecordUpdate("001A", {"Out": value})])  # type: ignore[dict-item]
    first_row = export.read_text(encoding="utf-8").splitlines()[1]
    assert first_row == f'001A,"Acme, Inc",1200,950000000.0,SMB,{cell}'


def test_the_last_update_of_a_cell_in_a_batch_wins(export: Path) -> None:
    source = connector(export, write_fields=["Segment__c"])
    results = source.write(
        [
            RecordUpdate("001A", {"Segment__c": "First"}),
            RecordUpdate("001A", {"Segment__c": "Second"}),
        ]
    )
    assert [result.ok for result in results] == [True, True]
    assert source.read(["Segment__c"])["Segment__c"][0] == "Second"


def test_a_bom_in_the_input_is_kept_in_the_output(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfId,Name\n1,Acme\n")
    connector(path, write_fields=["Segment__c"]).write([RecordUpdate("1", {"Segment__c": "SMB"})])
    assert path.read_bytes() == b"\xef\xbb\xbfId,Name,Segment__c\n1,Acme,SMB\n"


def test_an_empty_batch_writes_nothing(export: Path) -> None:
    before = export.stat().st_mtime_ns
    assert connector(export).write([]) == []
    assert export.stat().st_mtime_ns == before


# -- atomicity ------------------------------------------------------------------------


def test_a_write_leaves_no_temporary_files(export: Path) -> None:
    source = connector(export, write_fields=["Segment__c"])
    for segment in ("A", "B", "C"):
        source.write([RecordUpdate("001A", {"Segment__c": segment})])
    assert leftovers(export.parent) == []


def test_a_failed_replace_keeps_the_previous_file_and_removes_the_temporary(
    export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = connector(export, write_fields=["Segment__c"])
    source.write([RecordUpdate("001A", {"Segment__c": "Committed"})])
    committed = export.read_bytes()

    def refuse(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(CrmError, match="No space left on device"):
        source.write([RecordUpdate("001B", {"Segment__c": "Lost"})])
    monkeypatch.undo()

    assert export.read_bytes() == committed
    assert leftovers(export.parent) == []
    # The connector did not keep the lost batch either.
    assert source.read(["Segment__c"])["Segment__c"].to_list() == [
        "Committed",
        None,
        "Mid-Market",
    ]


def test_a_failure_while_writing_the_temporary_keeps_the_previous_file(
    export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(CrmError, match="Input/output error"):
        connector(export, write_fields=["Segment__c"]).write(
            [RecordUpdate("001A", {"Segment__c": "X"})]
        )
    monkeypatch.undo()
    assert export.read_text(encoding="utf-8") == EXPORT
    assert leftovers(export.parent) == []


def test_a_missing_output_folder_is_created(export: Path, tmp_path: Path) -> None:
    source = connector(export, output=tmp_path / "missing" / "out.csv")
    source.write([RecordUpdate("001A", {"Segment__c": "X"})])
    assert (tmp_path / "missing" / "out.csv").exists()


def test_an_unwritable_output_folder_is_a_crm_error(export: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    source = connector(export, output=tmp_path / "a-file" / "out.csv")
    with pytest.raises(CrmError, match=r"cannot (read|write)"):
        source.write([RecordUpdate("001A", {"Segment__c": "X"})])


def test_a_rewritten_file_keeps_its_permissions(export: Path) -> None:
    export.chmod(0o640)
    connector(export, write_fields=["Segment__c"]).write(
        [RecordUpdate("001A", {"Segment__c": "X"})]
    )
    assert export.stat().st_mode & 0o777 == 0o640


# -- lists ----------------------------------------------------------------------------


def test_list_writes_sorted_unique_members_under_the_id_header(
    export: Path, tmp_path: Path
) -> None:
    lists = tmp_path / "lists" / "nested"
    connector(export, lists_dir=lists).write_list_changes("ent-healthcare", "EH", ["001C", "001A", "001C"], [])
    assert (lists / "ent-healthcare.csv").read_text(encoding="utf-8") == "Id\n001A\n001C\n"
    assert leftovers(lists) == []


def test_a_list_with_no_members_writes_the_header_only(export: Path, tmp_path: Path) -> None:
    connector(export, lists_dir=tmp_path).write_list_changes("empty", "Empty", [], [])
    assert (tmp_path / "empty.csv").read_text(encoding="utf-8") == "Id\n"


def test_list_changes_replace_the_previous_membership(export: Path, tmp_path: Path) -> None:
    source = connector(export, lists_dir=tmp_path)
    source.write_list_changes("abm", "ABM", ["001A", "001B"], [])
    source.write_list_changes("abm", "ABM", ["001C"], ["001A", "001B"])
    assert (tmp_path / "abm.csv").read_text(encoding="utf-8") == "Id\n001C\n"


def test_list_writes_need_a_lists_dir(export: Path) -> None:
    with pytest.raises(InvalidInputError, match="no lists_dir"):
        connector(export).write_list_changes("abm", "ABM", ["001A"], [])


@pytest.mark.parametrize("list_id", ["../escape", "a/b", "", ".hidden"])
def test_list_writes_refuse_ids_that_are_not_file_names(
    export: Path, tmp_path: Path, list_id: str
) -> None:
    with pytest.raises(InvalidInputError, match="list id"):
        connector(export, lists_dir=tmp_path).write_list_changes(list_id, "L", ["001A"], [])


def test_write_list_changes_applies_adds_and_removes_to_the_file(export: Path, tmp_path: Path) -> None:
    source = connector(export, lists_dir=tmp_path)
    source.write_list_changes("abm", "ABM accounts", ["001A", "001B"], [])
    results = source.write_list_changes("abm", "ABM accounts", ["001C", "001C"], ["001A"])
    assert (tmp_path / "abm.csv").read_text(encoding="utf-8") == "Id\n001B\n001C\n"
    assert [(r.record_id, r.action, r.ok) for r in results] == [("001C", "add", True), ("001A", "remove", True)]
    assert source.list_members("abm", "ABM accounts") == {"001B", "001C"}


# -- scale ----------------------------------------------------------------------------


def _large_export(path: Path, n: int) -> CsvConnector:
    pl.select(
        pl.format("001{}", pl.int_range(n).cast(pl.String).str.pad_start(12, "0")).alias("Id"),
        pl.lit("Acme, Inc").alias("Name"),
        (pl.int_range(n) % 5000).cast(pl.String).alias("NumberOfEmployees"),
        pl.lit("2024-01-31T10:00:00.000+0000").alias("LastModifiedDate"),
        pl.lit("SMB").alias("Segment__c"),
    ).write_csv(path)
    return CsvConnector(path, "Id", output=path.with_name("out.csv"), write_fields=["Segment__c", "Territory__c"])


def _write_all(source: CsvConnector) -> tuple[list[WriteResult], float, float]:
    """Read every record, write two fields to each; the results and both durations."""
    started = time.perf_counter()
    frame = source.read(["NumberOfEmployees", "Segment__c", "Territory__c"])
    read_seconds = time.perf_counter() - started
    updates = [RecordUpdate(record_id, {"Segment__c": "Mid-Market", "Territory__c": "NA"})
               for record_id in frame["__id"]]
    started = time.perf_counter()
    results = source.write(updates)
    return results, read_seconds, time.perf_counter() - started


def _assert_all_written(path: Path, results: list[WriteResult], n: int) -> None:
    assert len(results) == 2 * n
    assert all(result.ok for result in results)
    again = CsvConnector(
        path, "Id", output=path.with_name("out.csv"), write_fields=["Segment__c", "Territory__c"]
    ).read(["Segment__c", "Territory__c"])
    assert again.select(pl.col("Segment__c").eq("Mid-Market").all()).item()
    assert again.select(pl.col("Territory__c").eq("NA").all()).item()


def test_every_record_of_a_large_file_is_read_and_written(tmp_path: Path) -> None:
    n = 20_000
    path = tmp_path / "large.csv"
    results, _, _ = _write_all(_large_export(path, n))
    _assert_all_written(path, results, n)


def test_long_texts_that_repeat_read_and_write_back_as_they_were(tmp_path: Path) -> None:
    n = 30_000
    path = tmp_path / "large.csv"
    lines = pl.select(
        pl.format("001{}", pl.int_range(n).cast(pl.String).str.pad_start(12, "0")).alias("Id"),
        pl.format("segment=smb, territory=NA-{} @rulebook:abc1234 " + "x" * 80,
                  (pl.int_range(n) % 40).cast(pl.String)).alias("Reason__c"),
        pl.when(pl.int_range(n) % 3 == 0).then(pl.lit("t" * 100 + ", quoted \"too\"")).alias("Note"),
    )
    lines.write_csv(path)
    source = CsvConnector(path, "Id", output=path.with_name("out.csv"), write_fields=["Reason__c"])
    assert source.read(["Reason__c", "Note"]).drop("__id").equals(lines.drop("Id"))
    source.write([RecordUpdate("001000000000001", {"Reason__c": "changed"})])
    expected = lines.with_columns(pl.when(pl.col("Id") == "001000000000001").then(pl.lit("changed"))
                                  .otherwise(pl.col("Reason__c")).alias("Reason__c"))
    assert pl.read_csv(path.with_name("out.csv"), infer_schema=False).equals(expected)


def test_long_texts_read_as_categories_keep_every_cell_as_written(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Long texts that repeat in the first records are read as categories and come back as the same text.

    Cells hold line ends, quotes, commas, surrounding spaces, quoted and unquoted empty cells;
    the second column repeats in its first records only, the rest of it all distinct.
    """
    monkeypatch.setattr(csvread, "_SHARED_FROM_BYTES", 0)  # a file this small is otherwise read as text
    n = 12_000
    spaced = " " * 70
    tricky = ["line\nend " + "x" * 70, 'a "quoted", text ' + "y" * 70, spaced, "\u00fcn\u00efc\u00f6d\u00e9 " * 12]
    row = pl.int_range(n)
    frame = pl.select(
        pl.format("001{}", row.cast(pl.String).str.zfill(9)).alias("Id"),
        pl.when(row % 7 == 0).then(None).otherwise(
            pl.lit(pl.Series(tricky)).gather(row % len(tricky))).alias("Reason"),
        pl.when(row < 6_000).then(pl.lit("z" * 90)).otherwise(pl.format("{}" + "w" * 80, row)).alias("Later"),
    )
    path = tmp_path / "reasons.csv"
    frame.write_csv(path)
    path.write_text(path.read_text().replace(f"001000000007,,{'z' * 90}", f'001000000007,"",{"z" * 90}'))
    assert csvread._shared_columns(path, None) == {"Reason": pl.Categorical(), "Later": pl.Categorical()}
    read = CsvConnector(path, "Id").read(["Reason", "Later"])
    assert read.schema == {"__id": pl.String, "Reason": pl.String, "Later": pl.String}
    assert read.drop("__id").equals(frame.drop("Id"))  # the quoted empty cell is null too


@pytest.mark.benchmark
def test_a_large_file_reads_and_writes_in_seconds(tmp_path: Path) -> None:
    n = 200_000
    path = tmp_path / "large.csv"
    results, read_seconds, write_seconds = _write_all(_large_export(path, n))
    assert read_seconds < 5, f"read took {read_seconds:.1f} s"
    assert write_seconds < 15, f"write took {write_seconds:.1f} s"
    _assert_all_written(path, results, n)
