"""FAISS inner-product index with string ids, used for product embeddings and ALS item factors.

Inner product (not L2) because both uses score by dot product: cosine for normalised text
embeddings, the model's own score for matrix-factorisation factors. Exact search while the catalog
is small enough to brute-force within the latency budget, HNSW above.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

_INDEX_FILE = "index.faiss"
_IDS_FILE = "ids.json"
_META_FILE = "vector_index.json"


def choose_factory(n_items: int, exact_max_items: int = 50_000, hnsw_m: int = 32) -> str:
    """ "Flat" (exact) up to ``exact_max_items``, else "HNSW{m}" (graph, sub-linear)."""
    return "Flat" if n_items <= exact_max_items else f"HNSW{hnsw_m}"


def _as_matrix(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {x.shape}")
    return x


EXACT_SUBSET_MAX = 4096
"""Filters this small are scored exactly on their own vectors (a few MB); larger ones filter
inside FAISS, so a category filter on a million products never copies its vectors per request."""


def _read_index(path: Path) -> faiss.Index:
    """A saved index, memory-mapped read-only where FAISS can (flat codes: ``IO_FLAG_MMAP_IFC``), so
    service workers share one copy; read into memory otherwise."""
    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", None)
    if flag is not None:
        try:
            return faiss.read_index(str(path), flag | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            pass
    return faiss.read_index(str(path))


class VectorIndex:
    """Top-k inner-product search over vectors keyed by string ids, with optional id filters."""

    def __init__(
        self,
        exact_max_items: int = 50_000,
        hnsw_m: int = 32,
        ef_search: int = 128,
        ef_construction: int = 200,
    ) -> None:
        self.exact_max_items = exact_max_items
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.ef_construction = ef_construction

    def build(self, vectors: np.ndarray, ids: Sequence[str], factory: str | None = None) -> VectorIndex:
        vectors = _as_matrix(vectors)
        if len(ids) != vectors.shape[0]:
            raise ValueError(f"{vectors.shape[0]} vectors but {len(ids)} ids")
        if vectors.shape[0] == 0:
            raise ValueError("cannot build an index over zero vectors")
        ids_list = [str(i) for i in ids]
        if len(set(ids_list)) != len(ids_list):
            raise ValueError("ids must be unique")
        factory = factory or choose_factory(vectors.shape[0], self.exact_max_items, self.hnsw_m)
        index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        hnsw = self._hnsw(index)
        if hnsw is not None:
            hnsw.efConstruction = self.ef_construction
        if not index.is_trained:
            index.train(vectors)
        index.add(vectors)
        self.index_ = index
        self.factory_ = factory
        self.ids_ = np.asarray(ids_list, dtype=object)
        self.position_ = {item: pos for pos, item in enumerate(ids_list)}
        self.dim_ = vectors.shape[1]
        return self

    @staticmethod
    def _hnsw(index: faiss.Index) -> faiss.HNSW | None:
        return getattr(index, "hnsw", None)

    def __len__(self) -> int:
        return int(self.index_.ntotal)

    def vector(self, item_id: str) -> np.ndarray:
        """Stored vector of one id (for item-to-item lookups)."""
        return self.index_.reconstruct(self.position_[item_id])

    def _params(self, allowed_ids: Sequence[str] | None) -> faiss.SearchParameters | None:
        selector = None
        if allowed_ids is not None:
            positions = np.asarray(
                [self.position_[i] for i in allowed_ids if i in self.position_], dtype=np.int64
            )
            selector = faiss.IDSelectorBatch(positions)
        hnsw = self._hnsw(self.index_)
        if hnsw is not None:
            params = faiss.SearchParametersHNSW()
            params.efSearch = self.ef_search
        elif selector is not None:
            params = faiss.SearchParameters()
        else:
            return None
        if selector is not None:
            params.sel = selector
        return params

    def search(
        self, queries: np.ndarray, k: int = 10, allowed_ids: Sequence[str] | None = None
    ) -> tuple[list[list[str]], np.ndarray]:
        """Top-k ids and inner-product scores per query row; ``allowed_ids`` restricts the candidates.

        Lists can be shorter than k (filter smaller than k, or k > catalog); scores are padded with -inf.
        """
        queries = _as_matrix(queries)
        if queries.shape[1] != self.dim_:
            raise ValueError(f"query dimension {queries.shape[1]} != index dimension {self.dim_}")
        k_eff = max(0, min(int(k), len(self)))
        if k_eff == 0 or (allowed_ids is not None and len(allowed_ids) == 0):
            return [[] for _ in range(len(queries))], np.full((len(queries), 0), -np.inf, np.float32)
        if allowed_ids is not None and self._hnsw(self.index_) is not None:
            if len(allowed_ids) <= self.exact_max_items:
                # A graph walk restricted to a small subset misses most of it; brute force is exact
                # and cheap at this size.
                return self._search_subset(queries, k_eff, allowed_ids)
        params = self._params(allowed_ids)
        if params is None:
            scores, positions = self.index_.search(queries, k_eff)
        else:
            scores, positions = self.index_.search(queries, k_eff, params=params)
        out_ids = [[self.ids_[p] for p in row if p >= 0] for row in positions]
        scores = np.where(positions >= 0, scores, -np.inf).astype(np.float32)
        return out_ids, scores

    def search_positions(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, matrix: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (positions, scores) for one query; ``allowed`` is a boolean mask over positions.

        The serving path: positions are the catalog's item index, so no string ids are built per
        request. Small allowed sets are searched exactly; large ones filter inside FAISS. ``matrix``
        holds the indexed vectors as rows (the bundle's memory-mapped embeddings): gathering a few
        thousand rows from it takes a tenth of the time of reconstructing them from an HNSW index,
        and the scores are the same.
        """
        q = _as_matrix(query.reshape(1, -1))
        if allowed is None:
            scores, positions = self.index_.search(q, max(0, min(int(k), len(self))))
        else:
            subset = np.flatnonzero(allowed)
            k = min(int(k), subset.size)
            if k == 0:
                return np.empty(0, np.int64), np.empty(0, np.float32)
            if subset.size <= EXACT_SUBSET_MAX:
                rows = (
                    self.index_.reconstruct_batch(subset)
                    if matrix is None
                    else np.asarray(matrix[subset], dtype=np.float32)
                )
                scores, local = faiss.knn(q, rows, k, metric=faiss.METRIC_INNER_PRODUCT)
                positions = np.where(local >= 0, subset[np.maximum(local, 0)], -1)
            else:
                bitmap = np.packbits(allowed, bitorder="little")
                hnsw = self._hnsw(self.index_) is not None
                params = faiss.SearchParametersHNSW() if hnsw else faiss.SearchParameters()
                if hnsw:
                    params.efSearch = max(self.ef_search, k)
                params.sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
                scores, positions = self.index_.search(q, k, params=params)
        keep = positions[0] >= 0
        return positions[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def _search_subset(
        self, queries: np.ndarray, k: int, allowed_ids: Sequence[str]
    ) -> tuple[list[list[str]], np.ndarray]:
        positions = np.asarray(sorted({self.position_[i] for i in allowed_ids if i in self.position_}))
        if positions.size == 0:
            return [[] for _ in range(len(queries))], np.full((len(queries), 0), -np.inf, np.float32)
        vectors = self.index_.reconstruct_batch(positions)
        k_sub = min(k, positions.size)
        scores, local = faiss.knn(queries, vectors, k_sub, metric=faiss.METRIC_INNER_PRODUCT)
        out_ids = [[self.ids_[positions[p]] for p in row if p >= 0] for row in local]
        padded = np.full((len(queries), k), -np.inf, dtype=np.float32)
        padded[:, :k_sub] = np.where(local >= 0, scores, -np.inf)
        return out_ids, padded

    def measure_recall(self, sample_queries: np.ndarray, k: int = 10) -> float:
        """Recall@k of this index against exact (brute-force) inner-product search."""
        queries = _as_matrix(sample_queries)
        k_eff = min(k, len(self))
        if k_eff == 0 or len(queries) == 0:
            return 1.0
        vectors = self.index_.reconstruct_n(0, len(self))
        _, exact = faiss.knn(queries, vectors, k_eff, metric=faiss.METRIC_INNER_PRODUCT)
        found, _ = self.search(queries, k_eff)
        hits = 0
        for truth_row, found_row in zip(exact, found, strict=True):
            truth = {self.ids_[p] for p in truth_row if p >= 0}
            hits += len(truth.intersection(found_row))
        return hits / (len(queries) * k_eff)

    # --- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index_, str(directory / _INDEX_FILE))
        (directory / _IDS_FILE).write_text(json.dumps(self.ids_.tolist()), encoding="utf-8")
        meta = {
            "factory": self.factory_,
            "dim": self.dim_,
            "exact_max_items": self.exact_max_items,
            "hnsw_m": self.hnsw_m,
            "ef_search": self.ef_search,
            "ef_construction": self.ef_construction,
        }
        (directory / _META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> VectorIndex:
        directory = Path(directory)
        for name in (_INDEX_FILE, _IDS_FILE, _META_FILE):
            if not (directory / name).exists():
                raise FileNotFoundError(f"no vector index in {directory} (missing {name})")
        meta = json.loads((directory / _META_FILE).read_text(encoding="utf-8"))
        index = cls(
            exact_max_items=meta["exact_max_items"],
            hnsw_m=meta["hnsw_m"],
            ef_search=meta["ef_search"],
            ef_construction=meta["ef_construction"],
        )
        index.index_ = _read_index(directory / _INDEX_FILE)
        ids = json.loads((directory / _IDS_FILE).read_text(encoding="utf-8"))
        index.ids_ = np.asarray(ids, dtype=object)
        index.position_ = {item: pos for pos, item in enumerate(ids)}
        index.factory_ = meta["factory"]
        index.dim_ = meta["dim"]
        return index
