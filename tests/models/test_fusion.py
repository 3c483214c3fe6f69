"""Fusion: RRF arithmetic, score normalisation, and the tuner finding a known-good weighting."""

from __future__ import annotations

import numpy as np
import pytest

from models.fusion import FusionConfig, FusionTuner, fuse, normalize_scores, rrf, weight_grid, weighted_fusion


def test_rrf_matches_formula_and_weights() -> None:
    ids, scores = rrf([["a", "b", "c"], ["b", "d"]], k=60)
    assert ids[0] == "b"  # in both lists
    assert scores[0] == pytest.approx(1 / 62 + 1 / 61)
    assert set(ids) == {"a", "b", "c", "d"}
    ids_w, _ = rrf([["a", "b"], ["c", "d"]], k=60, weights=(0.0, 1.0))
    assert ids_w == ["c", "d"]
    with pytest.raises(ValueError):
        rrf([["a"]], weights=(1.0, 2.0))


def test_normalize_scores() -> None:
    assert normalize_scores(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    z = normalize_scores(np.array([1.0, 2.0, 3.0]), "zscore")
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)
    assert normalize_scores(np.array([5.0, 5.0])).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError):
        normalize_scores(np.array([1.0]), "softmax")


def test_weighted_fusion_missing_items_get_floor() -> None:
    ids, scores = weighted_fusion([{"a": 10.0, "b": 0.0}, {"b": 0.9, "c": 0.1}], weights=(0.5, 0.5))
    # a: 0.5*1 + 0.5*0 = 0.5 ; b: 0 + 0.5 = 0.5 ; c: 0 + 0 = 0
    assert dict(zip(ids, scores.tolist(), strict=True)) == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})
    assert ids[-1] == "c"


def test_weight_grid_on_simplex() -> None:
    grid = weight_grid(2, steps=4)
    assert grid == [(0.0, 1.0), (0.25, 0.75), (0.5, 0.5), (0.75, 0.25), (1.0, 0.0)]
    assert all(sum(w) == pytest.approx(1.0) for w in weight_grid(3, steps=5))


def _synthetic(n_queries: int, seed: int) -> tuple[list, list]:
    """Retriever 0 ranks the relevant item near the top, retriever 1 is noise."""
    rng = np.random.default_rng(seed)
    cands, gains = [], []
    for q in range(n_queries):
        pool = [f"q{q}-{i}" for i in range(30)]
        good = pool[0]
        noise = list(rng.permutation(pool))
        lex = [good] + [p for p in noise if p != good][:19] if rng.random() < 0.9 else noise[:20]
        den = list(rng.permutation(pool))[:20]
        cands.append([(lex, np.linspace(10, 1, len(lex))), (den, np.linspace(0.9, 0.1, len(den)))])
        gains.append({good: 1.0})
    return cands, gains


def test_tuner_prefers_informative_retriever() -> None:
    cands, gains = _synthetic(40, seed=1)
    tuner = FusionTuner(methods=("rrf", "minmax"), weight_steps=4, rrf_ks=(60,)).fit(cands, gains)
    assert tuner.best_config_.weights[0] > tuner.best_config_.weights[1]
    held_out, held_gains = _synthetic(20, seed=2)
    top1 = np.mean([tuner.fuse(c)[0][0] in g for c, g in zip(held_out, held_gains, strict=True)])
    assert top1 > 0.7
    top1_equal = np.mean(
        [
            fuse(c, FusionConfig("rrf", (0.5, 0.5), 60))[0][0] in g
            for c, g in zip(held_out, held_gains, strict=True)
        ]
    )
    assert top1 > top1_equal


def test_fit_from_grid_subset_matches_fit() -> None:
    cands, gains = _synthetic(30, seed=3)
    tuner = FusionTuner(weight_steps=2, rrf_ks=(60,))
    grid = tuner.score_grid(cands, gains)
    assert grid.shape == (30, len(tuner.configs(2)))
    sub = FusionTuner(weight_steps=2, rrf_ks=(60,)).fit(cands[:10], gains[:10])
    tuner.fit_from_grid(grid[:10])
    assert tuner.best_config_ == sub.best_config_
