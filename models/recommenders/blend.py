"""A weighted blend of several recommenders, weights tuned on a validation split.

Each component's scores are min-max normalised per user before weighting, so ALS dot products,
EASE weights and popularity counts can be added. Weights are chosen by coordinate-wise grid
search on Recall@20 of a validation split the caller carves from the training period.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from models.metrics import binary_ndcg_at_k, recall_at_k
from models.recommenders.base import Recommender, as_csr, top_n
from models.recommenders.candidates import merge_candidates

DEFAULT_COMPONENTS = ("repeat_buy", "popularity", "item_knn", "als", "ease")
DEFAULT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0)


def _normalise(scores: np.ndarray) -> np.ndarray:
    lo = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - lo
    return (scores - lo) / np.where(span > 0, span, 1.0)


def _normalise_candidates(scores: np.ndarray, valid: np.ndarray, floor: float | None) -> np.ndarray:
    """``_normalise`` when only candidates are scored: the maximum is among them (every
    component's own top items are candidates); the minimum is the model's known floor when it has
    one, otherwise the candidates' minimum, an approximation of the full catalog's."""
    lo = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    if floor is not None:
        lo = np.minimum(lo, np.float32(floor))
    hi = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
    span = hi - lo
    ok = np.isfinite(span) & (span > 0)
    out = (scores - np.where(np.isfinite(lo), lo, 0.0)) / np.where(ok, span, 1.0)
    return np.where(valid, out, 0.0).astype(np.float32)


class BlendRecommender(Recommender):
    """Weighted sum of normalised component scores."""

    name = "blend"

    def __init__(
        self,
        components: Sequence[str] = DEFAULT_COMPONENTS,
        component_params: Mapping[str, Mapping[str, Any]] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.components = tuple(components)
        self.component_params = {k: dict(v) for k, v in (component_params or {}).items()}
        self.weights = dict(weights) if weights else {c: 1.0 for c in self.components}
        self.models_: dict[str, Recommender] = {}

    def get_params(self) -> dict[str, Any]:
        return {
            "components": list(self.components),
            "component_params": self.component_params,
            "weights": self.weights,
        }

    def _build(self, name: str) -> Recommender:
        known = Recommender.registered()
        if name not in known or name == self.name:
            raise ValueError(f"unknown blend component {name!r}; known: {sorted(known)}")
        return known[name](**self.component_params.get(name, {}))

    def fit(self, user_items: sp.csr_matrix) -> BlendRecommender:
        user_items = as_csr(user_items)
        self.n_users_, self.n_items_ = user_items.shape
        self.models_ = {}
        for name in tqdm(self.components, desc="blend components", leave=False, disable=None):
            self.models_[name] = self._build(name).fit(user_items)
        return self

    def use_fitted(self, models: Mapping[str, Recommender]) -> BlendRecommender:
        """Adopt already fitted components (same item index) instead of fitting them again."""
        missing = set(self.components) - set(models)
        if missing:
            raise ValueError(f"missing fitted components: {sorted(missing)}")
        self.models_ = {c: models[c] for c in self.components}
        first = self.models_[self.components[0]]
        self.n_users_, self.n_items_ = first.n_users_, first.n_items_
        return self

    def _block_size(self) -> int:
        return max(1, super()._block_size() // max(1, len(self.components)))

    def _component_scores(self, userids: np.ndarray, user_items: sp.csr_matrix) -> dict[str, np.ndarray]:
        return {
            c: _normalise(np.asarray(m._score(userids, user_items), dtype=np.float32))
            for c, m in self.models_.items()
        }

    def _score(self, userids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        parts = self._component_scores(userids, user_items)
        out = np.zeros((len(userids), self.n_items_), dtype=np.float32)
        for c, s in parts.items():
            out += np.float32(self.weights.get(c, 0.0)) * s
        return out

    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        out = np.zeros((len(itemids), self.n_items_), dtype=np.float32)
        for c, m in self.models_.items():
            out += np.float32(self.weights.get(c, 0.0)) * _normalise(np.asarray(m._item_scores(itemids)))
        return out

    # --- two-stage ranking: candidates from every component, the blend scored on them only ---
    def _active(self) -> dict[str, Recommender]:
        return {c: m for c, m in self.models_.items() if self.weights.get(c, 0.0)}

    def prepare(self) -> BlendRecommender:
        for m in self.models_.values():
            m.prepare()
        return self

    def use_ann(self, scorer_factory: Callable[[], Any] | None) -> BlendRecommender:
        """Give every factor component an approximate first stage (a fresh scorer each)."""
        for m in self.models_.values():
            if hasattr(m, "use_ann"):
                m.use_ann(scorer_factory() if scorer_factory is not None else None)
        return self

    def candidates(
        self, userids: np.ndarray, user_items: sp.csr_matrix, n: int, items: np.ndarray | None = None
    ) -> np.ndarray:
        """Union of each weighted component's top ``n``: whatever could rank high in the blend."""
        return merge_candidates(
            *(m.candidates(userids, user_items, n, items) for m in self._active().values())
        )

    def score_items(
        self, userids: np.ndarray, user_items: sp.csr_matrix, candidates: np.ndarray
    ) -> np.ndarray:
        """The blend over each row's candidates, normalised over them (see ``_normalise_candidates``)."""
        valid = candidates >= 0
        out = np.zeros(candidates.shape, dtype=np.float32)
        for c, m in self._active().items():
            scores = _normalise_candidates(
                m.score_items(userids, user_items, candidates), valid, m.score_floor()
            )
            out += np.float32(self.weights[c]) * scores
        return np.where(valid, out, -np.inf).astype(np.float32)

    def fit_weights(
        self,
        userids: np.ndarray,
        user_items: sp.csr_matrix,
        truth: Sequence[set[int]],
        k: int = 20,
        filter_already_liked_items: bool = True,
        grid: Sequence[float] = DEFAULT_GRID,
        rounds: int = 2,
        max_users: int = 2000,
        seed: int = 42,
        objective: str = "recall",
    ) -> dict[str, float]:
        """Coordinate-wise grid search of the weights maximising mean Recall@k on validation users
        (``objective="recall"``), NDCG@k (``"ndcg"``) or their mean (``"both"``).

        ``user_items`` are the validation users' histories (rows aligned with ``userids``) and
        ``truth`` their held-out items. Components must be fitted on data before the validation
        period only. Returns and sets ``weights``.
        """
        if objective not in ("recall", "ndcg", "both"):
            raise ValueError(f"objective must be recall, ndcg or both, got {objective!r}")
        user_items = as_csr(user_items)
        if len(userids) > max_users:
            pick = np.sort(np.random.default_rng(seed).choice(len(userids), max_users, replace=False))
            userids, user_items, truth = userids[pick], user_items[pick], [truth[i] for i in pick]
        parts = self._component_scores(np.asarray(userids), user_items)
        mask = None
        if filter_already_liked_items:
            mask = (np.repeat(np.arange(len(userids)), np.diff(user_items.indptr)), user_items.indices)

        def score(weights: Mapping[str, float]) -> float:
            total = np.zeros((len(userids), self.n_items_), dtype=np.float32)
            for c, s in parts.items():
                if weights[c]:
                    total += np.float32(weights[c]) * s
            if mask is not None:
                total[mask] = -np.inf
            ids, _ = top_n(total, k)
            rows = [list(r) for r in ids]
            recall = float(np.mean([recall_at_k(r, t, k) for r, t in zip(rows, truth, strict=True)]))
            if objective == "recall":
                return recall
            ndcg = float(np.mean([binary_ndcg_at_k(r, t, k) for r, t in zip(rows, truth, strict=True)]))
            return ndcg if objective == "ndcg" else (recall + ndcg) / 2

        best = {c: 1.0 for c in self.components}
        best_value = score(best)
        for _ in range(rounds):
            improved = False
            for c in self.components:
                for value in grid:
                    trial = {**best, c: float(value)}
                    if trial == best or not any(trial.values()):
                        continue
                    v = score(trial)
                    if v > best_value + 1e-9:
                        best, best_value, improved = trial, v, True
            if not improved:
                break
        self.weights = best
        self.validation_recall_ = best_value
        return best

    def save(self, directory: str | Path) -> Path:
        d = super().save(directory)
        for c, m in self.models_.items():
            m.save(d / c)
        return d

    def _after_load(self, directory: Path) -> None:
        self.models_ = {c: Recommender.load(directory / c) for c in self.components}
