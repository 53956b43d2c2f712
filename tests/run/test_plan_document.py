"""A 10,000-record plan, diffed with one unpivot and written by the streaming writer, equals the old one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from revrules.connectors.base import ID
from revrules.engine.columns import CONFLICT, rule_column
from revrules.engine.convert import FieldSpec, FieldType, convert_frame
from revrules.project import Project, load_project
from revrules.run import operations
from revrules.run.changes import CHANGE_SCHEMA, Changes
from revrules.run.lists import current_lists
from revrules.run.plan import Plan, PlanMeta, build_plan, crm_text
from revrules.run.provenance import provenance_line

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 10_000
# The reference is the plan as it was built before: one frame per output field, sorted by
# id and field, written through `to_dicts` and `json.dumps`.


def _project(folder: Path, accounts: pl.DataFrame) -> Project:
    accounts.write_csv(folder / "accounts.csv")
    config = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    config["crm"].update(path="accounts.csv", output="out/accounts.csv", lists_dir="out/lists")
    config["rules"] = [str(ROOT / "rules")]
    (folder / "revrules.yaml").write_text(yaml.safe_dump(config))
    return load_project(folder / "revrules.yaml")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """10,000 resampled accounts whose output fields hold a mix of right, stale, junk, padded and empty values."""
    folder = tmp_path_factory.mktemp("plan")
    sample = pl.read_csv(ROOT / "examples" / "accounts.csv", infer_schema=False)
    accounts = sample.sample(RECORDS, with_replacement=True, seed=3).with_columns(
        pl.format("001PLAN{}", pl.int_range(RECORDS).cast(pl.String).str.zfill(6)).alias("Id")
    )
    fresh = _project(folder, accounts)
    decided = operations.make_plan(fresh, fresh.connector()).changes.frame().pivot(
        on="field", index="id", values="after", aggregate_function="first"
    )
    rng = np.random.default_rng(5)
    mixed = []
    for field in decided.columns[1:]:
        roll = pl.Series(rng.random(decided.height))
        mixed.append(
            pl.when(roll < 0.1).then(None)
            .when(roll < 0.2).then(pl.lit("junk"))
            .when(roll < 0.25).then(pl.col(field) + " ")
            .when(roll < 0.3).then(pl.col(field).str.split(";").list.reverse().list.join(";"))
            .when(roll < 0.4).then(pl.col(field).shift(1))
            .otherwise(pl.col(field)).alias(field)
        )
    enriched = accounts.drop(decided.columns[1:], strict=False).join(
        decided.select(pl.col("id").alias("Id"), *mixed), on="Id", how="left", maintain_order="left"
    )
    return _project(folder, enriched)


def _comparable(value: pl.Expr, kind: FieldType) -> pl.Expr:
    if kind == FieldType.LIST:
        return pl.when(value.list.len() > 0).then(value.list.sort())
    if kind == FieldType.STRING:
        return value.str.strip_chars()
    return value


def _reference_changes(project: Project, raw: pl.DataFrame, evaluated: pl.DataFrame) -> pl.DataFrame:
    """The diff as it was: one frame per field, concatenated, provenance joined on, sorted by id and field."""
    book = project.book
    specs = [FieldSpec(f"__before__{name}", src, book.kinds[name]) for name, src in project.outputs.items()]
    frame = evaluated.hstack(convert_frame(raw, specs)[0].drop(ID))
    frame = frame.with_columns(raw.select(project.write_fields()).rename(lambda c: f"__raw__{c}"))
    parts = []
    for name, source in project.outputs.items():
        kind, after, before = book.kinds[name], pl.col(name), pl.col(f"__before__{name}")
        raw_before = pl.col(f"__raw__{source}")
        equal = _comparable(after, kind).eq_missing(_comparable(before, kind))
        keep = ~(equal & (before.is_not_null() | raw_before.is_null()))
        rule = pl.col(rule_column(name)) if rule_column(name) in frame.columns else pl.lit(name)
        if rule_column(name) in frame.columns:
            keep = keep & (pl.col(rule_column(name)) != CONFLICT).fill_null(True)
        if name == project.owner_output:
            keep = keep & after.is_not_null()
        parts.append(frame.filter(keep).select(
            pl.col(ID).alias("id"), pl.lit(source, dtype=pl.String).alias("field"), raw_before.alias("before"),
            crm_text(after, kind).alias("after"), rule.cast(pl.String).alias("rule"),
        ))
    changes = pl.concat(parts)
    target = project.config.model.provenance or ""
    changed = frame.join(changes.select(pl.col("id").alias(ID)).unique(), on=ID, how="semi")
    provenance = changed.select(
        pl.col(ID).alias("id"), pl.lit(target, dtype=pl.String).alias("field"),
        pl.col(f"__raw__{target}").alias("before"), provenance_line(frame, project).alias("after"),
        pl.lit("provenance").alias("rule"),
    ).filter(pl.col("before").ne_missing(pl.col("after")))
    return pl.concat([changes, provenance]).sort(["id", "field"]).match_to_schema(CHANGE_SCHEMA)


def _reference_document(plan: Plan) -> dict[str, Any]:
    """The saved plan as it was written: every frame through Python rows and `json.dumps`."""
    document = {
        "meta": vars(plan.meta),
        "changes": plan.changes.frame().to_dicts(),
        "related_changes": plan.related.to_dicts(),
        "list_changes": plan.list_changes.to_dicts(),
        "conflicts": plan.conflicts.to_dicts(),
        "unassigned_owners": plan.unassigned.to_dicts(),
        "data_quality": [vars(q) for q in plan.quality],
        "owner_books": plan.owner_books.to_dicts(),
        "territory_books": plan.territory_books.to_dicts(),
        "too_long": plan.too_long.to_dicts(),
        "balance": plan.balance.to_dicts(),
        "held_by_policy": plan.held.to_dicts(),
        "families_moved": plan.families_moved.to_dicts(),
    }
    parsed: dict[str, Any] = json.loads(json.dumps(document, default=str))
    return parsed


@pytest.mark.parametrize("filter_below", [0.5, 2.0], ids=["as-is", "changing-records-first"])
def test_a_10000_record_plan_equals_the_per_field_diff_value_for_value(
    project: Project, monkeypatch: pytest.MonkeyPatch, filter_below: float
) -> None:
    monkeypatch.setattr("revrules.run.plan._FILTER_BELOW", filter_below)  # both ways of diffing
    connector = project.connector()
    snapshot = operations.read_snapshot(project, connector)
    evaluated = project.evaluate(snapshot.typed, unavailable_owners=project.unavailable_owners(connector))
    plan = build_plan(project, snapshot, evaluated, current_lists(project, connector))

    reference = _reference_changes(project, snapshot.raw, evaluated)
    assert 20_000 < plan.changes.height < 150_000  # a mix: neither nothing nor everything changes
    # The accounts are in id order, so record order is id order here.
    assert plan.changes.frame().equals(reference)
    assert json.loads(plan.dumps()) == _reference_document(plan)


def test_the_written_document_has_the_spec_shape_and_parses_back(project: Project, tmp_path: Path) -> None:
    plan = operations.make_plan(project, project.connector())
    with (tmp_path / "plan.json").open("wb") as sink:
        plan.write_json(sink)
    document = json.loads((tmp_path / "plan.json").read_text())
    assert list(document)[:3] == ["meta", "changes", "list_changes"]
    assert set(document["changes"][0]) == {"id", "field", "before", "after", "rule"}
    assert set(document["list_changes"][0]) == {"list", "id", "action"}
    again = Plan.from_json(document)
    assert again.changes.frame().equals(plan.changes.frame())
    assert again.list_changes.equals(plan.list_changes)
    loaded = Plan.load(tmp_path / "plan.json")  # its changes read by polars, not `json`
    assert loaded.changes.frame().equals(plan.changes.frame())
    assert loaded.list_changes.equals(plan.list_changes) and loaded.meta == plan.meta


def test_a_saved_plan_is_read_back_a_piece_at_a_time_or_whole_when_reformatted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values holding what the writer's layout is made of (commas, escaped line ends, quotes, brackets) come
    back as they were, read in pieces of a few lines; a document another tool laid out is read by `json`."""
    awkward = ['a,\n  {"b"}', "two\nlines ]", 'x "q" \\', "é\u2028", None, "},\n  {"]
    changes = pl.DataFrame({"id": [f"{i:03}" for i in range(60)], "field": "Name", "before": awkward * 10,
                            "after": list(reversed(awkward)) * 10, "rule": "r"}, schema=CHANGE_SCHEMA)
    plan = Plan(meta=PlanMeta("now", "csv", "c", "r", 60), changes=Changes.from_frame(changes))
    saved = tmp_path / "plan.json"
    with saved.open("wb") as sink:
        plan.write_json(sink)
    monkeypatch.setattr("revrules.run.plan._READ_PIECE", 300)
    assert Plan.load(saved).changes.frame().equals(changes)
    saved.write_text(json.dumps(json.loads(saved.read_text()), indent=4))
    assert Plan.load(saved).changes.frame().equals(changes)


def test_values_with_line_breaks_and_quotes_survive_the_writer() -> None:
    awkward = ["two\nlines", 'a "quoted" \\ value', "tab\tand\u2028separator", "é", None]
    changes = pl.DataFrame({"id": [str(i) for i in range(5)], "field": "Name", "before": awkward,
                            "after": list(reversed(awkward)), "rule": "r"}, schema=CHANGE_SCHEMA)
    plan = Plan(meta=PlanMeta("now", "csv", "c", "r", 5), changes=Changes.from_frame(changes))
    assert json.loads(plan.dumps())["changes"] == changes.to_dicts()
