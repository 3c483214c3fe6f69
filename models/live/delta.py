"""The delta index: products added or changed since training, searchable within seconds.

Why a delta and not a re-index: the bundle's BM25 and FAISS indexes are immutable and cost seconds
to minutes to rebuild; a retailer adding a product expects to find it on the next search. The
delta holds only the live documents (BM25 postings scored with the bundle index's own statistics,
and the vectors the served ONNX encoder gave them on arrival) and is searched exhaustively beside
the bundle's indexes. The next training folds the live products into the catalog and the delta
starts empty again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.lexical import BM25Index


@dataclass(frozen=True)
class DeltaIndex:
    """Live documents keyed by item index (new items, or bundle items whose text changed)."""

    dim: int
    items: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    documents: tuple[tuple[str, ...], ...] = ()
    embeddings: np.ndarray | None = None  # (len(items), dim) float32, L2-normalised

    def __post_init__(self) -> None:
        if self.embeddings is None:
            object.__setattr__(self, "embeddings", np.empty((0, self.dim), np.float32))
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for row, doc in enumerate(self.documents):
            counts: dict[str, int] = {}
            for t in doc:
                counts[t] = counts.get(t, 0) + 1
            for t, tf in counts.items():
                rows, tfs = postings.setdefault(t, ([], []))
                rows.append(row)
                tfs.append(tf)
        object.__setattr__(
            self,
            "_postings",
            {t: (np.asarray(r, np.int64), np.asarray(f, np.float64)) for t, (r, f) in postings.items()},
        )
        object.__setattr__(self, "_lengths", np.array([len(d) for d in self.documents], dtype=np.float64))
        object.__setattr__(self, "_row_of", {int(i): r for r, i in enumerate(self.items)})

    def __len__(self) -> int:
        return int(self.items.size)

    def updated(
        self, items: Sequence[int], documents: Sequence[Sequence[str]], embeddings: np.ndarray
    ) -> DeltaIndex:
        """A new delta with these documents written over any earlier ones for the same items."""
        items = np.asarray(items, dtype=np.int64)
        keep = ~np.isin(self.items, items)
        return DeltaIndex(
            dim=self.dim,
            items=np.concatenate([self.items[keep], items]),
            documents=tuple(d for d, k in zip(self.documents, keep, strict=True) if k)
            + tuple(tuple(d) for d in documents),
            embeddings=np.vstack(
                [self.embeddings[keep], np.asarray(embeddings, np.float32).reshape(len(items), self.dim)]
            ),
        )

    def lexical(self, bm25: BM25Index, query: str, avgdl: float) -> np.ndarray:
        """BM25 of ``query`` for every live document (aligned with ``items``), with the bundle
        index's idf, k1, b and average length: the same formula bm25s applies to indexed products."""
        scores = np.zeros(len(self), dtype=np.float64)
        if not len(self):
            return scores
        tokens = bm25.query_tokens(query)
        idf = bm25.idf(tokens)
        norm = bm25.k1 * ((1.0 - bm25.b) + bm25.b * self._lengths / avgdl)
        for t in tokens:  # a repeated query word counts again, as in bm25s
            posting = self._postings.get(t)  # type: ignore[attr-defined]
            if posting is not None:
                rows, tf = posting
                scores[rows] += idf[t] * tf / (norm[rows] + tf)
        return scores

    def row(self, item: int) -> int | None:
        """Row of ``item`` in this delta, if it has live text."""
        return self._row_of.get(int(item))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ItemVectors:
    """Product vectors over the live item index: the bundle's memory-mapped embeddings, with the
    delta's rows for new products and for products whose text changed since training."""

    trained: np.ndarray  # (n_trained, dim), memory-mapped
    delta: DeltaIndex
    n_items: int

    def __post_init__(self) -> None:
        source = np.full(self.n_items, -1, dtype=np.int64)
        source[self.delta.items] = np.arange(len(self.delta))
        object.__setattr__(self, "_source", source)

    def rows(self, items: np.ndarray) -> np.ndarray:
        items = np.asarray(items, dtype=np.int64)
        source = self._source[items]  # type: ignore[attr-defined]
        if not (source >= 0).any():
            return np.asarray(self.trained[items], dtype=np.float32)
        out = np.empty((items.size, self.trained.shape[1]), dtype=np.float32)
        live = source >= 0
        out[~live] = self.trained[items[~live]]
        out[live] = self.delta.embeddings[source[live]]
        return out
