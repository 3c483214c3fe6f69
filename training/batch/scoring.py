"""Vectorised co-purchase scoring for blocks of customers (abandoned-cart and post-purchase emails).

A nightly job over millions of customers cannot afford a Python loop per customer, so complements
are one sparse product ``baskets @ complements`` per partition. Personalised (newsletter) lists go
through ``RecommendationEngine.for_customers``, whose two-stage ranking and IVF first stage live in
``models.recommenders``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from models.copurchase import CoPurchase


def complement_matrix(copurchase: CoPurchase, n_items: int) -> sp.csr_matrix:
    """items x items NPMI of each item's complements (positive NPMI only, as ``bought_together``)."""
    ids, npmi = copurchase.ids_, copurchase.npmi_
    keep = (ids >= 0) & (npmi > 0)
    rows = np.repeat(np.arange(ids.shape[0]), keep.sum(axis=1))
    return sp.csr_matrix((npmi[keep].astype(np.float32), (rows, ids[keep])), shape=(n_items, n_items))


def incidence(row_of: np.ndarray, items: np.ndarray, n_rows: int, n_items: int) -> sp.csr_matrix:
    """0/1 rows x items matrix from parallel arrays (duplicates collapse to 1)."""
    m = sp.csr_matrix((np.ones(len(items), np.float32), (row_of, items)), shape=(n_rows, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def sparse_top_k(scores: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k of a sparse score matrix (ties by item id), padded with -1 / -inf.

    Sorting the non-zeros once by (row, -score, item) ranks every row together, so the cost is
    one ``lexsort`` of the non-zeros, not a loop over rows.
    """
    scores = sp.csr_matrix(scores)
    scores.eliminate_zeros()
    n = scores.shape[0]
    ids = np.full((n, k), -1, dtype=np.int32)
    out = np.full((n, k), -np.inf, dtype=np.float32)
    if scores.nnz == 0 or k == 0:
        return ids, out
    rows = np.repeat(np.arange(n), np.diff(scores.indptr))
    order = np.lexsort((scores.indices, -scores.data, rows))
    rows_sorted = rows[order]
    rank = np.arange(len(order)) - scores.indptr[rows_sorted]
    keep = rank < k
    ids[rows_sorted[keep], rank[keep]] = scores.indices[order][keep]
    out[rows_sorted[keep], rank[keep]] = scores.data[order][keep]
    return ids, out


def score_complements(
    seeds: sp.csr_matrix, complements: sp.csr_matrix, banned: sp.csr_matrix, eligible: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k complements of each row's seed items: NPMI summed over seeds (``CoPurchase.for_basket``).

    Seeds themselves, ``banned`` items (per row) and items not ``eligible`` are never proposed.
    """
    scores = (seeds @ complements).tocsr()
    forbid = (seeds + banned).astype(bool).astype(np.float32)
    scores = scores - scores.multiply(forbid)
    scores = scores @ sp.diags(eligible.astype(np.float32))
    return sparse_top_k(scores.tocsr(), k)
