"""Maximum-inner-product top-k over item factors: exact in blocks, or approximate with FAISS IVF.

Scoring 100k items exactly for each of a million customers is ~6 TFLOP plus a partial sort of 10^11
scores; an IVF index scans ``nprobe`` of ``nlist`` clusters per customer instead. Its recall against
exact scoring must be measured (``benchmarks/bench_batch.py`` does) before a setting is trusted.
"""

from __future__ import annotations

import numpy as np

from models.recommenders.base import BLOCK_CELLS, top_n


def exact_top_k(
    user_vecs: np.ndarray,
    item_vecs: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
    block_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of ``user_vecs @ item_vecs.T`` in row blocks (bounded memory), padded -1 / -inf."""
    n, n_items = len(user_vecs), len(item_vecs)
    block_rows = block_rows or max(1, BLOCK_CELLS // max(n_items, 1))
    ids = np.full((n, k), -1, dtype=np.int32)
    out = np.full((n, k), -np.inf, dtype=np.float32)
    item_t = item_vecs.T  # a view: BLAS reads it transposed, no copy of the catalog per call
    for start in range(0, n, block_rows):
        scores = user_vecs[start : start + block_rows] @ item_t
        if allowed is not None:
            scores[:, ~allowed] = -np.inf
        ids[start : start + block_rows], out[start : start + block_rows] = top_n(scores, k)
    return ids, out


class IVFScorer:
    """FAISS IVF-Flat, inner product, batch search in row blocks (bounded memory)."""

    def __init__(
        self,
        nlist: int = 1024,
        nprobe: int = 8,  # as the batch_ivf_nprobe setting, the one caller's value
        train_iterations: int = 10,
        seed: int = 42,
        threads: int = 2,
    ) -> None:
        self.nlist, self.nprobe, self.train_iterations = nlist, nprobe, train_iterations
        self.seed, self.threads = seed, threads

    def fit(self, item_vecs: np.ndarray) -> IVFScorer:
        import faiss

        faiss.omp_set_num_threads(self.threads)
        x = np.ascontiguousarray(item_vecs, dtype=np.float32)
        quantizer = faiss.IndexFlatIP(x.shape[1])
        index = faiss.IndexIVFFlat(quantizer, x.shape[1], min(self.nlist, len(x)), faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = self.seed
        index.cp.niter = self.train_iterations  # k-means converges early on factors; fit time matters
        index.train(x)
        index.add(x)
        index.nprobe = self.nprobe
        self.index_ = index
        return self

    def search(
        self, user_vecs: np.ndarray, k: int, block_rows: int = 65_536
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, k) item ids and inner products, -1 / -inf padded."""
        n = len(user_vecs)
        ids = np.empty((n, k), dtype=np.int32)
        out = np.empty((n, k), dtype=np.float32)
        for start in range(0, n, block_rows):
            q = np.ascontiguousarray(user_vecs[start : start + block_rows], dtype=np.float32)
            d, i = self.index_.search(q, k)
            ids[start : start + len(q)], out[start : start + len(q)] = i, np.where(i >= 0, d, -np.inf)
        return ids, out
