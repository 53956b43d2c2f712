"""Production routing: shared pools, inactive owners, balance by ARR, capacity and overflow."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revrules.engine.columns import rule_column
from revrules.engine.convert import FieldType
from revrules.engine.definitions import Owner, Pool, Rulebook
from revrules.engine.evaluate import evaluate
from revrules.engine.routing import _greedy_by_size, _greedy_by_size_pools, route_pools, route_shared
from revrules.engine.rulebook import load_rulebook
from revrules.errors import InvalidInputError

OWNERS = ["o0", "o1", "o2", "o3", "o4", "o5", "elsewhere"]
FIELDS = {"country": FieldType.STRING, "arr": FieldType.NUMBER}


def book(tmp_path: Path, text: str) -> Rulebook:
    (tmp_path / "book.yaml").write_text("version: 1\n" + text)
    return load_rulebook([tmp_path / "book.yaml"], FIELDS)


def accounts(countries: list[str], owners: Sequence[str | None], arr: list[float] | None = None) -> pl.DataFrame:
    return pl.DataFrame({
        "__id": [f"a{i:03d}" for i in range(len(countries))],
        "country": countries,
        "arr": arr or [1.0] * len(countries),
        "current": owners,
    }, schema={"__id": pl.String, "country": pl.String, "arr": pl.Float64, "current": pl.String})


def route(rulebook: Rulebook, frame: pl.DataFrame) -> tuple[list[str | None], list[str | None]]:
    out = evaluate(rulebook, frame, current_owner="current")
    return out["owner"].to_list(), out[rule_column("owner")].to_list()


SHARED = """
pools:
  emea:
    owners: [{id: A, capacity: 2}, {id: B, capacity: 2}]
  queue:
    owners: [{id: Q}]
territories:
  output: territory
  owner_output: owner
  tree:
    - {id: UK, when: "country == 'UK'", pool: emea, overflow: {pool: queue}}
    - {id: DE, when: "country == 'DE'", pool: emea, overflow: {owner: HOLDING}}
    - {id: ROW, when: "true"}
"""


def test_a_shared_pool_counts_loads_across_its_territories(tmp_path: Path) -> None:
    owners, reasons = route(book(tmp_path, SHARED), accounts(["UK", "DE", "UK", "DE"], [None] * 4))
    assert owners == ["A", "B", "A", "B"]
    assert reasons == ["least-loaded"] * 4


def test_a_full_pool_overflows_to_the_territory_overflow_never_over_capacity(tmp_path: Path) -> None:
    owners, reasons = route(book(tmp_path, SHARED), accounts(["UK", "DE", "UK", "DE", "UK", "DE"], [None] * 6))
    assert owners == ["A", "B", "A", "B", "Q", "HOLDING"]
    assert reasons == ["least-loaded"] * 4 + ["overflow", "overflow"]


def test_an_inactive_owner_keeps_nothing_and_gets_nothing(tmp_path: Path) -> None:
    text = SHARED.replace("{id: B, capacity: 2}", "{id: B, capacity: 2, active: false}")
    owners, reasons = route(book(tmp_path, text), accounts(["UK", "UK", "UK"], ["B", "A", None]))
    assert owners == ["A", "A", "Q"]
    assert reasons == ["owner-gone", "kept", "overflow"]


def test_accounts_outside_any_pool_get_no_owner(tmp_path: Path) -> None:
    owners, reasons = route(book(tmp_path, SHARED), accounts(["FR"], ["X"]))
    assert owners == [None]
    assert reasons == [None]


def test_balance_by_arr_weighs_big_accounts(tmp_path: Path) -> None:
    text = """
pools:
  ent:
    balance_by: arr
    owners: [{id: A, capacity: 1000}, {id: B, capacity: 1000}]
territories:
  output: territory
  owner_output: owner
  tree:
    - {id: ALL, when: "true", pool: ent}
"""
    frame = accounts(["US"] * 4, [None] * 4, arr=[900.0, 100.0, 100.0, 500.0])
    owners, reasons = route(book(tmp_path, text), frame)
    # A takes 900; B (0) takes 100; B (100) takes 100; 500 fits only B (200 + 500 <= 1000).
    assert owners == ["A", "B", "B", "B"]
    assert reasons == ["least-loaded"] * 4


def test_a_pool_growing_by_one_owner_keeps_every_kept_account(tmp_path: Path) -> None:
    before = SHARED.replace("{id: A, capacity: 2}, {id: B, capacity: 2}", "{id: A}, {id: B}")
    after = before.replace("{id: A}, {id: B}", "{id: A}, {id: B}, {id: C}")
    frame = accounts(["UK"] * 6, [None] * 6)
    first, _ = route(book(tmp_path, before), frame)
    second, reasons = route(book(tmp_path, after), frame.with_columns(pl.Series("current", first)))
    assert second == first
    assert set(reasons) == {"kept"}
    newcomer = frame.vstack(accounts(["UK"], [None]).with_columns(pl.lit("a999").alias("__id")))
    third, _ = route(book(tmp_path, after), newcomer.with_columns(pl.Series("current", [*first, None])))
    assert third[-1] == "C"


def test_a_new_territory_split_moves_only_the_accounts_of_the_new_leaf(tmp_path: Path) -> None:
    before = SHARED
    after = SHARED.replace("- {id: ROW, when: \"true\"}", "- {id: FR, when: \"country == 'FR'\", owners: [{id: F}]}\n"
                                                          "    - {id: ROW, when: \"true\"}")
    frame = accounts(["UK", "DE", "FR"], ["A", "B", None])
    first, _ = route(book(tmp_path, before), frame)
    second, reasons = route(book(tmp_path, after), frame)
    assert first == ["A", "B", None]
    assert second == ["A", "B", "F"]
    assert reasons == ["kept", "kept", "least-loaded"]


def test_unknown_pools_and_bad_balance_fields_are_load_errors(tmp_path: Path) -> None:
    text = SHARED.replace("pool: emea, overflow: {pool: queue}", "pool: emee, overflow: {pool: queue}")
    with pytest.raises(InvalidInputError, match="unknown pool 'emee' \\(did you mean 'emea'\\?\\)"):
        book(tmp_path, text)
    text = SHARED.replace("  emea:\n", "  emea:\n    balance_by: country\n")
    with pytest.raises(InvalidInputError, match="balance_by needs a numeric field"):
        book(tmp_path, text)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["UK", "DE", "FR"]), st.sampled_from([None, "A", "B", "Q", "Z"])),
             min_size=1, max_size=30),
    st.integers(0, 5), st.integers(0, 5),
)
def test_no_owner_is_above_capacity_unless_kept(rows: list[tuple[str, str | None]], cap_a: int, cap_b: int) -> None:
    import tempfile

    text = SHARED.replace("{id: A, capacity: 2}, {id: B, capacity: 2}", f"{{id: A, capacity: {cap_a}}}, "
                                                                         f"{{id: B, capacity: {cap_b}}}")
    with tempfile.TemporaryDirectory() as folder:
        rulebook = book(Path(folder), text)
    frame = accounts([r[0] for r in rows], [r[1] for r in rows])
    owners, reasons = route(rulebook, frame)
    for owner, cap in (("A", cap_a), ("B", cap_b)):
        new = sum(1 for o, r in zip(owners, reasons, strict=True) if o == owner and r == "least-loaded")
        kept = sum(1 for o, r in zip(owners, reasons, strict=True) if o == owner and r == "kept")
        assert new == 0 or kept + new <= cap
    for (country, current), routed, reason in zip(rows, owners, reasons, strict=True):
        if current in ("A", "B") and country in ("UK", "DE"):
            assert (routed, reason) == (current, "kept")


REBALANCE = """
territories:
  output: territory
  owner_output: owner
  value: arr
  tree:
    - {id: ALL, when: "true", owners: [{id: A}, {id: B}, {id: C, weight: 2}]}
"""


def test_rebalance_moves_the_least_valuable_accounts_of_the_heaviest_owner(tmp_path: Path) -> None:
    frame = accounts(["US"] * 8, ["A"] * 6 + ["B", "C"], arr=[float(v) for v in (50, 10, 40, 20, 30, 60, 1, 1)])
    rulebook = book(tmp_path, REBALANCE)
    kept = evaluate(rulebook, frame, current_owner="current")
    assert kept["owner"].to_list() == ["A"] * 6 + ["B", "C"]  # stable without --rebalance
    out = evaluate(rulebook, frame, current_owner="current", rebalance=0.1)
    # Shares of 8: A 2, B 2, C 4. A gives 4 accounts: B gets one, C gets three.
    assert out["owner"].value_counts().sort("owner").rows() == [("A", 2), ("B", 2), ("C", 4)]
    moved = out.filter(pl.col("owner#rule") == "rebalance")
    assert sorted(moved["__id"].to_list()) == ["a001", "a002", "a003", "a004"]  # ARR 10, 40, 20, 30


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=40), st.sampled_from([0.0, 0.1, 0.25]))
def test_rebalance_moves_are_minimal_for_the_tolerance(current: list[str], tolerance: float) -> None:
    import math
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        rulebook = book(Path(folder), REBALANCE)
    frame = accounts(["US"] * len(current), list(current))
    out = evaluate(rulebook, frame, current_owner="current", rebalance=tolerance)
    total, weights = len(current), {"A": 1, "B": 1, "C": 2}
    low = {o: total * w / 4 * (1 - tolerance) for o, w in weights.items()}
    high = {o: total * w / 4 * (1 + tolerance) for o, w in weights.items()}
    before = {o: current.count(o) for o in weights}
    after = {o: out["owner"].to_list().count(o) for o in weights}
    excess = sum(max(0, math.ceil(before[o] - high[o] - 1e-9)) for o in weights)
    deficit = sum(max(0, math.ceil(low[o] - before[o] - 1e-9)) for o in weights)
    moves = (out["owner#rule"] == "rebalance").sum()
    assert moves <= max(excess, deficit)
    floors = {o: math.floor(high[o] + 1e-9) for o in weights}
    ceilings = {o: math.ceil(low[o] - 1e-9) for o in weights}
    feasible = all(floors[o] >= ceilings[o] for o in weights) and (
        sum(ceilings.values()) <= total <= sum(floors.values()))
    if feasible:
        assert all(ceilings[o] <= after[o] <= floors[o] for o in weights)
        assert moves == max(excess, deficit)


TWO_TERRITORIES = """
territories:
  output: territory
  owner_output: owner
  tree:
    - {id: UK, when: "country == 'UK'", owners: [{id: A, capacity: 1}, {id: B}]}
    - {id: DE, when: "country == 'DE'", owners: [{id: A, capacity: 1}, {id: C}]}
"""


def test_an_owner_in_two_territories_has_one_capacity(tmp_path: Path) -> None:
    owners, reasons = route(book(tmp_path, TWO_TERRITORIES), accounts(["UK", "DE", "UK", "DE"], [None] * 4))
    assert owners.count("A") == 1
    # Ascending ids across both territories: a000 (UK) takes A; the DE accounts go to C.
    assert owners == ["A", "C", "B", "C"]
    assert reasons == ["least-loaded"] * 4


def test_kept_accounts_in_one_territory_fill_the_capacity_in_the_other(tmp_path: Path) -> None:
    owners, reasons = route(book(tmp_path, TWO_TERRITORIES), accounts(["UK", "DE"], [None, "A"]))
    assert owners == ["B", "A"]
    assert reasons == ["least-loaded", "kept"]


def test_an_owner_in_a_pool_and_an_overflow_pool_has_one_load(tmp_path: Path) -> None:
    text = SHARED.replace("owners: [{id: Q}]", "owners: [{id: A, capacity: 2}, {id: Q, capacity: 1}]")
    owners, reasons = route(book(tmp_path, text), accounts(["UK"] * 6, [None] * 6))
    assert owners.count("A") == 2
    assert owners == ["A", "B", "A", "B", "Q", None]
    assert reasons[-2:] == ["overflow", "capacity-full"]


def test_rebalance_never_fills_an_owner_past_the_capacity_shared_across_territories(tmp_path: Path) -> None:
    text = TWO_TERRITORIES.replace("capacity: 1", "capacity: 2").replace(", {id: C}", "")
    frame = accounts(["UK", "UK", "UK", "UK", "DE", "DE"], ["B", "B", "B", "B", "A", "A"])
    out = evaluate(book(tmp_path, text), frame, current_owner="current", rebalance=0.0)
    owners = out["owner"].to_list()
    # A already holds its two accounts in DE, so UK's rebalance cannot give it a third.
    assert owners.count("A") == 2
    assert owners[:4] == ["B"] * 4


pool_members = st.lists(st.tuples(st.sampled_from([1.0, 2.0, 0.5]),
                                   st.one_of(st.none(), st.sampled_from([0.0, 3.0, 8.0])),
                                   st.sampled_from([0.0, 1.0, 2.5])), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(pool_members, st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]), max_size=12)),
                min_size=1, max_size=6),
       st.integers(1, 7))
def test_pools_choosing_in_lockstep_pick_as_each_pool_alone(
    pools: list[tuple[list[tuple[float, float | None, float]], list[float]]], lockstep_from: int
) -> None:
    """Stepping independent pools together in numpy gives the picks and loads of one heap per pool."""
    weight = np.array([w for members, _ in pools for w, _c, _l in members])
    capacity = np.array([np.inf if c is None else c for members, _ in pools for _w, c, _l in members])
    load = np.array([held for members, _ in pools for _w, _c, held in members])
    ends = np.cumsum([len(members) for members, _ in pools])
    spans = [slice(end - len(members), end) for end, (members, _) in zip(ends, pools, strict=True)]
    chosen = [(spans[p], np.array(sizes)) for p, (_, sizes) in enumerate(pools) if sizes]
    alone = load.copy()
    expected = [_greedy_by_size(weight[at], capacity[at], alone[at], sizes) for at, sizes in chosen]
    together = _greedy_by_size_pools(weight, capacity, load, [s for _, s in chosen], [at for at, _ in chosen],
                                     lockstep_from=lockstep_from)
    assert [list(p) for p in together] == [list(p) for p in expected]
    assert load.tolist() == alone.tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["p0", "p1", "p2"]), st.one_of(st.none(), st.sampled_from(OWNERS)),
                          st.sampled_from([0.0, 1.0, 4.0, 9.5])), max_size=40),
       st.booleans())
def test_pools_routed_together_route_as_each_pool_alone(
    rows: list[tuple[str, str | None, float]], by_size: bool
) -> None:
    """Routing independent pools in one pass gives each account the owner and reason its pool alone gives it."""
    pools = {"p0": Pool("p0", (Owner("o0", 1.0, 5.0), Owner("o1", 2.0))),
             "p1": Pool("p1", (Owner("o2", 1.0, 2.0), Owner("o3", 1.0, 1.0))),
             "p2": Pool("p2", (Owner("o4", 1.0), Owner("o5", 1.0, active=False)))}
    frame = pl.DataFrame({"id": [f"a{i:02d}" for i in range(len(rows))], "pool": [r[0] for r in rows],
                          "current": [r[1] for r in rows], "size": [r[2] for r in rows]},
                         schema={"id": pl.String, "pool": pl.String, "current": pl.String, "size": pl.Float64})
    weighed = set(pools) if by_size else set()
    owners, reasons, loads = route_pools(frame["id"], frame["current"], frame["pool"], pools, sizes=frame["size"],
                                         by_size=weighed, held={"o1": 1.0})
    for pool_id, pool in pools.items():
        part = frame.with_row_index().filter(pl.col("pool") == pool_id)
        alone, why, after = route_pools(part["id"], part["current"], part["pool"], {pool_id: pool},
                                        sizes=part["size"], by_size=weighed, held={"o1": 1.0})
        rows_of = part["index"].to_list()
        assert owners.gather(rows_of).to_list() == alone.to_list()
        assert reasons.gather(rows_of).to_list() == why.to_list()
        assert all(loads[o] == load for o, load in after.items())


def one_at_a_time(ids: list[str], current: list[str | None], pool_of: list[str], sizes: list[float],
                  pools: dict[str, Pool]) -> tuple[list[str | None], dict[str, float]]:
    """SPEC §3 for pools sharing owners, written plainly: kept accounts count first, then the rest by id."""
    load: dict[str, float] = {}
    owners: list[str | None] = [None] * len(ids)
    for pool_id, pool in pools.items():
        for row in (r for r in range(len(ids)) if pool_of[r] == pool_id):
            if (owner := current[row]) is not None and owner in {o.id for o in pool.active}:
                owners[row] = owner
                load[owner] = load.get(owner, 0.0) + sizes[row]
    for row in sorted((r for r in range(len(ids)) if owners[r] is None), key=lambda r: ids[r]):
        room = [o for o in pools[pool_of[row]].active
                if load.get(o.id, 0.0) + sizes[row] <= (np.inf if o.capacity is None else o.capacity)]
        if room:
            best = min(room, key=lambda o: load.get(o.id, 0.0) / o.weight)
            owners[row] = best.id
            load[best.id] = load.get(best.id, 0.0) + sizes[row]
    return owners, load


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["p0", "p1", "p2"]), st.one_of(st.none(), st.sampled_from(OWNERS)),
                          st.sampled_from([0.5, 1.0, 4.0, 9.5])), max_size=40),
       st.booleans(), st.permutations(["o0", "o1", "o2", "o3"]))
def test_pools_sharing_owners_route_as_one_account_at_a_time(
    rows: list[tuple[str, str | None, float]], by_size: bool, names: list[str]
) -> None:
    """Shared pools: one load and one capacity per owner across pools, accounts in id order, ties by pool order."""
    a, b, c, d = names
    pools = {"p0": Pool("p0", (Owner(a, 1.0, 6.0), Owner(b, 2.0))),
             "p1": Pool("p1", (Owner(b, 1.0), Owner(c, 1.0, 3.0))),
             "p2": Pool("p2", (Owner(c, 0.5, 3.0), Owner(d, 1.0, 2.0), Owner("o5", 1.0, active=False)))}
    ids = [f"a{(i * 7) % 41:02d}" for i in range(len(rows))]
    frame = pl.DataFrame({"id": ids, "pool": [r[0] for r in rows], "current": [r[1] for r in rows],
                          "size": [r[2] if by_size else 1.0 for r in rows]},
                         schema={"id": pl.String, "pool": pl.String, "current": pl.String, "size": pl.Float64})
    owners, _, loads = route_shared(frame["id"], frame["current"], frame["pool"], pools, sizes=frame["size"],
                                    by_size=set(pools) if by_size else set())
    expected, expected_loads = one_at_a_time(ids, frame["current"].to_list(), frame["pool"].to_list(),
                                             frame["size"].to_list(), pools)
    assert owners.to_list() == expected
    assert {o: x for o, x in loads.items() if x} == {o: x for o, x in expected_loads.items() if x}
