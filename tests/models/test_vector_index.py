"""FAISS wrapper: exact vs HNSW, filter push-down, unnormalised factors and persistence."""

from __future__ import annotations

import numpy as np
import pytest

from models.vector_index import VectorIndex, choose_factory


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


IDS = [f"sku-{i}" for i in range(2000)]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return _unit(2000, 32, seed=0)


def test_factory_by_size() -> None:
    assert choose_factory(100, exact_max_items=1000) == "Flat"
    assert choose_factory(5000, exact_max_items=1000, hnsw_m=16) == "HNSW16"
    assert (
        VectorIndex(exact_max_items=500).build(_unit(600, 8, 1), [str(i) for i in range(600)]).factory_
        == "HNSW32"
    )


def test_exact_search_finds_itself(vectors: np.ndarray) -> None:
    index = VectorIndex().build(vectors, IDS)
    assert index.factory_ == "Flat"
    ids, scores = index.search(vectors[:5], k=3)
    assert [row[0] for row in ids] == IDS[:5]
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert index.measure_recall(vectors[:50], k=10) == 1.0


def test_hnsw_recall_is_high(vectors: np.ndarray) -> None:
    index = VectorIndex(exact_max_items=100, ef_search=128).build(vectors, IDS)
    queries = _unit(100, 32, seed=5)
    assert index.measure_recall(queries, k=10) >= 0.95


@pytest.mark.parametrize("exact_max_items", [50_000, 100])
def test_filter_pushdown(vectors: np.ndarray, exact_max_items: int) -> None:
    index = VectorIndex(exact_max_items=exact_max_items).build(vectors, IDS)
    allowed = ["sku-7", "sku-42", "sku-1999", "not-in-index"]
    ids, scores = index.search(vectors[:3], k=5, allowed_ids=allowed)
    for row in ids:
        assert set(row) == {"sku-7", "sku-42", "sku-1999"}
    assert scores.shape == (3, 5) and np.isneginf(scores[:, 3:]).all()
    assert index.search(vectors[:1], k=5, allowed_ids=[])[0] == [[]]


def test_inner_product_on_unnormalised_factors() -> None:
    items = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    index = VectorIndex().build(items, ["a", "b", "c"])
    ids, scores = index.search(np.array([1.0, 0.1], dtype=np.float32), k=3)
    assert ids[0] == ["b", "a", "c"]  # inner product, not cosine: longer vector wins
    assert scores[0, 0] == pytest.approx(3.0)
    assert np.allclose(index.vector("c"), [0.0, 2.0])


def test_save_load(vectors: np.ndarray, tmp_path) -> None:
    index = VectorIndex(exact_max_items=100).build(vectors, IDS)
    index.save(tmp_path / "vi")
    loaded = VectorIndex.load(tmp_path / "vi")
    assert loaded.factory_ == index.factory_ and len(loaded) == 2000
    a = index.search(vectors[:4], 10)
    b = loaded.search(vectors[:4], 10)
    assert a[0] == b[0] and np.allclose(a[1], b[1])
    with pytest.raises(FileNotFoundError):
        VectorIndex.load(tmp_path / "missing")


def test_build_validation() -> None:
    with pytest.raises(ValueError):
        VectorIndex().build(_unit(3, 4, 0), ["a", "b"])
    with pytest.raises(ValueError):
        VectorIndex().build(_unit(2, 4, 0), ["a", "a"])
    index = VectorIndex().build(_unit(3, 4, 0), ["a", "b", "c"])
    with pytest.raises(ValueError):
        index.search(_unit(1, 5, 0), 2)


@pytest.mark.parametrize("exact_max_items", [50_000, 100])
def test_positional_search_respects_the_mask_on_flat_and_hnsw(
    vectors: np.ndarray, exact_max_items: int
) -> None:
    index = VectorIndex(exact_max_items=exact_max_items).build(vectors, IDS)
    query = vectors[7]
    positions, scores = index.search_positions(query, k=5)
    assert positions[0] == 7 and np.all(np.diff(scores) <= 1e-6)
    allowed = np.zeros(len(IDS), dtype=bool)
    allowed[1000:] = True  # large filter: FAISS-side selector on HNSW, exact subset on Flat
    positions, _ = index.search_positions(query, k=10, allowed=allowed)
    assert len(positions) == 10 and np.all(positions >= 1000)
    small = np.zeros(len(IDS), dtype=bool)
    small[[3, 9, 11]] = True  # small filter: searched exactly, fewer than k come back
    positions, _ = index.search_positions(query, k=10, allowed=small)
    assert sorted(positions.tolist()) == [3, 9, 11]


def test_small_subsets_gathered_from_the_embedding_matrix_score_the_same(
    vectors: np.ndarray, tmp_path
) -> None:
    """The service passes the bundle's memory-mapped matrix instead of reconstructing from HNSW."""
    index = VectorIndex(exact_max_items=100).build(vectors, IDS)
    np.save(tmp_path / "e.npy", vectors)
    matrix = np.load(tmp_path / "e.npy", mmap_mode="r")
    allowed = np.zeros(len(IDS), dtype=bool)
    allowed[::7] = True
    for query in vectors[:5]:
        positions, scores = index.search_positions(query, k=20, allowed=allowed)
        from_matrix, matrix_scores = index.search_positions(query, k=20, allowed=allowed, matrix=matrix)
        np.testing.assert_array_equal(positions, from_matrix)
        np.testing.assert_array_equal(scores, matrix_scores)
