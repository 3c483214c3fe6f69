"""The search ranker's two kinds (models/ranking.py): what each learns on planted queries, and one
JSON file that loads as the kind training kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.ranking import FEATURES, BoostedRanker, LinearRanker, load_ranker

BM25, CATEGORY = FEATURES.index("bm25_norm"), FEATURES.index("category_match")


def planted_queries(n_queries: int, per_query: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query one clicked product: the one of the named category with the strongest BM25.
    Decoys: a stronger BM25 in another category, and same-category products with weak BM25; the
    other features are noise."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_queries * per_query, len(FEATURES)))
    y = np.zeros(n_queries * per_query, dtype=int)
    for q in range(n_queries):
        rows = slice(q * per_query, (q + 1) * per_query)
        block = X[rows]
        block[:, CATEGORY] = 0.0
        block[: per_query // 2, CATEGORY] = 1.0  # half the candidates are of the named category
        block[:, BM25] = rng.uniform(0.0, 0.5, per_query)
        block[0, BM25] = rng.uniform(0.6, 0.8)  # the answer
        block[per_query - 1, BM25] = rng.uniform(0.85, 1.0)  # the decoy: best BM25, wrong category
        y[q * per_query] = 1
    return X, y, np.full(n_queries, per_query)


def test_lambdamart_puts_the_clicked_product_first_where_bm25_alone_would_not():
    X, y, group = planted_queries(120, 20, seed=0)
    ranker = BoostedRanker(seed=0).fit(X, y, group)
    X_new, y_new, group_new = planted_queries(30, 20, seed=1)
    scores = ranker.predict(X_new).reshape(len(group_new), -1)
    assert (scores.argmax(axis=1) == 0).all()
    assert (X_new[:, BM25].reshape(len(group_new), -1).argmax(axis=1) == 19).all()  # BM25 alone: the decoy
    share = ranker.feature_importance()
    assert set(share) == set(FEATURES) and max(share, key=share.get) in ("bm25_norm", "category_match")


def test_either_kind_round_trips_through_one_json_file(tmp_path):
    X, y, group = planted_queries(60, 20, seed=2)
    for ranker in (LinearRanker().fit(X, y), BoostedRanker(n_estimators=50, seed=0).fit(X, y, group)):
        path = tmp_path / f"{ranker.kind}.json"
        ranker.save(path)
        loaded = load_ranker(path)
        assert type(loaded) is type(ranker)
        np.testing.assert_array_equal(loaded.predict(X[:40]), ranker.predict(X[:40]))


def test_a_ranker_file_from_before_kinds_is_linear_and_a_foreign_one_is_refused(tmp_path):
    X, y, _ = planted_queries(20, 10, seed=3)
    path = tmp_path / "ranker.json"
    LinearRanker().fit(X, y).save(path)
    data = json.loads(path.read_text())
    del data["kind"]
    path.write_text(json.dumps(data))
    assert isinstance(load_ranker(path), LinearRanker)
    path.write_text(json.dumps(data | {"kind": "neural"}))
    with pytest.raises(ValueError, match="unknown kind 'neural'"):
        load_ranker(path)
    path.write_text(json.dumps(data | {"features": ["bm25_norm"]}))
    with pytest.raises(ValueError, match="trained on features"):
        load_ranker(path)
