"""Search and recommendation analytics on planted answers and events: every number is known by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from models.analytics import analytics_report, attribute, report_markdown, write_plots

T0 = pd.Timestamp("2026-10-01 00:00", tz="UTC")
H = pd.Timedelta(hours=1)
M = pd.Timedelta(minutes=1)


def _served() -> pd.DataFrame:
    rows = [
        # request_id, surface, arm, unit, query, skus, ts
        ("s1", "search", "A", "u1", "Red Shoes", ["P1", "P2", "P3"], T0 + H),
        ("s2", "search", "B", "u2", "red  shoes ", ["P1", "P4"], T0 + 2 * H),
        ("s3", "search", "A", "u3", "xyzzy", [], T0 + 3 * H),
        ("s4", "search", "B", "u4", "blue hat", ["H1", "H2"], T0 + 25 * H),
        ("s5", "search", "B", "u5", "XYZZY", [], T0 + 26 * H),
        ("r1", "similar", "A", "u1", None, ["P5", "P6"], T0 + H),
        ("r2", "similar", "B", "u2", None, ["P5"], T0 + H),
        ("r3", "cart", "A", "u6", None, ["P7"], T0 + 2 * H),
        ("r4", "email", "A", "u5", None, ["P8", "P9"], T0 + 4 * H),
    ]
    return pd.DataFrame(rows, columns=["request_id", "surface", "arm", "unit", "query", "skus", "ts"])


def _events() -> pd.DataFrame:
    rows = [
        # event_id, type, ts, sku, customer_key, session_id, request_id, position, quantity, price
        ("e1", "search_click", T0 + H + M, "P1", "c1", "S1", "s1", 1, 1, None),
        ("e2", "search_click", T0 + H + 2 * M, "P3", "c1", "S1", "s1", 3, 1, None),
        ("e3", "purchase", T0 + 5 * H, "P3", "c1", "S1", None, None, 2, 10.0),  # session -> s1
        ("e4", "search_click", T0 + 2 * H + M, "P4", "c2", "S2", "s2", None, 1, None),  # position 2
        ("e5", "purchase", T0 + 27 * H + 2 * M, "P4", "c2", "S2", None, None, 1, 50.0),  # 25 h late
        ("e6", "purchase", T0 + 6 * H, "P2", "c1", "S1", "s1", None, 1, 30.0),  # own request_id
        ("e7", "add_to_cart", T0 + H + 5 * M, "P1", "c1", "S1", None, None, 1, None),  # session -> s1
        ("e8", "click", T0 + H + M, "P6", "c3", None, "r1", 2, 1, None),
        ("e9", "purchase", T0 + 3 * H, "P6", "c3", None, None, None, 3, 5.0),  # customer -> r1
        ("e10", "click", T0 + H + M, "P5", "c4", "S4", "r2", 1, 1, None),
        ("e11", "click", T0 + H + 2 * M, "P5", "c4", "S4", "r2", 1, 1, None),  # same click again
        ("e12", "email_click", T0 + 5 * H, "P8", "c5", "", "r4", 1, 1, None),  # "" = no session
        ("e13", "purchase", T0 + 6 * H, "P8", "c5", None, None, None, 1, 100.0),  # customer -> r4
        ("e14", "add_to_cart", T0 + 2 * H + M, "P7", "c6", "S9", "r3", None, 1, None),
        ("e15", "purchase", T0 + 2 * H + 30 * M, "P7", "c6", "S9", None, None, 1, 7.0),  # via e14
        ("e16", "purchase", T0 + 3 * H, "P1", "c1", "S-other", None, None, 1, 40.0),  # other session
        ("e17", "purchase", T0 + 3 * H, "P9", "c7", "S7", "zzz", None, 1, 9.0),  # unknown request
        ("e18", "view", T0 + 3 * H, "P9", "c7", "S7", None, None, 1, None),
        ("e19", "email_send", T0 + 4 * H, None, "c5", None, None, None, 1, None),
    ]
    cols = ["event_id", "type", "ts", "sku", "customer_key", "session_id", "request_id", "position"]
    frame = pd.DataFrame(rows, columns=[*cols, "quantity", "price"])
    frame["channel"] = "web"
    frame["basket_id"] = None
    frame["query"] = None
    return frame


@pytest.fixture(scope="module")
def report() -> dict:
    return analytics_report(_served(), _events(), since=T0, until=T0 + 72 * H)


def test_attribution_rule() -> None:
    att = attribute(_served(), _events()).set_index("event_id")
    assert list(att.index) == ["e3", "e5", "e6", "e7", "e9", "e13", "e14", "e15", "e16", "e17"]
    expected = {
        "e3": ("s1", "session"),
        "e5": (None, None),  # the click was 25 h before: outside the 24 h window
        "e6": ("s1", "request_id"),
        "e7": ("s1", "session"),
        "e9": ("r1", "customer"),
        "e13": ("r4", "customer"),
        "e14": ("r3", "request_id"),
        "e15": ("r3", "session"),  # an add_to_cart that carried a request_id is a touch
        "e16": (None, None),  # same customer, other session: a session matches only itself
        "e17": ("zzz", "request_id"),
    }
    for event_id, (request_id, via) in expected.items():
        row = att.loc[event_id]
        got = (
            None if pd.isna(row["request_id"]) else row["request_id"],
            None if pd.isna(row["via"]) else row["via"],
        )
        assert got == (request_id, via), event_id
    assert att.loc["e3", "click_ts"] == T0 + H + 2 * M  # the click on P3, not the one on P1
    assert att.loc["e3", "revenue"] == 20.0 and att.loc["e7", "revenue"] == 0.0
    assert att.loc["e3", "surface"] == "search" and att.loc["e3", "query"] == "red shoes"
    assert att.loc["e9", "arm"] == "A" and pd.isna(att.loc["e17", "surface"])

    wider = attribute(_served(), _events(), window=pd.Timedelta(hours=48)).set_index("event_id")
    assert wider.loc["e5", "request_id"] == "s2" and wider.loc["e5", "via"] == "session"


def test_search_numbers(report: dict) -> None:
    s = report["search"]
    assert s["searches"] == s["answers"] == 5
    assert (s["zero_results"], s["zero_result_rate"]) == (2, pytest.approx(0.4))
    assert (s["clicks"], s["clicked_answers"], s["ctr"]) == (3, 2, pytest.approx(0.4))
    assert (s["add_to_carts"], s["purchases"], s["conversions"]) == (1, 2, 1)
    assert s["conversion_rate"] == pytest.approx(0.2)
    assert s["revenue"] == pytest.approx(50.0) and s["revenue_per_search"] == pytest.approx(10.0)
    assert s["revenue_sumsq"] == pytest.approx(2500.0)
    assert s["units"] == 5 and s["impressions"] == 7


def test_query_tables(report: dict) -> None:
    top = report["top_queries"]
    assert [q["query"] for q in top] == ["red shoes", "xyzzy", "blue hat"]
    red = top[0]
    assert (red["searches"], red["clicks"], red["clicked_searches"], red["ctr"]) == (2, 3, 2, 1.0)
    assert (red["purchases"], red["conversions"], red["conversion_rate"], red["revenue"]) == (2, 1, 0.5, 50.0)
    assert (top[1]["searches"], top[1]["zero_results"], top[1]["ctr"]) == (2, 2, 0.0)
    assert report["zero_result_queries"] == [{"query": "xyzzy", "zero_results": 2, "searches": 2}]
    assert report["no_click_queries"] == [{"query": "blue hat", "searches": 1}]
    assert report["zero_result_rate_over_time"] == [
        {"bucket": "2026-10-01T00:00:00+00:00", "searches": 3, "zero_results": 1, "zero_result_rate": 1 / 3},
        {"bucket": "2026-10-02T00:00:00+00:00", "searches": 2, "zero_results": 1, "zero_result_rate": 0.5},
    ]
    assert len(analytics_report(_served(), _events(), top_n=1)["top_queries"]) == 1


def test_ctr_by_position(report: dict) -> None:
    by_pos = {r["position"]: r for r in report["ctr_by_position"]}
    assert list(by_pos) == list(range(1, 11))
    assert (by_pos[1]["answers"], by_pos[1]["clicks"]) == (3, 1)
    assert (by_pos[2]["answers"], by_pos[2]["clicks"]) == (3, 1)  # s2's click: position from its skus
    assert (by_pos[3]["answers"], by_pos[3]["clicks"], by_pos[3]["ctr"]) == (1, 1, 1.0)
    assert (by_pos[4]["answers"], by_pos[4]["ctr"]) == (0, None)


def test_surfaces(report: dict) -> None:
    surfaces = report["surfaces"]
    assert list(surfaces) == ["search", "similar", "cart", "email"]
    sim, cart, email = surfaces["similar"], surfaces["cart"], surfaces["email"]
    assert (sim["answers"], sim["clicks"], sim["clicked_answers"], sim["ctr"]) == (2, 3, 2, 1.0)
    assert (sim["purchases"], sim["conversion_rate"], sim["revenue"], sim["revenue_per_answer"]) == (
        1,
        0.5,
        15.0,
        7.5,
    )
    assert (cart["ctr"], cart["add_to_carts"], cart["purchases"], cart["revenue"]) == (0.0, 1, 1, 7.0)
    assert (email["ctr"], email["revenue"]) == (1.0, 100.0)
    assert report["attribution"] == {
        "add_to_cart": {
            "request_id": 1,
            "session": 1,
            "customer": 0,
            "unattributed": 0,
            "unknown_request": 0,
        },
        "purchase": {"request_id": 2, "session": 2, "customer": 2, "unattributed": 2, "unknown_request": 1},
    }


def test_arms(report: dict) -> None:
    assert report["arms"] == ["A", "B"]
    a, b = report["by_arm"]["A"], report["by_arm"]["B"]
    assert (a["search"]["searches"], a["search"]["ctr"], a["search"]["revenue"]) == (2, 0.5, 50.0)
    assert (b["search"]["searches"], b["search"]["zero_results"], b["search"]["clicked_answers"]) == (3, 1, 1)
    assert b["search"]["ctr"] == pytest.approx(1 / 3) and b["search"]["revenue"] == 0.0
    assert (a["surfaces"]["similar"]["clicks"], a["surfaces"]["similar"]["revenue"]) == (1, 15.0)
    assert (b["surfaces"]["similar"]["clicks"], b["surfaces"]["similar"]["revenue"]) == (2, 0.0)
    assert list(a["surfaces"]) == ["search", "similar", "cart", "email"] and list(b["surfaces"]) == [
        "search",
        "similar",
    ]
    assert [q["query"] for q in b["no_click_queries"]] == ["blue hat"]
    assert b["ctr_by_position"][1]["clicks"] == 1 and a["ctr_by_position"][2]["clicks"] == 1
    for key in ("answers", "clicked_answers", "conversions", "revenue"):  # the arms add up
        assert a["search"][key] + b["search"][key] == report["search"][key]


def test_period_filter() -> None:
    day2 = analytics_report(_served(), _events(), since=T0 + 24 * H, until="2026-10-03")
    assert day2["period"]["since"] == "2026-10-02T00:00:00+00:00"
    assert day2["search"]["searches"] == 2 and list(day2["surfaces"]) == ["search"]
    assert day2["attribution"]["purchase"]["unattributed"] == 1  # e5, the only purchase that day
    # events after ``until`` are not counted: the report of a closed period never changes
    early = analytics_report(_served(), _events(), since=T0, until=T0 + 4 * H)
    assert early["search"]["purchases"] == 0 and early["surfaces"]["similar"]["revenue"] == 15.0


def test_json_markdown_and_plots(report: dict, tmp_path: Path) -> None:
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    paths = write_plots(report, tmp_path / "plots")
    assert [p.name for p in paths] == [
        "zero_result_rate.png",
        "ctr_by_position.png",
        "revenue_by_surface.png",
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 1000
    md = report_markdown(report, [Path("plots") / p.name for p in paths])
    assert "| red shoes | 2 | 100.0% | 1 | 50.0% | 50.00 |" in md
    assert "## Arms" in md and "![ctr_by_position](plots/ctr_by_position.png)" in md


def test_empty_inputs(tmp_path: Path) -> None:
    served = _served().iloc[:0]
    events = _events().iloc[:0]
    report = analytics_report(served, events)
    assert report["search"]["searches"] == 0 and report["search"]["ctr"] is None
    assert report["surfaces"] == {} and report["top_queries"] == [] and report["arms"] == []
    json.dumps(report, allow_nan=False)
    assert len(write_plots(report, tmp_path)) == 3 and report_markdown(report)


def test_tolerant_inputs() -> None:
    """What a store may hand over: naive UTC times, categorical types, nullable ints, no optional columns."""
    served = _served().drop(columns=["arm", "unit"])
    served["ts"] = served["ts"].dt.tz_localize(None)
    events = _events().drop(columns=["channel", "basket_id", "query", "event_id"])
    events["type"] = events["type"].astype("category")
    events["position"] = events["position"].astype("Int64")
    events["quantity"] = events["quantity"].astype("Int64")
    report = analytics_report(served, events, since="2026-10-01", until="2026-10-04")
    assert report["arms"] == ["A"]
    assert (report["search"]["searches"], report["search"]["revenue"]) == (5, 50.0)
    assert report["ctr_by_position"][1]["clicks"] == 1
    assert attribute(served, events)["via"].notna().sum() == 8


def test_markdown_escapes_pipes() -> None:
    served = pd.DataFrame(
        [("q1", "search", "A", "u1", "a|b", ["P1"], T0)],
        columns=["request_id", "surface", "arm", "unit", "query", "skus", "ts"],
    )
    md = report_markdown(analytics_report(served, _events().iloc[:0]))
    assert "| a\\|b | 1 |" in md
