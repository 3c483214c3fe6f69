"""models.abtest on planted data: stable assignment, the right winner, no false winner, no early winner."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.abtest import (
    A_BETTER,
    B_BETTER,
    NO_DIFFERENCE,
    NOT_ENOUGH_DATA,
    assign_arm,
    compare_arms,
    interleaving_credit,
    interleaving_verdict,
    ratio_over_units,
    team_draft_interleave,
)


def planted(
    n_units: int,
    ctr: dict[str, float],
    seed: int = 0,
    conv_given_click: float = 0.3,
    shopper_effect: bool = True,
) -> pd.DataFrame:
    """Shoppers split 50/50 by ``assign_arm``, 1-6 exposures each, a per-shopper propensity (so
    exposures of one shopper are correlated), clicks at ``ctr[arm]`` on average."""
    rng = np.random.default_rng(seed)
    units = [f"shopper-{i}" for i in range(n_units)]
    arm_of = np.array([assign_arm(u, "planted", 0.5) for u in units])
    per = rng.integers(1, 7, size=n_units)
    idx = np.repeat(np.arange(n_units), per)
    arm = arm_of[idx]
    propensity = rng.gamma(4.0, 0.25, size=n_units)[idx] if shopper_effect else np.ones(idx.size)
    p = np.clip(np.where(arm == "B", ctr["B"], ctr["A"]) * propensity, 0, 1)
    clicked = (rng.random(idx.size) < p).astype(int)
    converted = clicked * (rng.random(idx.size) < conv_given_click)
    revenue = converted * rng.uniform(5, 50, size=idx.size)
    return pd.DataFrame(
        {
            "arm": arm,
            "unit": np.array(units)[idx],
            "clicked": clicked,
            "converted": converted,
            "revenue": revenue,
        }
    )


# --- assignment -------------------------------------------------------------------------------
def test_assignment_is_stable_for_known_ids() -> None:
    # Pinned values: a change of hash, key or threshold would silently re-split every live shopper.
    assert [assign_arm(f"C{i:04d}", "exp-1", 0.5) for i in range(8)] == [
        assign_arm(f"C{i:04d}", "exp-1", 0.5) for i in range(8)
    ]
    known = {
        u: assign_arm(u, "search-ranker-v2", 0.5) for u in ("C0001", "C0002", "C0003", "C0004", "S-abc", "")
    }
    assert known == {"C0001": "B", "C0002": "A", "C0003": "A", "C0004": "B", "S-abc": "B", "": "A"}
    # the documented mapping: blake2b-64 of "experiment\0unit" as a fraction of 2^64, B below the split
    u = int.from_bytes(hashlib.blake2b(b"search-ranker-v2\x00C0001", digest_size=8).digest(), "big") / 2**64
    assert u == pytest.approx(0.22048110731450585)
    assert assign_arm("C0001", "search-ranker-v2", 0.2205) == "B"
    assert assign_arm("C0001", "search-ranker-v2", 0.2204) == "A"


def test_split_share_and_extremes() -> None:
    n = 100_000
    share = np.mean([assign_arm(str(i), "exp", 0.2) == "B" for i in range(n)])
    assert share == pytest.approx(0.2, abs=0.006)  # ~5 standard errors
    assert {assign_arm(str(i), "exp", 0.0) for i in range(1000)} == {"A"}
    assert {assign_arm(str(i), "exp", 1.0) for i in range(1000)} == {"B"}


def test_ramp_up_only_moves_shoppers_from_a_to_b_and_experiments_are_independent() -> None:
    ids = [f"u{i}" for i in range(5000)]
    at_10 = {u for u in ids if assign_arm(u, "exp", 0.1) == "B"}
    at_50 = {u for u in ids if assign_arm(u, "exp", 0.5) == "B"}
    assert at_10 <= at_50
    other = {u for u in ids if assign_arm(u, "other", 0.5) == "B"}
    overlap = len(at_50 & other) / len(at_50)
    assert overlap == pytest.approx(0.5, abs=0.05)  # another experiment re-splits independently


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan")])
def test_split_is_validated(bad: float) -> None:
    with pytest.raises(ValueError):
        assign_arm("u", "exp", bad)


# --- comparison -------------------------------------------------------------------------------
def test_delta_method_matches_hand_computation() -> None:
    y, n = np.array([1.0, 0.0, 3.0, 2.0]), np.array([2.0, 1.0, 3.0, 2.0])
    r = ratio_over_units(y, n)
    assert r.value == pytest.approx(6 / 8)
    residual = (y - 0.75 * n) / 2.0
    assert r.variance == pytest.approx(residual.var(ddof=1) / 4)
    assert (r.n_units, r.n_exposures) == (4, 8)


def test_planted_big_difference_names_the_right_winner() -> None:
    report = compare_arms(planted(4000, {"A": 0.20, "B": 0.30}), min_units_per_arm=200)
    ctr = report.metric("ctr")
    assert ctr.verdict == B_BETTER and report.verdict == B_BETTER
    assert ctr.ci_low > 0 and ctr.p_value_adjusted < 1e-6
    assert ctr.rel_diff == pytest.approx(0.5, abs=0.12)
    assert ctr.rel_ci_low < ctr.rel_diff < ctr.rel_ci_high
    # and the mirror image: the winner follows the data, not the label
    flipped = compare_arms(planted(4000, {"A": 0.30, "B": 0.20}, seed=1), min_units_per_arm=200)
    assert flipped.metric("ctr").verdict == A_BETTER and flipped.verdict == A_BETTER


def test_identical_arms_report_no_difference() -> None:
    frame = planted(4000, {"A": 0.25, "B": 0.25}, seed=3)
    report = compare_arms(frame, min_units_per_arm=200, expected_split_b=0.5)
    assert report.verdict == NO_DIFFERENCE
    assert {m.verdict for m in report.metrics} == {NO_DIFFERENCE}
    for m in report.metrics:
        assert m.ci_low <= 0 <= m.ci_high
    assert report.srm_p_value is not None and report.srm_p_value > 0.01
    assert report.n_units["A"] + report.n_units["B"] == 4000
    assert report.n_exposures["A"] + report.n_exposures["B"] == len(frame)


def test_exactly_the_same_data_in_both_arms_is_no_difference() -> None:
    a = planted(500, {"A": 0.3, "B": 0.3}, seed=4).assign(arm="A")
    b = a.assign(arm="B", unit="b-" + a["unit"])
    report = compare_arms(pd.concat([a, b]), min_units_per_arm=10)
    for m in report.metrics:
        assert m.abs_diff == 0 and m.p_value == pytest.approx(1.0) and m.verdict == NO_DIFFERENCE


def test_below_the_minimum_sample_never_names_a_winner() -> None:
    frame = planted(150, {"A": 0.02, "B": 0.9}, seed=5)  # a huge difference, ~75 shoppers per arm
    report = compare_arms(frame, min_units_per_arm=100)
    assert report.verdict == NOT_ENOUGH_DATA and not report.enough_data
    assert {m.verdict for m in report.metrics} == {NOT_ENOUGH_DATA}
    assert "better" not in report.to_markdown().split("**Overall")[0]
    # the same data with a lower bar is a clear winner: the refusal is the minimum, not the data
    assert compare_arms(frame, min_units_per_arm=50).verdict == B_BETTER


def test_one_arm_missing_is_not_enough_data() -> None:
    frame = planted(300, {"A": 0.2, "B": 0.2}).assign(arm="A")
    report = compare_arms(frame, min_units_per_arm=0)
    assert report.verdict == NOT_ENOUGH_DATA and report.n_units["B"] == 0


def test_clustered_exposures_widen_the_interval_beyond_the_naive_test() -> None:
    # Shoppers with strongly different propensities: the unit-level p is larger (more honest) than
    # the exposure-level z-test's on the same data.
    report = compare_arms(planted(3000, {"A": 0.20, "B": 0.215}, seed=6), min_units_per_arm=100)
    ctr = report.metric("ctr")
    assert ctr.exposure_level_p_value is not None and ctr.p_value > ctr.exposure_level_p_value


def test_sample_size_required_shrinks_with_a_larger_mde_and_report_serialises() -> None:
    frame = planted(2000, {"A": 0.2, "B": 0.2}, seed=7)
    small = compare_arms(frame, min_units_per_arm=100, mde=0.02)
    large = compare_arms(frame, min_units_per_arm=100, mde=0.2)
    assert small.required_units_per_arm > large.required_units_per_arm > 0
    # required n scales with 1 / mde^2 (rounding aside)
    ratio = small.metric("ctr").required_units_per_arm / large.metric("ctr").required_units_per_arm
    assert ratio == pytest.approx(100, rel=0.01)
    data = json.loads(json.dumps(small.to_dict()))
    assert data["verdict"] == small.verdict and len(data["metrics"]) == 3
    md = small.to_markdown()
    assert md.startswith("| metric |") and "click-through rate" in md and "per arm" in md


def test_bad_input_is_rejected() -> None:
    frame = planted(50, {"A": 0.2, "B": 0.2})
    with pytest.raises(ValueError, match="columns"):
        compare_arms(frame.drop(columns="revenue"), min_units_per_arm=1)
    with pytest.raises(ValueError, match="arm"):
        compare_arms(frame.assign(arm="C"), min_units_per_arm=1)
    with pytest.raises(ValueError, match="clicked"):
        compare_arms(frame.assign(clicked=2), min_units_per_arm=1)
    with pytest.raises(ValueError, match="min_units_per_arm"):
        compare_arms(frame, min_units_per_arm=-1)


# --- interleaving -----------------------------------------------------------------------------
rankings = st.lists(st.integers(0, 30), max_size=15, unique=True)


@settings(max_examples=200, deadline=None)
@given(a=rankings, b=rankings, k=st.integers(0, 12), seed=st.integers(0, 2**32 - 1))
def test_team_draft_properties(a: list[int], b: list[int], k: int, seed: int) -> None:
    merged, teams = team_draft_interleave(a, b, k, np.random.default_rng(seed))
    assert len(merged) == len(teams) == min(k, len(set(a) | set(b)))
    assert len(set(merged)) == len(merged)  # no duplicates
    assert set(merged) <= set(a) | set(b)
    for team, ranking in (("A", a), ("B", b)):
        mine = [x for x, t in zip(merged, teams, strict=True) if t == team]
        assert all(x in ranking for x in mine)
        assert [x for x in ranking if x in mine] == mine  # each team contributes in its own order
    # while both rankings still have new items, the teams' pick counts differ by at most one
    na = nb = 0
    for i, t in enumerate(teams):
        na, nb = na + (t == "A"), nb + (t == "B")
        both_left = any(x not in merged[: i + 1] for x in a) and any(x not in merged[: i + 1] for x in b)
        if both_left:
            assert abs(na - nb) <= 1


def test_team_draft_of_identical_rankings_keeps_the_order_and_alternates_teams() -> None:
    ranking = list("abcdefgh")
    merged, teams = team_draft_interleave(ranking, ranking, 6, np.random.default_rng(0))
    assert merged == ranking[:6]
    assert all(teams[i] != teams[i + 1] for i in range(0, 6, 2))


def test_team_draft_fills_from_the_other_ranking_when_one_is_empty() -> None:
    merged, teams = team_draft_interleave([], [1, 2, 3], 5, np.random.default_rng(0))
    assert merged == [1, 2, 3] and teams == ["B", "B", "B"]


def test_interleaving_credit_and_verdicts() -> None:
    assert interleaving_credit(["A", "B", "A"], [0, 2]) == "A"
    assert interleaving_credit(["A", "B", "A"], [1]) == "B"
    assert interleaving_credit(["A", "B"], [0, 1]) == "tie"
    assert interleaving_credit(["A", "B"], []) == "tie"
    assert interleaving_verdict(30, 70, 50).verdict == B_BETTER
    assert interleaving_verdict(70, 30, 50).verdict == A_BETTER
    even = interleaving_verdict(50, 52, 400)
    assert even.verdict == NO_DIFFERENCE and even.ci_low < 0.5 < even.ci_high
    assert interleaving_verdict(0, 9, 0, min_decisive=10).verdict == NOT_ENOUGH_DATA
    assert interleaving_verdict(0, 0, 100).verdict == NOT_ENOUGH_DATA
    big = interleaving_verdict(30, 70, 0)
    assert big.delta == pytest.approx(0.4) and big.p_value == pytest.approx(7.85e-5, rel=0.01)
