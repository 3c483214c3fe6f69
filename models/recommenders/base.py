"""The one contract every recommender follows, shaped like ``implicit``'s API.

Models only implement ``fit``, ``_score`` (a dense block of scores for a block of users) and the
item-item ``_item_scores``; batching, filtering, candidate restriction, top-N selection, padding and
persistence live here once, so a new model is one class plus one registry line. A class that sets
its own ``name`` registers itself here (``Recommender.registered``), so ``Recommender.load`` and the
models built from others (blend, ranker) find any model by name without importing ``registry``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from models.arrays import load_npz, load_sparse_npz
from models.recommenders.candidates import allowed_mask, csr_values

_REGISTERED: dict[str, type[Recommender]] = {}

BLOCK_CELLS = 8_000_000
"""Dense cells (users x items) scored per block: bounds memory at ~32 MB of float32 per model."""


def as_csr(matrix: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
    """float32 CSR with summed duplicates: the only matrix type the models see."""
    m = sp.csr_matrix(matrix, dtype=np.float32)
    m.sum_duplicates()
    return m


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-n by argpartition; -inf scores become id -1 so short lists are padded."""
    n_rows, n_cols = scores.shape
    ids = np.full((n_rows, n), -1, dtype=np.int32)
    out = np.full((n_rows, n), -np.inf, dtype=np.float32)
    k = min(n, n_cols)
    if k == 0 or n_rows == 0:
        return ids, out
    if k < n_cols:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    valid = np.isfinite(best_scores)
    ids[:, :k] = np.where(valid, best, -1)
    out[:, :k] = np.where(valid, best_scores, -np.inf)
    return ids, out


class Recommender(ABC):
    """Implicit-feedback recommender over a fixed item index ``0..n_items-1``."""

    name: ClassVar[str] = "base"
    state_attrs: ClassVar[tuple[str, ...]] = ()
    """Learned attributes written by ``save``: ndarrays go to state.npz, sparse ones to <attr>.npz."""

    n_items_: int
    n_users_: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # a model; a shared helper base (e.g. _FactorRecommender) names none
            _REGISTERED[cls.name] = cls

    @staticmethod
    def registered() -> dict[str, type[Recommender]]:
        """Every model by name: each registers itself when its module is imported, and importing
        anything under ``models.recommenders`` imports them all (the package imports ``registry``)."""
        return dict(_REGISTERED)

    # --- to implement -----------------------------------------------------------------------
    @abstractmethod
    def fit(self, user_items: sp.csr_matrix) -> Recommender:
        """Learn from a users x items confidence matrix."""

    @abstractmethod
    def _score(self, userids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Dense float32 (len(userids), n_items) scores; higher is better."""

    @abstractmethod
    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        """Dense float32 (len(itemids), n_items) item-item similarities."""

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable; enough to rebuild the model before loading."""
        return {}

    # --- shared behaviour -------------------------------------------------------------------
    def _block_size(self) -> int:
        return max(1, BLOCK_CELLS // max(1, self.n_items_))

    def recommend(
        self,
        userids: np.ndarray,
        user_items: sp.csr_matrix,
        N: int = 20,
        filter_already_liked_items: bool = True,
        items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-N item ids and scores per user, (n_users, N), padded with -1 / -inf.

        ``user_items`` holds one row per entry of ``userids`` (their current history), so a model
        can also score users whose row changed since ``fit``.
        """
        userids = np.atleast_1d(np.asarray(userids, dtype=np.int64))
        user_items = as_csr(user_items)
        if user_items.shape[0] != len(userids):
            raise ValueError(f"user_items has {user_items.shape[0]} rows for {len(userids)} userids")
        if user_items.shape[1] != self.n_items_:
            raise ValueError(f"user_items has {user_items.shape[1]} columns, model has {self.n_items_} items")
        allowed = allowed_mask(items, self.n_items_)
        all_ids = np.full((len(userids), N), -1, dtype=np.int32)
        all_scores = np.full((len(userids), N), -np.inf, dtype=np.float32)
        step = self._block_size()
        for start in range(0, len(userids), step):
            stop = min(start + step, len(userids))
            block = user_items[start:stop]
            scores = np.asarray(self._score(userids[start:stop], block), dtype=np.float32).copy()
            if filter_already_liked_items:
                rows = np.repeat(np.arange(stop - start), np.diff(block.indptr))
                scores[rows, block.indices] = -np.inf
            if allowed is not None:
                scores[:, ~allowed] = -np.inf
            all_ids[start:stop], all_scores[start:stop] = top_n(scores, N)
        return all_ids, all_scores

    def recommend_for_interactions(
        self,
        item_ids: np.ndarray,
        weights: np.ndarray | None = None,
        N: int = 20,
        filter_already_liked_items: bool = True,
        items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Recommend for a shopper known only by what they just did (userid -1: folded in).

        Returns 1-D ids and scores of length N.
        """
        item_ids = np.asarray(item_ids, dtype=np.int64)
        w = np.ones(len(item_ids), dtype=np.float32) if weights is None else np.asarray(weights, np.float32)
        if len(w) != len(item_ids):
            raise ValueError("weights must have one entry per item id")
        row = as_csr(
            sp.csr_matrix((w, (np.zeros(len(item_ids), dtype=np.int64), item_ids)), shape=(1, self.n_items_))
        )
        ids, scores = self.recommend(np.array([-1]), row, N, filter_already_liked_items, items)
        return ids[0], scores[0]

    # --- two-stage ranking ------------------------------------------------------------------
    def candidates(
        self, userids: np.ndarray, user_items: sp.csr_matrix, n: int, items: np.ndarray | None = None
    ) -> np.ndarray:
        """First stage: the ``n`` items this model ranks highest per user, (n_users, n), -1 padded.

        The default scores the whole catalog; models override it with something cheaper (their
        own non-zeros, an ANN index) so a huge catalog is never scored densely.
        """
        ids, _ = self.recommend(userids, user_items, N=n, filter_already_liked_items=False, items=items)
        return ids

    def score_items(
        self, userids: np.ndarray, user_items: sp.csr_matrix, candidates: np.ndarray
    ) -> np.ndarray:
        """Second stage: each row's scores at its candidate ids, (n_users, m) float32, -inf at -1.

        The default gathers from ``_score`` (exact, dense); models override it to touch only the
        candidates.
        """
        userids = np.atleast_1d(np.asarray(userids, dtype=np.int64))
        out = np.take_along_axis(
            np.asarray(self._score(userids, as_csr(user_items)), dtype=np.float32),
            np.maximum(candidates, 0).astype(np.int64),
            axis=1,
        )
        return np.where(candidates >= 0, out, -np.inf).astype(np.float32)

    def score_floor(self) -> float | None:
        """The lowest score any item can get, when the model knows it without scoring every item
        (a blend normalising over candidates uses it as the minimum of the full catalog)."""
        return None

    def rank_candidates(
        self,
        userids: np.ndarray,
        user_items: sp.csr_matrix,
        candidates: np.ndarray,
        N: int = 20,
        filter_already_liked_items: bool = True,
        items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``recommend`` restricted to each row's candidates: (n_users, N) ids and scores, padded.

        Rows are processed in blocks of ``BLOCK_CELLS`` candidate cells, so memory stays bounded
        for a million customers.
        """
        userids = np.atleast_1d(np.asarray(userids, dtype=np.int64))
        user_items = as_csr(user_items)
        candidates = np.asarray(candidates, dtype=np.int32)
        allowed = allowed_mask(items, self.n_items_)
        all_ids = np.full((len(userids), N), -1, dtype=np.int32)
        all_scores = np.full((len(userids), N), -np.inf, dtype=np.float32)
        step = max(1, BLOCK_CELLS // max(1, candidates.shape[1]))
        for start in range(0, len(userids), step):
            stop = min(start + step, len(userids))
            cand, block = candidates[start:stop], user_items[start:stop]
            scores = self.score_items(userids[start:stop], block, cand)
            if filter_already_liked_items:
                scores[csr_values(block, cand) > 0] = -np.inf
            if allowed is not None:
                scores[~allowed[np.maximum(cand, 0)]] = -np.inf
            scores[cand < 0] = -np.inf
            pos, best = top_n(scores, N)
            all_ids[start:stop] = np.where(pos >= 0, np.take_along_axis(cand, np.maximum(pos, 0), axis=1), -1)
            all_scores[start:stop] = best
        return all_ids, all_scores

    def similar_items(self, itemids: np.ndarray, N: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-N most similar items per item, the item itself excluded."""
        itemids = np.atleast_1d(np.asarray(itemids, dtype=np.int64))
        all_ids = np.full((len(itemids), N), -1, dtype=np.int32)
        all_scores = np.full((len(itemids), N), -np.inf, dtype=np.float32)
        step = self._block_size()
        for start in range(0, len(itemids), step):
            chunk = itemids[start : start + step]
            scores = np.asarray(self._item_scores(chunk), dtype=np.float32).copy()
            scores[np.arange(len(chunk)), chunk] = -np.inf
            all_ids[start : start + step], all_scores[start : start + step] = top_n(scores, N)
        return all_ids, all_scores

    # --- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write params.json, state.npz and one .npz per sparse attribute (no pickle)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        dense: dict[str, np.ndarray] = {}
        sparse_names: list[str] = []
        for attr in self.state_attrs:
            value = getattr(self, attr)
            if sp.issparse(value):
                sp.save_npz(d / f"{attr}.npz", sp.csr_matrix(value), compressed=False)  # mmap-able
                sparse_names.append(attr)
            else:
                dense[attr] = np.asarray(value)
        np.savez(d / "state.npz", **dense)
        meta = {
            "model": self.name,
            "params": self.get_params(),
            "n_items": int(self.n_items_),
            "n_users": int(self.n_users_),
            "sparse": sparse_names,
        }
        (d / "params.json").write_text(json.dumps(meta, indent=2))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        """Rebuild from ``save``; called on the base class it dispatches through the registry."""
        d = Path(directory)
        meta_path = d / "params.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path} not found: not a saved recommender directory")
        meta = json.loads(meta_path.read_text())
        target: type[Recommender] = cls
        if cls.name != meta["model"]:
            known = Recommender.registered()
            if meta["model"] not in known:
                raise ValueError(f"unknown recommender {meta['model']!r} in {meta_path}")
            target = known[meta["model"]]
        model = target(**meta["params"])
        model.n_items_ = int(meta["n_items"])
        model.n_users_ = int(meta["n_users"])
        # memory-mapped read-only where stored uncompressed: service workers share one copy
        for key, value in load_npz(d / "state.npz").items():
            setattr(model, key, value)
        for attr in meta["sparse"]:
            setattr(model, attr, load_sparse_npz(d / f"{attr}.npz"))
        model._after_load(d)
        return model

    def _after_load(self, directory: Path) -> None:
        """Hook for models whose state lives outside state.npz (e.g. a blend's components)."""
        return None

    def prepare(self) -> Recommender:
        """Build now what serving would derive on first use (see ``BundleView.load``); a no-op for
        models that derive nothing."""
        return self
