"""Suggester: prefix completions, popular queries first, typo on the last token, accents, k bound, speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.suggest import Suggester, prefix_key, query_log_from_events, suggest_key


@pytest.fixture(scope="module")
def suggest_products() -> pd.DataFrame:
    rows = [
        ("SKU-1", "Trailblazer Running Shoes - Red", "Acme", "Footwear > Running Shoes"),
        ("SKU-2", "Trailblazer Running Shoes - Red", "Acme", "Footwear > Running Shoes"),  # another size
        ("SKU-3", "Cordless Hammer Drill 18V", "Voltix", "Tools > Drills"),
        ("SKU-4", "Café Crema Espresso Beans", "Cafe Serra", "Grocery > Coffee"),
        ("SKU-5", "Ceramic Coffee Mug", "Homely", "Home & Kitchen > Mugs"),
        ("SKU-6", "Running Socks 3-Pack", "Acme", "Apparel > Socks"),
    ]
    return pd.DataFrame(rows, columns=["sku", "title", "brand", "category"])


@pytest.fixture(scope="module")
def suggest_log() -> list[str]:
    return (
        ["running shoes"] * 30
        + ["Running Shoes"] * 5
        + ["running socks"] * 3
        + ["rum raisin"]
        + ["drill bits"] * 2
    )


@pytest.fixture(scope="module")
def suggester(suggest_products: pd.DataFrame, suggest_log: list[str]) -> Suggester:
    return Suggester(min_query_count=2, max_k=8).fit(suggest_products, suggest_log, popularity={"SKU-2": 9.0})


def _texts(found) -> list[str]:
    return [s.text for s in found]


def test_keys_normalise_case_accents_and_punctuation() -> None:
    assert suggest_key("Café  Crème-Brûlée") == "cafe creme brulee"
    assert prefix_key("Red ") == "red " and prefix_key("Red") == "red"


def test_prefix_completions_rank_popular_logged_queries_first(suggester: Suggester) -> None:
    found = suggester.suggest("run", k=8)
    assert found[0].text == "running shoes" and found[0].kind == "query"  # 35 searches beat 3
    texts = _texts(found)
    assert texts.index("running socks") < texts.index("Running Socks 3-Pack")  # a logged query beats a title
    kinds = [s.kind for s in found]
    assert kinds.index("query") < kinds.index("category") < kinds.index("product")
    assert all(s.text.casefold().startswith("run") or " run" in s.text.casefold() for s in found)
    scores = [s.score for s in found]
    assert scores == sorted(scores, reverse=True)


def test_a_query_seen_once_is_noise(suggester: Suggester) -> None:
    assert "rum raisin" not in _texts(suggester.suggest("rum", k=8))
    assert "drill bits" in _texts(suggester.suggest("dri", k=8))


def test_one_title_in_many_sizes_is_one_suggestion_with_its_most_popular_sku(suggester: Suggester) -> None:
    products = [s for s in suggester.suggest("trailbl", k=8) if s.kind == "product"]
    assert len(products) == 1 and products[0].sku == "SKU-2"


def test_matches_later_words_below_the_start(suggester: Suggester) -> None:
    found = suggester.suggest("drill", k=8)
    assert "Cordless Hammer Drill 18V" in _texts(found)
    assert found[0].text == "drill bits"  # a match at the start outranks the infix one
    assert "Tools > Drills" in _texts(suggester.suggest("drills", k=8))  # the leaf of a category path


def test_case_and_accent_insensitive(suggester: Suggester) -> None:
    assert _texts(suggester.suggest("CAFÉ CR", k=5)) == _texts(suggester.suggest("cafe cr", k=5))
    assert "Café Crema Espresso Beans" in _texts(suggester.suggest("cafe cr", k=5))
    assert [s.kind for s in suggester.suggest("homely", k=5)] == ["brand"]


def test_typo_on_the_last_token_when_nothing_completes(suggester: Suggester) -> None:
    assert suggester.suggest("runnign", k=3)[0].text == "running shoes"  # transposition: 2 edits at 7 letters
    found = suggester.suggest("running shose", k=3)
    assert found and found[0].text == "running shoes"
    assert found[0].score < suggester.suggest("running sho", k=1)[0].score  # a corrected match costs
    assert suggester.suggest("zzzq", k=5) == []
    assert suggester.suggest("cer", k=5)[0].text == "Ceramic Coffee Mug"  # exact prefix: no correction


def test_trailing_space_completes_the_word(suggester: Suggester) -> None:
    assert "running shoes" in _texts(suggester.suggest("running ", k=8))
    assert suggester.suggest("runnin ", k=8) == []  # "runnin" is not a word


def test_k_is_bounded(suggester: Suggester) -> None:
    assert len(suggester.suggest("r", k=2)) == 2
    assert len(suggester.suggest("r", k=8)) <= 8
    with pytest.raises(ValueError, match="k must be between 1 and 8"):
        suggester.suggest("r", k=9)
    assert suggester.suggest("   ", k=3) == []


def test_precomputed_short_prefixes_equal_a_ranked_scan(suggester: Suggester) -> None:
    for prefix in ("r", "ru", "run", "c", "ca", "caf"):
        assert suggester._lookup(prefix, 8) == suggester._rank_range(prefix, 8)


def test_save_load_round_trip_without_pickle(suggester: Suggester, tmp_path: Path) -> None:
    paths = suggester.save(tmp_path)
    assert {p.suffix for p in paths} == {".json", ".npz"}
    loaded = Suggester.load(tmp_path)
    for prefix in ("r", "run", "runnign", "cafe", "drill"):
        assert loaded.suggest(prefix, 5) == suggester.suggest(prefix, 5)
    with pytest.raises(FileNotFoundError):
        Suggester.load(tmp_path / "missing")


def test_query_log_prefers_search_events_over_clicks() -> None:
    events = pd.DataFrame(
        {"type": ["search", "search_click", "search_click", "view"], "query": ["a", "a", "b", None]}
    )
    assert query_log_from_events(events) == ["a"]
    assert query_log_from_events(events[events["type"] != "search"]) == ["a", "b"]


def test_fit_rejects_products_without_titles() -> None:
    with pytest.raises(ValueError, match="title"):
        Suggester().fit(pd.DataFrame({"sku": ["A"]}))


def test_every_prefix_of_a_few_thousand_products_is_answered() -> None:
    """Random prefixes of catalog words (typos included) all get completions that start with or
    correct what was typed. Latency is measured in ``benchmarks/bench_search.py`` (suggest), not here:
    a timed unit test only measures how loaded the CI machine is."""
    rng = np.random.default_rng(0)
    words = ["running", "shoes", "drill", "coffee", "mug", "jacket", "kettle", "lamp", "pillow", "tent"]
    colours = ["red", "blue", "black", "green", "white"]
    titles = [f"{rng.choice(words)} {rng.choice(words)} {i} {rng.choice(colours)}" for i in range(3000)]
    products = pd.DataFrame({"sku": [f"S{i}" for i in range(3000)], "title": titles, "category": "A > B"})
    log = [f"{rng.choice(colours)} {rng.choice(words)}" for _ in range(5000)]
    model = Suggester().fit(products, log)
    for word in rng.choice(words + colours, 200):
        prefix = word[: rng.integers(2, len(word) + 1)]
        found = model.suggest(prefix, 10)
        assert 0 < len(found) <= 10, prefix
        assert any(prefix in s.text.lower() for s in found), (prefix, [s.text for s in found])
    for typo, meant in (("runnnig", "running"), ("jackte", "jacket")):
        assert any(meant in s.text.lower() for s in model.suggest(typo, 10)), typo
