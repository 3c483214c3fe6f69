"""BM25 index: field weighting, stemming, empty queries, filters and a pickle-free round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.lexical import BM25Index
from models.text import normalize, product_text, tokenize

PRODUCTS = [
    {
        "title": "Cordless Drill 18V",
        "brand": "Makita",
        "category": "Tools > Drills",
        "description": "drill with battery",
    },
    {"title": "Hole Saw Kit", "brand": "Milwaukee", "category": "Tools > Saws", "description": "for drills"},
    {
        "title": "Garden Hose 50 ft",
        "brand": "Gilmour",
        "category": "Garden",
        "description": "drill resistant hose",
    },
    {
        "title": "Camiseta Azul Algodão",
        "brand": "Hering",
        "category": "Roupas",
        "description": "camiseta básica",
    },
    {"title": "Makita Impact Driver", "brand": "Makita", "category": "Tools > Drivers", "description": ""},
    {"title": "हिंदी किताब", "brand": "", "category": "Books", "description": "children book"},
]
IDS = ["p1", "p2", "p3", "p4", "p5", "p6"]


@pytest.fixture(scope="module")
def bm25_index() -> BM25Index:
    return BM25Index().fit(pd.DataFrame(PRODUCTS), IDS)


def test_text_normalisation_and_tokens() -> None:
    assert normalize("  CAFÉ\u200b  São\tPaulo ") == "cafe sao paulo"
    assert tokenize("The 1/2 in. Hole-Saws, 2.5 gal") == ["1/2", "hole", "saws", "2.5", "gal"]
    assert tokenize("हिंदी किताब") == ["हिंदी", "किताब"]  # vowel signs kept inside the word
    text = product_text(
        {"title": "Red Shirt", "brand": "Acme", "category": "Apparel", "description": "x " * 500}
    )
    assert text.startswith("Red Shirt. Acme. Apparel") and len(text) <= 512


def test_title_outranks_description(bm25_index: BM25Index) -> None:
    ids, scores = bm25_index.search("drill", k=10)
    assert ids[0] == "p1"  # title + description beats description-only hits
    assert "p3" in ids and ids.index("p1") < ids.index("p3")
    assert np.all(np.diff(scores) <= 0)


def test_stemming_and_accents(bm25_index: BM25Index) -> None:
    assert bm25_index.search("hole saws", k=3)[0][0] == "p2"
    assert bm25_index.search("camiseta algodao", k=3)[0][0] == "p4"
    assert bm25_index.search("किताब", k=3)[0] == ["p6"]


def test_empty_and_unknown_queries_return_nothing(bm25_index: BM25Index) -> None:
    for query in ["", "   ", "the of and", "zzzqqq"]:
        ids, scores = bm25_index.search(query, k=5)
        assert ids == [] and scores.size == 0


def test_search_many_and_filter(bm25_index: BM25Index) -> None:
    results = bm25_index.search_many(["makita", "garden hose"], k=2)
    assert set(results[0][0]) == {"p1", "p5"}
    assert results[1][0][0] == "p3"
    allowed = np.array([i == "p5" for i in IDS])
    assert bm25_index.search("makita", k=5, allowed=allowed)[0] == ["p5"]


def test_save_load_roundtrip(bm25_index: BM25Index, tmp_path) -> None:
    bm25_index.save(tmp_path / "bm25")
    assert not list((tmp_path / "bm25").glob("*.pkl"))
    loaded = BM25Index.load(tmp_path / "bm25")
    for q in ["drill", "makita impact", "hole saws"]:
        a, sa = bm25_index.search(q, 5)
        b, sb = loaded.search(q, 5)
        assert a == b and np.allclose(sa, sb)
    with pytest.raises(FileNotFoundError):
        BM25Index.load(tmp_path / "nothing")


def test_fit_validates_input() -> None:
    with pytest.raises(ValueError):
        BM25Index().fit(PRODUCTS, IDS[:2])
    with pytest.raises(ValueError):
        BM25Index().fit([], [])
