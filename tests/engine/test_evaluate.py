"""Bulk evaluation: hit policies, quantiles, overrides, territories, owner routing, lists."""

from __future__ import annotations

import heapq
from pathlib import Path
from unittest.mock import patch

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from revrules.engine import routing
from revrules.engine.columns import list_column, rule_column
from revrules.engine.convert import FieldType
from revrules.engine.definitions import Owner, Pool, Rulebook
from revrules.engine.evaluate import evaluate
from revrules.engine.rulebook import load_rulebook

FIELDS = {"employees": FieldType.NUMBER, "country": FieldType.STRING, "ltv": FieldType.NUMBER,
          "domain": FieldType.STRING}


def book(tmp_path: Path, text: str) -> Rulebook:
    (tmp_path / "book.yaml").write_text("version: 1\n" + text)
    return load_rulebook([tmp_path / "book.yaml"], FIELDS)


def frame(**columns: list[object]) -> pl.DataFrame:
    height = len(next(iter(columns.values())))
    data: dict[str, object] = {"__id": [f"r{i:03d}" for i in range(height)]}
    for name in FIELDS:
        data[name] = columns.get(name, [None] * height)
    schema = {"__id": pl.String, "employees": pl.Float64, "country": pl.String, "ltv": pl.Float64,
              "domain": pl.String}
    return pl.DataFrame(data, schema=schema)


SEGMENT = """
decisions:
  segment:
    hit: first
    rules:
      - {id: enterprise, when: "employees >= 2000", then: Enterprise}
      - {id: mid-market, when: "employees >= 200", then: Mid-Market}
      - {id: smb, when: "employees >= 1", then: SMB}
    default: Unclassified
"""


def test_first_takes_the_first_rule_that_holds_else_the_default(tmp_path: Path) -> None:
    out = evaluate(book(tmp_path, SEGMENT), frame(employees=[2500, 200, 199, None, 0]))
    assert out["segment"].to_list() == ["Enterprise", "Mid-Market", "SMB", "Unclassified", "Unclassified"]
    assert out[rule_column("segment")].to_list() == ["enterprise", "mid-market", "smb", "default", "default"]


def test_unique_reports_a_conflict_and_leaves_the_value_unset(tmp_path: Path) -> None:
    text = """
decisions:
  region:
    hit: unique
    rules:
      - {id: us, when: "country == 'US'", then: NA}
      - {id: big, when: "employees > 100", then: Global}
"""
    out = evaluate(book(tmp_path, text), frame(country=["US", "US", "FR"], employees=[10, 500, 5]))
    assert out["region"].to_list() == ["NA", None, None]
    assert out[rule_column("region")].to_list() == ["us", "conflict", "default"]
    assert out["region#conflicts"].to_list() == [["us"], ["us", "big"], []]


def test_collect_sum_and_any(tmp_path: Path) -> None:
    text = """
decisions:
  reasons:
    hit: collect
    rules:
      - {id: edu, when: "domain =~~ '\\\\.edu$'", then: Education}
      - {id: tiny, when: "employees < 5", then: Tiny}
  score:
    hit: sum
    default: 1
    rules:
      - {id: us-points, when: "country == 'US'", then: 10}
      - {id: size-points, when: "employees >= 100", then: 5.5}
  out:
    hit: any
    rules:
      - {id: has-reasons, when: "not reasons.is_empty"}
"""
    out = evaluate(book(tmp_path, text), frame(domain=["a.edu", "b.com", None], employees=[1, 500, None],
                                                 country=["US", "US", None]))
    assert out["reasons"].to_list() == [["Education", "Tiny"], [], []]
    assert out[rule_column("reasons")].to_list() == ["edu,tiny", "default", "default"]
    assert out["score"].to_list() == [11.0, 16.5, 1.0]
    assert out["out"].to_list() == [True, False, False]
    assert out[rule_column("out")].to_list() == ["has-reasons", "default", "default"]


def test_quantile_buckets_follow_the_spec_formula_with_ties_and_nulls(tmp_path: Path) -> None:
    text = "derive:\n  q: {quantile: ltv, buckets: 4}\n"
    out = evaluate(book(tmp_path, text), frame(ltv=[10, 20, 20, 30, None]))
    # n = 4; ranks 1, 2, 2, 4; bucket = 1 + floor(4 * (r - 1) / n)
    assert out["q"].to_list() == [1.0, 2.0, 2.0, 4.0, None]


def test_derive_runs_in_file_order_and_feeds_decisions(tmp_path: Path) -> None:
    text = """
derive:
  doubled: "employees * 2"
  big: "doubled > 100"
decisions:
  size:
    rules:
      - {when: "big", then: big}
    default: small
"""
    out = evaluate(book(tmp_path, text), frame(employees=[60, 40, None]))
    assert out["doubled"].to_list() == [120.0, 80.0, None]
    assert out["size"].to_list() == ["big", "small", "small"]


def test_an_override_wins_everywhere_downstream(tmp_path: Path) -> None:
    text = SEGMENT + """
  abm:
    hit: any
    rules:
      - {when: "segment == 'Enterprise'"}
"""
    data = frame(employees=[10, 5000]).with_columns(pl.Series("manual", ["Enterprise", None]))
    out = evaluate(book(tmp_path, text), data, overrides={"segment": "manual"})
    assert out["segment"].to_list() == ["Enterprise", "Enterprise"]
    assert out[rule_column("segment")].to_list() == ["override", "enterprise"]
    assert out["abm"].to_list() == [True, True]


TERRITORIES = SEGMENT + """
territories:
  output: territory
  owner_output: owner
  tree:
    - id: NA
      when: "country in ['US', 'CA']"
      children:
        - id: NA-ENT
          when: "segment == 'Enterprise'"
          owners: [{id: A, weight: 2, capacity: 3}, {id: B}]
        - id: NA-COMM
          when: "true"
          owners: [{id: C}]
    - id: ROW
      when: "true"
      owners: [{id: D}]
lists:
  - {id: ent, name: Enterprise, when: "segment == 'Enterprise'"}
"""


def test_first_matching_leaf_with_ancestor_conditions(tmp_path: Path) -> None:
    out = evaluate(book(tmp_path, TERRITORIES), frame(country=["US", "CA", "FR", None], employees=[5000, 10, 5000, 1]))
    assert out["territory"].to_list() == ["NA-ENT", "NA-COMM", "ROW", "ROW"]
    assert out[list_column("ent")].to_list() == [True, False, True, False]


def test_owners_are_kept_then_least_loaded_by_weight_under_capacity(tmp_path: Path) -> None:
    data = frame(country=["US"] * 6, employees=[5000] * 6).with_columns(
        pl.Series("current", ["B", None, None, None, None, "X"])
    )
    out = evaluate(book(tmp_path, TERRITORIES), data, current_owner="current")
    # B keeps r000 (load B=1). Then by id: A (0/2) r001, A (1/2=0.5 < B 1/1) r002,
    # tie A 2/2 vs B 1/1 -> pool order A r003 (A full at 3), B r004, B r005.
    assert out["owner"].to_list() == ["B", "A", "A", "A", "B", "B"]
    assert out[rule_column("owner")].to_list() == ["kept"] + ["least-loaded"] * 5


def test_a_full_pool_leaves_the_account_unassigned(tmp_path: Path) -> None:
    text = TERRITORIES.replace("owners: [{id: A, weight: 2, capacity: 3}, {id: B}]",
                               "owners: [{id: A, capacity: 1}]")
    out = evaluate(book(tmp_path, text), frame(country=["US", "US"], employees=[5000, 5000]))
    assert out["owner"].to_list() == ["A", None]
    assert out[rule_column("owner")].to_list() == ["least-loaded", "capacity-full"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["US", "FR"]), st.sampled_from([10, 5000]),
                          st.sampled_from([None, "A", "B", "C", "Z"])), min_size=1, max_size=40),
       st.randoms(use_true_random=False))
def test_input_order_does_not_change_the_result(rows: list[tuple[str, int, str | None]], rnd: object) -> None:
    import random
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        rulebook = book(Path(folder), TERRITORIES)
    data = pl.DataFrame({
        "__id": [f"r{i:03d}" for i in range(len(rows))], "country": [r[0] for r in rows],
        "employees": [float(r[1]) for r in rows], "ltv": [None] * len(rows), "domain": [None] * len(rows),
        "current": [r[2] for r in rows],
    }, schema_overrides={"ltv": pl.Float64, "domain": pl.String})
    order = list(range(len(rows)))
    assert isinstance(rnd, random.Random)
    rnd.shuffle(order)
    first = evaluate(rulebook, data, current_owner="current").sort("__id")
    second = evaluate(rulebook, data[order], current_owner="current").sort("__id")
    assert first.equals(second)


def naive_route(ids: list[str], current: list[str | None], pool: list[Owner]) -> list[str | None]:
    """The routing rule of SPEC §3 written one account at a time, with a heap."""
    members = [o.id for o in pool]
    owners: list[str | None] = [c if c in members else None for c in current]
    load = {o.id: sum(1 for c in owners if c == o.id) for o in pool}
    heap = [(load[o.id] / o.weight, i) for i, o in enumerate(pool)]
    heapq.heapify(heap)
    for row in sorted((r for r in range(len(ids)) if owners[r] is None), key=lambda r: ids[r]):
        while heap:
            _, i = heapq.heappop(heap)
            owner = pool[i]
            if owner.capacity is None or load[owner.id] < owner.capacity:
                owners[row] = owner.id
                load[owner.id] += 1
                heapq.heappush(heap, (load[owner.id] / owner.weight, i))
                break
    return owners


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([1.0, 2.0, 3.0, 0.5]), st.one_of(st.none(), st.integers(0, 12))),
             min_size=1, max_size=6),
    st.lists(st.one_of(st.none(), st.integers(0, 7)), min_size=0, max_size=60),
)
def test_vectorised_routing_equals_the_one_by_one_rule(
    members: list[tuple[float, int | None]], current: list[int | None]
) -> None:
    pool = [Owner(f"o{i}", weight, capacity) for i, (weight, capacity) in enumerate(members)]
    ids = [f"id{i:03d}" for i in range(len(current))]
    owners = [None if c is None else f"o{c}" for c in current]
    for few_slots in (routing._FEW_SLOTS, 0):  # every slot merged, and the threshold searched for first
        with patch.object(routing, "_FEW_SLOTS", few_slots):
            got, _, _ = routing.route_pools(pl.Series(ids, dtype=pl.String), pl.Series(owners, dtype=pl.String),
                                            pl.Series(["p"] * len(ids), dtype=pl.String), {"p": Pool("p", tuple(pool))})
        assert got.to_list() == naive_route(ids, owners, pool)
