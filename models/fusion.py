"""Combining ranked lists from several retrievers (BM25, dense, collaborative ...).

Reciprocal rank fusion needs no calibration and is the safe default; score fusion can do better
once its weights are fit on judged queries, which is what ``FusionTuner`` does (by grid search,
so the chosen configuration is explainable and cheap to re-fit per retailer).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from models.metrics import ndcg_at_k

Ranking = tuple[list[str], np.ndarray]  # (ids best first, scores)
FUSION_METHODS = ("rrf", "minmax", "zscore")


def _check_weights(weights: Sequence[float] | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{len(w)} weights for {n} inputs")
    if np.any(w < 0):
        raise ValueError("fusion weights must be non-negative")
    return w


def _sorted(scores: Mapping[str, float]) -> Ranking:
    items = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [i for i, _ in items], np.asarray([s for _, s in items], dtype=np.float32)


def rrf(rankings: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None) -> Ranking:
    """Reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1."""
    w = _check_weights(weights, len(rankings))
    fused: dict[str, float] = {}
    for weight, ranking in zip(w, rankings, strict=True):
        if weight == 0:
            continue
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return _sorted(fused)


def normalize_scores(scores: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Put one retriever's scores on a comparable scale (BM25 is unbounded, cosine is not)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return s
    if method == "minmax":
        lo, hi = s.min(), s.max()
        return np.ones_like(s) if hi - lo < 1e-12 else (s - lo) / (hi - lo)
    if method == "zscore":
        sd = s.std()
        return np.zeros_like(s) if sd < 1e-12 else (s - s.mean()) / sd
    raise ValueError(f"unknown normalisation {method!r}; use minmax or zscore")


def weighted_fusion(
    score_maps: Sequence[Mapping[str, float]], weights: Sequence[float] | None = None, method: str = "minmax"
) -> Ranking:
    """Weighted sum of normalised scores; an item a retriever did not return gets that retriever's minimum."""
    w = _check_weights(weights, len(score_maps))
    fused: dict[str, float] = {}
    all_items = set().union(*[m.keys() for m in score_maps]) if score_maps else set()
    for weight, scores in zip(w, score_maps, strict=True):
        if weight == 0 or not scores:
            continue
        keys = list(scores)
        normed = normalize_scores(np.asarray([scores[i] for i in keys]), method)
        floor = float(normed.min())
        lookup = dict(zip(keys, normed.tolist(), strict=True))
        for item in all_items:
            fused[item] = fused.get(item, 0.0) + weight * lookup.get(item, floor)
    for item in all_items:
        fused.setdefault(item, 0.0)
    return _sorted(fused)


@dataclass(frozen=True)
class FusionConfig:
    """One point of the tuning grid."""

    method: str = "rrf"
    weights: tuple[float, ...] = (0.5, 0.5)
    rrf_k: int = 60

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def fuse(rankings: Sequence[Ranking], config: FusionConfig) -> Ranking:
    """Fuse retriever outputs (ids, scores) per ``config``."""
    if config.method == "rrf":
        return rrf([ids for ids, _ in rankings], k=config.rrf_k, weights=config.weights)
    maps = [
        dict(zip(ids, np.asarray(scores, dtype=np.float64).tolist(), strict=True)) for ids, scores in rankings
    ]
    return weighted_fusion(maps, config.weights, method=config.method)


def weight_grid(n_inputs: int, steps: int = 10) -> list[tuple[float, ...]]:
    """Weight vectors on the simplex with resolution 1/steps (for 2 inputs: alpha = 0, 0.1, ..., 1)."""
    grid = []
    for combo in itertools.product(range(steps + 1), repeat=n_inputs):
        if sum(combo) == steps:
            grid.append(tuple(round(c / steps, 6) for c in combo))
    return grid


class FusionTuner:
    """Pick the fusion method, weights and RRF k that maximise mean NDCG@k on training queries.

    The per-query NDCG of every grid point does not depend on which queries are used for
    training, so ``score_grid`` is computed once and cross-validation folds only re-average it.
    """

    def __init__(
        self,
        methods: Sequence[str] = FUSION_METHODS,
        weight_steps: int = 10,
        rrf_ks: Sequence[int] = (10, 30, 60),
        k: int = 10,
    ) -> None:
        self.methods = tuple(methods)
        self.weight_steps = weight_steps
        self.rrf_ks = tuple(rrf_ks)
        self.k = k

    def configs(self, n_inputs: int) -> list[FusionConfig]:
        unknown = set(self.methods) - set(FUSION_METHODS)
        if unknown:
            raise ValueError(f"unknown fusion methods {sorted(unknown)}; choose from {FUSION_METHODS}")
        out: list[FusionConfig] = []
        for method in self.methods:
            for weights in weight_grid(n_inputs, self.weight_steps):
                for rrf_k in self.rrf_ks if method == "rrf" else (60,):
                    out.append(FusionConfig(method, weights, rrf_k))
        return out

    def score_grid(
        self, candidates: Sequence[Sequence[Ranking]], gains: Sequence[Mapping[str, float]]
    ) -> np.ndarray:
        """NDCG@k for every (query, config): shape (n_queries, n_configs)."""
        if len(candidates) != len(gains):
            raise ValueError(f"{len(candidates)} candidate sets but {len(gains)} gain maps")
        if not candidates:
            raise ValueError("no training queries")
        self.configs_ = self.configs(len(candidates[0]))
        grid = np.zeros((len(candidates), len(self.configs_)), dtype=np.float64)
        for q, (rankings, gain) in enumerate(zip(candidates, gains, strict=True)):
            for c, config in enumerate(self.configs_):
                ids, _ = fuse(rankings, config)
                grid[q, c] = ndcg_at_k(ids, gain, self.k)
        return grid

    def fit_from_grid(self, grid: np.ndarray, configs: Sequence[FusionConfig] | None = None) -> FusionTuner:
        """Choose the best config from a precomputed (subset of) ``score_grid`` rows."""
        configs = list(configs or self.configs_)
        means = grid.mean(axis=0)
        best = int(np.argmax(means))  # ties -> first: rrf before score fusion, lexical-heavy first
        self.configs_ = configs
        self.best_config_ = configs[best]
        self.best_score_ = float(means[best])
        return self

    def fit(
        self, candidates: Sequence[Sequence[Ranking]], gains: Sequence[Mapping[str, float]]
    ) -> FusionTuner:
        return self.fit_from_grid(self.score_grid(candidates, gains))

    def fuse(self, rankings: Sequence[Ranking]) -> Ranking:
        return fuse(rankings, self.best_config_)
