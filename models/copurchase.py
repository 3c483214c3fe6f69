"""Frequently-bought-together statistics from baskets (receipts, orders, cart sessions).

Raw co-occurrence favours best-sellers (everything is bought with milk), so pairs are ranked by
normalised PMI, with lift and support kept for the reason shown to shoppers and a minimum support
so two accidental co-purchases do not make a rule.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp


class CoPurchase:
    """Top-N complements per item, learned from a baskets x items incidence matrix."""

    def __init__(self, top_n: int = 50, min_support: int = 2) -> None:
        self.top_n = top_n
        self.min_support = min_support

    def fit(self, baskets: sp.csr_matrix) -> CoPurchase:
        """``baskets``: one row per basket, one column per item, non-zero when the item is in it."""
        b = (baskets > 0).astype(np.float32).tocsr()
        b = b[np.asarray(b.sum(axis=1)).ravel() >= 2]  # a single-item basket says nothing about pairs
        n_baskets = max(b.shape[0], 1)
        item_counts = np.asarray(b.sum(axis=0)).ravel()
        co = (b.T @ b).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        co.data[co.data < self.min_support] = 0
        co.eliminate_zeros()
        n_items = b.shape[1]
        ids = np.full((n_items, self.top_n), -1, dtype=np.int32)
        npmi = np.zeros((n_items, self.top_n), dtype=np.float32)
        lift = np.zeros((n_items, self.top_n), dtype=np.float32)
        support = np.zeros((n_items, self.top_n), dtype=np.int32)
        for i in range(n_items):
            start, end = co.indptr[i], co.indptr[i + 1]
            if start == end:
                continue
            js = co.indices[start:end]
            c_ab = co.data[start:end].astype(np.float64)
            p_ab = c_ab / n_baskets
            pmi = np.log(p_ab / ((item_counts[i] / n_baskets) * (item_counts[js] / n_baskets)))
            # p_ab == 1 only when every basket has both items; NPMI is 1 by definition there.
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.where(p_ab < 1.0, pmi / -np.log(p_ab), 1.0)
            order = np.argsort(-score, kind="stable")[: self.top_n]
            n = len(order)
            ids[i, :n] = js[order]
            npmi[i, :n] = score[order]
            lift[i, :n] = np.exp(pmi[order])
            support[i, :n] = c_ab[order]
        self.ids_, self.npmi_, self.lift_, self.support_ = ids, npmi, lift, support
        self.item_counts_ = item_counts.astype(np.int32)
        self.n_baskets_ = int(b.shape[0])
        return self

    def bought_together(self, item: int, n: int = 10, min_npmi: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Complements of ``item``: (item ids, NPMI scores), best first."""
        ids, scores = self.ids_[item], self.npmi_[item]
        keep = (ids >= 0) & (scores > min_npmi)
        return ids[keep][:n], scores[keep][:n]

    def for_basket(self, items: np.ndarray, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Complements of a whole cart: NPMI summed over its items, cart items excluded."""
        scores: dict[int, float] = {}
        for item in np.asarray(items, dtype=np.int64):
            for j, s in zip(*self.bought_together(int(item), self.top_n), strict=True):
                scores[int(j)] = scores.get(int(j), 0.0) + float(s)
        for item in items:
            scores.pop(int(item), None)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])[:n]
        return np.array([k for k, _ in ranked], dtype=np.int32), np.array(
            [v for _, v in ranked], dtype=np.float32
        )

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            directory / "copurchase.npz",
            ids=self.ids_,
            npmi=self.npmi_,
            lift=self.lift_,
            support=self.support_,
            item_counts=self.item_counts_,
        )
        (directory / "copurchase.json").write_text(
            json.dumps({"top_n": self.top_n, "min_support": self.min_support, "n_baskets": self.n_baskets_})
        )

    @classmethod
    def load(cls, directory: Path) -> CoPurchase:
        directory = Path(directory)
        params = json.loads((directory / "copurchase.json").read_text())
        model = cls(top_n=params["top_n"], min_support=params["min_support"])
        with np.load(directory / "copurchase.npz") as z:
            model.ids_, model.npmi_, model.lift_ = z["ids"], z["npmi"], z["lift"]
            model.support_, model.item_counts_ = z["support"], z["item_counts"]
        model.n_baskets_ = params["n_baskets"]
        return model


def basket_matrix(basket_codes: np.ndarray, item_idx: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Incidence matrix from parallel arrays (basket code per line, item index per line)."""
    n_baskets = int(basket_codes.max()) + 1 if len(basket_codes) else 0
    m = sp.csr_matrix(
        (np.ones(len(item_idx), dtype=np.float32), (basket_codes, item_idx)), shape=(n_baskets, n_items)
    )
    m.sum_duplicates()
    return m
