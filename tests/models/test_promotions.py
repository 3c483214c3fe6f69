"""Merchandising rules on recommendation surfaces, on-sale / new-arrival boosts, and loyalty tiers,
on a planted six-product catalog."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.catalog import Catalog
from models.live.prices import PriceBook
from models.loyalty import Member, hidden_products, member_prices, next_tier_facts, unlocked_tiers
from models.promotions import picks_for, promote, signals
from models.recommend import Recommendation
from models.rules import Loyalty, RuleSet
from models.store import PriceEntry

NOW = pd.Timestamp("2026-10-01T12:00:00Z")


@pytest.fixture()
def catalog() -> Catalog:
    products = pd.DataFrame(
        {
            "sku": [f"S{i}" for i in range(6)],
            "title": [f"Product {i}" for i in range(6)],
            "brand": ["Acme", "Acme", "Bolt", "Bolt", "Core", "Core"],
            "category": [
                "Tools > Drills",
                "Tools > Saws",
                "Garden > Hoses",
                "Garden > Hoses",
                "Tools > Drills",
                "Kitchen > Pans",
            ],
            "price": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
            "created_at": pd.to_datetime(
                ["2025-01-01", "2025-01-01", "2026-09-25", "2025-01-01", "2026-09-28", "2025-01-01"], utc=True
            ),
            "member_tier_min": [None, None, None, None, None, "gold"],
        }
    )
    return _catalog(products)


def _catalog(products: pd.DataFrame) -> Catalog:
    from models.catalog import top_category

    products = products.copy()
    products["top_category"] = products["category"].map(top_category)
    for ch, default in (("store", True), ("web", True), ("app", True), ("marketplace", False)):
        products[f"available_{ch}"] = default
    return Catalog(products, [], np.zeros((0, len(products)), dtype=np.int32))


def recs(*items: int) -> list[Recommendation]:
    return [
        Recommendation(i, 1.0 - 0.1 * n, "personalised", "Picked for you from your interest in X")
        for n, i in enumerate(items)
    ]


def rules(*rs: dict, tiers: list[dict] | None = None) -> RuleSet:
    return RuleSet.model_validate({"rules": list(rs), "loyalty": {"tiers": tiers or []}})


def test_a_rule_without_surfaces_is_search_only(catalog):
    rs = rules(
        {"id": "r", "match": {"exact": "drill"}, "pin": [{"sku": "S5", "position": 1}], "hide": ["S0"]}
    )
    assert rs.rules[0].surfaces == ["search"]
    assert rs.for_surface("customer") == []
    out, fired = promote(rs, "customer", recs(0, 1, 2), catalog, None, None, 3)
    assert [r.item for r in out] == [0, 1, 2] and fired == []
    assert rs.apply("drill", np.array([0, 1, 2]), np.array([3.0, 2.0, 1.0]), catalog).items.tolist() == [
        5,
        1,
        2,
    ]


def test_pin_hide_boost_bury_on_a_recommendation_surface(catalog):
    rs = rules(
        {
            "id": "promo",
            "surfaces": ["customer", "email"],
            "pin": [{"sku": "S3", "position": 2}],
            "hide": ["S1"],
            "boost": [{"brand": "Core", "factor": 10}],
            "bury": [{"category": "Tools > Drills", "factor": 100}],
        }
    )
    out, fired = promote(rs, "customer", recs(0, 1, 2, 4), catalog, None, None, 4)
    # S1 hidden; S0 (a drill) / 100 -> last; S4 (Core, a drill) x10 / 100 above it, net buried so
    # not "promoted"; S3 pinned at 2
    assert [(r.item, r.reason_code) for r in out] == [
        (2, "personalised"),
        (3, "promoted"),
        (4, "personalised"),
        (0, "personalised"),
    ]
    assert out[1].reason == "Featured by the shop"
    assert fired == ["promo"]
    assert promote(rs, "similar", recs(0, 1), catalog, None, None, 2)[0][1].item == 1  # not its surface
    allowed = np.ones(6, dtype=bool)
    allowed[3] = False  # a pin the list's eligibility forbids (out of stock, member-only) is skipped
    assert [r.item for r in promote(rs, "customer", recs(0, 2), catalog, allowed, None, 3)[0]] == [2, 0]
    hidden = rs.hidden("email", catalog)
    assert np.flatnonzero(hidden).tolist() == [1]


def test_on_sale_and_new_arrival_boosts_say_so(catalog):
    book = PriceBook.from_catalog(catalog.products["price"].to_numpy())
    book = book.with_entries([PriceEntry("S1", 15.0, 20.0, "web")], np.array([1]))
    view = book.view("web", None, NOW.timestamp())
    sig = signals(catalog, view, NOW)
    assert sig.sale(np.arange(6)).tolist() == [False, True, False, False, False, False]
    assert sig.new(np.arange(6), 7).tolist() == [False, False, True, False, True, False]
    rs = rules(
        {
            "id": "sale-and-new",
            "surfaces": ["customer"],
            "boost": [{"on_sale": True, "factor": 50}, {"new_arrival_days": 7, "factor": 5}],
        }
    )
    out, _ = promote(rs, "customer", recs(0, 3, 2, 1), catalog, None, sig, 4)
    assert [(r.item, r.reason_code, r.reason) for r in out] == [
        (1, "on_sale", "On sale now"),
        (2, "new_arrival", "New arrival"),
        (0, "personalised", "Picked for you from your interest in X"),
        (3, "personalised", "Picked for you from your interest in X"),
    ]
    picks = picks_for(catalog, sig, ["Tools", "Garden"], np.ones(6, bool), np.arange(6.0), 5)
    assert [(r.item, r.reason_code) for r in picks] == [
        (4, "new_arrival"),
        (1, "on_sale"),
        (2, "new_arrival"),
    ]
    assert picks[0].reason == "New arrival in Tools, picked for you"


def test_rules_validate_surfaces_and_kinds():
    with pytest.raises(ValueError, match="needs a 'match'"):
        rules({"id": "x", "hide": ["S1"]})
    with pytest.raises(ValueError, match="exactly one of"):
        rules({"id": "x", "surfaces": ["cart"], "boost": [{"on_sale": True, "brand": "Acme", "factor": 2}]})
    with pytest.raises(ValueError):
        rules({"id": "x", "surfaces": ["checkout"], "hide": ["S1"]})
    assert rules({"id": "x", "surfaces": ["cart"], "hide": ["S1"]}).rules[0].match is None


def test_tiers_unlock_prices_products_and_say_how_far_the_next_is(catalog):
    program = Loyalty.model_validate(
        {"tiers": [{"name": "silver"}, {"name": "gold", "min_points": 1000, "min_purchases": 10}]}
    )
    silver, gold = Member("silver", 400), Member("Gold", 1500)
    assert np.flatnonzero(hidden_products(catalog, program, None)).tolist() == [5]
    assert np.flatnonzero(hidden_products(catalog, program, silver)).tolist() == [5]
    assert hidden_products(catalog, program, gold) is None
    assert unlocked_tiers(program, gold) == ("silver", "gold")
    assert next_tier_facts(program, silver, 7)[1] == ["3 purchases from gold", "600 points from gold"]
    assert next_tier_facts(program, gold, 0) == (None, [])
    book = PriceBook.from_catalog(catalog.products["price"].to_numpy())
    book = book.with_entries(
        [PriceEntry("S2", 25.0, None, "tier:silver"), PriceEntry("S3", 45.0, None, "tier:silver")],
        np.array([2, 3]),
    )
    public = book.view("web", None, NOW.timestamp())
    assert public.price[2] == 30.0  # the public price never sees a tier price
    member = member_prices(book, public, "web", None, NOW.timestamp(), unlocked_tiers(program, gold))
    assert member.price[[2, 3]].tolist() == [25.0, 40.0]  # a member price above the public one is ignored
    assert member.list_price[2] == 30.0 and np.isnan(member.list_price[3])
