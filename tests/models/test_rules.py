"""Merchandising rules: every action, validation messages naming the rule, synonyms one-way vs two-way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from models.catalog import Catalog
from models.query.synonyms import SynonymSet
from models.rules import RulesError, RuleSet, describe, load_live_rules


@pytest.fixture(scope="module")
def rules_catalog() -> Catalog:
    rows = [
        ("D1", "Cordless Drill", "Voltix", "Tools > Drills", "black", "M", 99.0),
        ("D2", "Hammer Drill", "Boltra", "Tools > Drills", "red", "L", 149.0),
        ("D3", "Drill Bits Set", "Voltix", "Tools > Accessories", "grey", "S", 19.0),
        ("S1", "Running Shoes", "Acme", "Footwear > Running", "red", "42", 59.0),
        ("S2", "Trail Shoes", "Acme", "Footwear > Trail", "green", "43", 79.0),
        ("G1", "Gift Card", "Store", "Gifts", "white", "", 25.0),
    ]
    products = pd.DataFrame(rows, columns=["sku", "title", "brand", "category", "color", "size", "price"])
    return Catalog.build(products, pd.DataFrame(columns=["sku", "store_id", "stock"]), ["S-1"])


def _ranking(catalog: Catalog, skus: list[str]) -> tuple[np.ndarray, np.ndarray]:
    items = catalog.indices(skus)
    return items, np.linspace(1.0, 0.5, len(items))


def _skus(catalog: Catalog, items: np.ndarray) -> list[str]:
    return [str(catalog.skus[i]) for i in items]


def _rules(*rules: dict, **extra) -> RuleSet:
    return RuleSet.model_validate({"rules": list(rules), **extra})


def test_pin_moves_a_retrieved_sku_and_inserts_a_missing_one(rules_catalog: Catalog) -> None:
    items, scores = _ranking(rules_catalog, ["D1", "D2", "D3"])
    rs = _rules(
        {
            "id": "pin",
            "match": {"exact": "Drill"},
            "pin": [{"sku": "D3", "position": 1}, {"sku": "G1", "position": 3}],
        }
    )
    out = rs.apply("  DRILL ", items, scores, rules_catalog)
    assert _skus(rules_catalog, out.items) == ["D3", "D1", "G1", "D2"]
    assert out.fired == ["pin"] and out.redirect is None
    assert len(out.scores) == len(out.items)
    # A sku the request's hard filters exclude is not inserted.
    allowed = np.ones(len(rules_catalog), dtype=bool)
    allowed[rules_catalog.sku_index["G1"]] = False
    assert "G1" not in _skus(
        rules_catalog, rs.apply("drill", items, scores, rules_catalog, allowed=allowed).items
    )
    # A position past the end appends.
    far = _rules({"id": "far", "match": {"exact": "drill"}, "pin": [{"sku": "D1", "position": 50}]})
    assert _skus(rules_catalog, far.apply("drill", items, scores, rules_catalog).items) == ["D2", "D3", "D1"]


def test_exact_versus_contains_matching(rules_catalog: Catalog) -> None:
    items, scores = _ranking(rules_catalog, ["D1", "D2"])
    exact = _rules({"id": "x", "match": {"exact": "drill"}, "hide": ["D1"]})
    contains = _rules({"id": "c", "match": {"contains": "hammer drill"}, "hide": ["D1"]})
    assert exact.apply("cordless drill", items, scores, rules_catalog).fired == []
    assert contains.apply("red Hammer-Drill 18v", items, scores, rules_catalog).fired == ["c"]
    assert contains.apply("drill hammer", items, scores, rules_catalog).fired == []  # a phrase, in order
    disabled = _rules({"id": "off", "enabled": False, "match": {"exact": "drill"}, "hide": ["D1"]})
    assert disabled.apply("drill", items, scores, rules_catalog).fired == []


def test_hide_removes_and_is_never_reinserted_by_a_pin(rules_catalog: Catalog) -> None:
    items, scores = _ranking(rules_catalog, ["D1", "D2", "D3"])
    rs = _rules(
        {"id": "hide", "match": {"exact": "drill"}, "hide": ["D2"]},
        {"id": "pin", "match": {"contains": "drill"}, "pin": [{"sku": "D2", "position": 1}]},
    )
    out = rs.apply("drill", items, scores, rules_catalog)
    assert _skus(rules_catalog, out.items) == ["D1", "D3"]
    assert out.fired == ["hide", "pin"]


def test_boost_and_bury_by_brand_category_and_attribute(rules_catalog: Catalog) -> None:
    items, scores = _ranking(rules_catalog, ["D1", "D2", "D3", "S1"])
    boost = _rules({"id": "b", "match": {"contains": "drill"}, "boost": [{"brand": "boltra", "factor": 3}]})
    assert _skus(rules_catalog, boost.apply("drill", items, scores, rules_catalog).items)[0] == "D2"
    cat = _rules(
        {
            "id": "c",
            "match": {"contains": "drill"},
            "boost": [{"category": "Tools > Accessories", "factor": 5}],
        }
    )
    assert _skus(rules_catalog, cat.apply("drill", items, scores, rules_catalog).items)[0] == "D3"
    top = _rules({"id": "t", "match": {"contains": "drill"}, "bury": [{"category": "tools", "factor": 10}]})
    assert _skus(rules_catalog, top.apply("drill", items, scores, rules_catalog).items) == [
        "S1",
        "D1",
        "D2",
        "D3",
    ]
    attr = _rules(
        {
            "id": "a",
            "match": {"contains": "drill"},
            "bury": [{"attribute": "color", "value": "Black", "factor": 4}],
        }
    )
    out = attr.apply("drill", items, scores, rules_catalog)
    assert _skus(rules_catalog, out.items)[-1] == "D1"
    assert out.scores[-1] == pytest.approx(0.25)  # 1.0 / 4
    assert list(out.scores) == sorted(out.scores, reverse=True)


def test_redirect_first_fired_wins(rules_catalog: Catalog) -> None:
    items, scores = _ranking(rules_catalog, ["G1"])
    rs = _rules(
        {"id": "r1", "match": {"contains": "gift"}, "redirect": "/pages/gift-guide"},
        {"id": "r2", "match": {"exact": "gift card"}, "redirect": "https://example.com/cards"},
    )
    out = rs.apply("gift card", items, scores, rules_catalog)
    assert out.redirect == "/pages/gift-guide" and out.fired == ["r1", "r2"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"id": "p0", "match": {"exact": "x"}, "pin": [{"sku": "D1", "position": 0}]},
            "rule 'p0': pin.0.position",
        ),
        ({"id": "noact", "match": {"exact": "x"}}, "rule 'noact' has no action"),
        ({"id": "two", "match": {"exact": "x", "contains": "y"}, "hide": ["D1"]}, "rule 'two': match"),
        (
            {"id": "f", "match": {"exact": "x"}, "boost": [{"brand": "Acme", "factor": 0.5}]},
            "rule 'f': boost.0.factor",
        ),
        (
            {"id": "both", "match": {"exact": "x"}, "boost": [{"brand": "A", "category": "B", "factor": 2}]},
            "exactly one",
        ),
        (
            {
                "id": "attr",
                "match": {"exact": "x"},
                "bury": [{"attribute": "weight", "value": "1", "factor": 2}],
            },
            "'weight'",
        ),
        ({"id": "url", "match": {"exact": "x"}, "redirect": "javascript:alert(1)"}, "rule 'url': redirect"),
        ({"id": "ph", "match": {"exact": "x"}, "hide": ["D1"], "typo": 1}, "rule 'ph': typo"),
        ({"id": "bad id!", "match": {"exact": "x"}, "hide": ["D1"]}, "rule 'bad id!': id"),
    ],
)
def test_structural_errors_name_the_rule(rule: dict, message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        RuleSet.model_validate({"rules": [rule]})
    assert message in describe(exc.value)


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValidationError, match="repeated: \\['a'\\]"):
        _rules(
            {"id": "a", "match": {"exact": "x"}, "hide": ["D1"]},
            {"id": "a", "match": {"exact": "y"}, "hide": ["D2"]},
        )


def test_unknown_catalog_values_fail_check_naming_the_rule(rules_catalog: Catalog) -> None:
    rs = _rules(
        {
            "id": "ok",
            "match": {"exact": "drill"},
            "pin": [{"sku": "D1", "position": 1}],
            "boost": [{"category": "Tools", "factor": 2}],
        },
        {
            "id": "bad",
            "match": {"exact": "shoes"},
            "pin": [{"sku": "NOPE", "position": 1}],
            "boost": [{"brand": "Nobrand", "factor": 2}],
            "bury": [
                {"category": "Tools > Saws", "factor": 2},
                {"attribute": "color", "value": "mauve", "factor": 2},
            ],
        },
    )
    problems = rs.problems(rules_catalog)
    assert problems == [
        "rule 'bad': unknown sku 'NOPE'",
        "rule 'bad': unknown brand 'Nobrand'",
        "rule 'bad': unknown category 'Tools > Saws'",
        "rule 'bad': no product has color 'mauve'",
    ]
    with pytest.raises(RulesError, match="rule 'bad'"):
        rs.check(rules_catalog)
    assert _rules(rs.rules[0].model_dump()).check(rules_catalog).rules[0].id == "ok"


def test_synonyms_one_way_versus_two_way() -> None:
    rs = RuleSet.model_validate(
        {"synonyms": {"two_way": [["tv", "television"]], "one_way": {"sneakers": ["running shoes"]}}}
    )
    assert rs.expand("sneakers red") == ["running shoes red"]
    assert rs.expand("running shoes") == []  # one-way: not the other direction
    assert rs.expand("tv stand") == ["television stand"] and rs.expand("television") == ["tv"]
    # The same engine as the query understanding's: no second implementation.
    assert rs.expand("tv") == SynonymSet.from_dict(rs.synonyms.model_dump()).expand("tv")
    with pytest.raises(ValidationError, match="at least two phrases"):
        RuleSet.model_validate({"synonyms": {"two_way": [["tv"]]}})
    with pytest.raises(ValidationError, match="one_way"):
        RuleSet.model_validate({"synonyms": {"one_way": {"sneakers": []}}})


def test_atomic_save_and_live_file_initialised_from_the_bundle_default(
    rules_catalog: Catalog, tmp_path: Path
) -> None:
    default = _rules({"id": "d", "match": {"exact": "drill"}, "hide": ["D1"]}).save(
        tmp_path / "bundle" / "rules.json"
    )
    live = tmp_path / "var" / "rules.json"
    loaded = load_live_rules(live, default, rules_catalog, SynonymSet())
    assert [r.id for r in loaded.rules] == ["d"] and live.is_file()
    assert [p.name for p in live.parent.iterdir()] == ["rules.json"]  # no temp file left behind
    _rules({"id": "e", "match": {"exact": "x"}, "hide": ["D2"]}).save(live)
    assert [r.id for r in load_live_rules(live, default, rules_catalog, SynonymSet()).rules] == ["e"]
    live.write_text(json.dumps({"rules": [{"id": "z", "match": {"exact": "x"}}]}))
    with pytest.raises(RulesError, match="rule 'z' has no action"):
        load_live_rules(live, default, rules_catalog, SynonymSet())
    fresh = load_live_rules(
        tmp_path / "v2" / "rules.json", None, rules_catalog, SynonymSet([["tv", "television"]])
    )
    assert fresh.expand("tv") == ["television"] and fresh.rules == []


def test_round_trip_json(tmp_path: Path) -> None:
    rs = _rules(
        {
            "id": "a",
            "match": {"contains": "gift"},
            "redirect": "/gifts",
            "boost": [{"attribute": "size", "value": "M", "factor": 1.5}],
        },
        synonyms={"two_way": [["tv", "television"]]},
    )
    assert RuleSet.from_json(rs.save(tmp_path / "r.json")).model_dump() == rs.model_dump()
