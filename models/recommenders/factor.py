"""Matrix-factorisation recommenders wrapping ``implicit`` (ALS and BPR) on the CPU.

Thread count and seed are fixed so two runs on the same data give the same factors. Users not
seen in ``fit`` (userid -1 or out of range, e.g. a shopper who just acted) are folded in from
their history row by one weighted least-squares step against the fixed item factors, the ALS
user update (``recalculate_user``) done in numpy so a loaded model needs no implicit object.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from models.recommenders.ann import IVFScorer, exact_top_k
from models.recommenders.base import BLOCK_CELLS, Recommender, as_csr
from models.recommenders.candidates import allowed_mask, merge_in_order


class _FactorRecommender(Recommender):
    state_attrs = ("user_factors_", "item_factors_")
    user_factors_: np.ndarray
    item_factors_: np.ndarray

    fold_in_alpha: float = 1.0
    fold_in_regularization: float = 0.01
    param_names: ClassVar[tuple[str, ...]] = ()
    """Constructor arguments, named as ``implicit``'s model takes them."""

    @staticmethod
    def _implicit_class() -> type:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names}

    def fit(self, user_items: sp.csr_matrix) -> _FactorRecommender:
        user_items = as_csr(user_items)
        with threadpool_limits(1, "blas"):  # implicit's own threads; nested BLAS threads thrash
            model = self._implicit_class()(**self.get_params())
            model.fit(user_items, show_progress=False)
        self._store(model, *user_items.shape)
        return self

    def _fold_in(self, user_items: sp.csr_matrix) -> np.ndarray:
        """ALS user step: (Y'Y + Y'(C-I)Y + reg I) x = Y'C p, confidence C = alpha * weight."""
        y, yty = self._f64()
        reg = self.fold_in_regularization * np.eye(y.shape[1])
        out = np.zeros((user_items.shape[0], y.shape[1]), dtype=np.float32)
        for row in range(user_items.shape[0]):
            lo, hi = user_items.indptr[row], user_items.indptr[row + 1]
            if lo == hi:
                continue
            idx = user_items.indices[lo:hi]
            conf = self.fold_in_alpha * user_items.data[lo:hi].astype(np.float64)
            yu = y[idx]
            a = yty + (yu.T * (conf - 1.0)) @ yu + reg
            out[row] = np.linalg.solve(a, yu.T @ conf)
        return out

    def _f64(self) -> tuple[np.ndarray, np.ndarray]:
        """float64 item factors and their Gram matrix Y'Y, computed once per fitted model: at 100k
        items Y'Y alone is 400M multiply-adds, too much to redo for every folded-in shopper.

        One tuple assigned at once, so a concurrent request sees either nothing (and computes it
        too) or both, never one without the other.
        """
        cached = getattr(self, "_f64_cache", None)
        if cached is None or cached[0].shape != self.item_factors_.shape:
            y64 = self.item_factors_.astype(np.float64)
            cached = (y64, y64.T @ y64)
            self._f64_cache = cached
        return cached

    def prepare(self) -> _FactorRecommender:
        """The float64 factors and Gram matrix a folded-in shopper needs: built once where the bundle
        is loaded, so pre-forked workers share them instead of each computing its own copy."""
        self._f64()
        return self

    def _user_vectors(self, userids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        known = (userids >= 0) & (userids < self.n_users_)
        vecs = np.empty((len(userids), self.item_factors_.shape[1]), dtype=np.float32)
        vecs[known] = self.user_factors_[userids[known]]
        if (~known).any():
            vecs[~known] = self._fold_in(user_items[np.flatnonzero(~known)])
        return vecs

    def _score(self, userids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return self._user_vectors(userids, user_items) @ self.item_factors_.T

    def use_ann(self, scorer: IVFScorer | None) -> _FactorRecommender:
        """First-stage candidates from an approximate index over the item factors (``None``: exact).

        Not saved with the model: the batch job fits one when the catalog x customers is large.
        """
        self.ann_ = scorer.fit(self.item_factors_) if scorer is not None else None
        return self

    def candidates(
        self, userids: np.ndarray, user_items: sp.csr_matrix, n: int, items: np.ndarray | None = None
    ) -> np.ndarray:
        userids = np.atleast_1d(np.asarray(userids, dtype=np.int64))
        vecs = self._user_vectors(userids, as_csr(user_items))
        ann = getattr(self, "ann_", None)
        allowed = allowed_mask(items, self.n_items_)
        if ann is None:
            return exact_top_k(vecs, self.item_factors_, n, allowed)[0]
        ids, _ = ann.search(vecs, n if allowed is None else 2 * n)
        if allowed is not None:  # over-fetched: drop what is not allowed, keep rank order
            ids = np.where((ids >= 0) & allowed[np.maximum(ids, 0)], ids, -1)
            ids = merge_in_order(ids, n)
        return ids

    def score_items(
        self, userids: np.ndarray, user_items: sp.csr_matrix, candidates: np.ndarray
    ) -> np.ndarray:
        userids = np.atleast_1d(np.asarray(userids, dtype=np.int64))
        vecs = self._user_vectors(userids, as_csr(user_items))
        out = np.empty(candidates.shape, dtype=np.float32)
        step = max(1, BLOCK_CELLS // max(1, candidates.shape[1] * self.item_factors_.shape[1]))
        for start in range(0, len(vecs), step):
            cand = candidates[start : start + step]
            gathered = self.item_factors_[np.maximum(cand, 0)]  # (rows, m, factors)
            out[start : start + step] = np.matmul(gathered, vecs[start : start + step, :, None])[..., 0]
        return np.where(candidates >= 0, out, -np.inf).astype(np.float32)

    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        y = self.item_factors_
        norms = np.linalg.norm(y, axis=1) + 1e-9
        return (y[itemids] / norms[itemids, None]) @ (y / norms[:, None]).T

    def _store(self, model: Any, n_users: int, n_items: int) -> None:
        self.n_users_, self.n_items_ = n_users, n_items
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._f64_cache = None


class ALSRecommender(_FactorRecommender):
    """Implicit ALS (Hu, Koren, Volinsky 2008): confidence-weighted factorisation."""

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 5.0,
        iterations: int = 15,
        random_state: int = 42,
        num_threads: int = 2,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads
        self.fold_in_alpha = alpha
        self.fold_in_regularization = regularization

    param_names = ("factors", "regularization", "alpha", "iterations", "random_state", "num_threads")

    @staticmethod
    def _implicit_class() -> type:
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares


class BPRRecommender(_FactorRecommender):
    """Bayesian Personalised Ranking (Rendle 2009): pairwise ranking loss with SGD.

    Unseen users are folded in with the same least-squares step on BPR's item factors (the last
    factor is implicit's item bias, whose user weight the solve learns too): an approximation,
    but one that needs no SGD at request time.
    """

    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: int = 42,
        num_threads: int = 2,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads
        self.fold_in_alpha = 1.0
        self.fold_in_regularization = max(regularization, 0.01)

    param_names = ("factors", "learning_rate", "regularization", "iterations", "random_state", "num_threads")

    @staticmethod
    def _implicit_class() -> type:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking
