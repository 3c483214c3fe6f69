"""BM25 keyword retrieval over products, with field weighting.

Exact tokens (model numbers, sizes, brands) are where dense retrieval is weakest, so hybrid search
keeps a lexical leg. Fields are weighted by repeating their tokens in the indexed document
(title x3, brand x2, category x2, attributes x1, description x1): with BM25's saturating term
frequency this is the classic, cheap way to make a title hit count more than a description hit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import pandas as pd

from models.text import stem_tokens, tokenize

DEFAULT_FIELD_WEIGHTS: dict[str, int] = {
    "title": 3,
    "brand": 2,
    "category": 2,
    "attributes": 1,
    "description": 1,
}
TRANSLATED_TITLES = ("title_bn", "title_hi", "title_pt")
"""Import-format columns with the product's name in another language (models/schemas.py)."""
_FIELD_ALIASES = {"title": ("title", "name"), "category": ("category", "category_path")}
_META_FILE = "omnirank_bm25.json"


def _records(docs: Sequence[Mapping[str, Any]] | pd.DataFrame) -> list[Mapping[str, Any]]:
    if isinstance(docs, pd.DataFrame):
        return docs.to_dict(orient="records")
    return list(docs)


class BM25Index:
    """Field-weighted BM25 (bm25s, Lucene variant) mapping string product ids to scores."""

    def __init__(
        self,
        k1: float = 1.2,
        b: float = 0.75,
        field_weights: Mapping[str, int] | None = None,
        stemming: bool = True,
    ) -> None:
        self.k1 = k1
        self.b = b
        self.field_weights = dict(field_weights or DEFAULT_FIELD_WEIGHTS)
        self.stemming = stemming

    # --- tokens ----------------------------------------------------------------------------
    def _tokens(self, text: object) -> list[str]:
        tokens = tokenize(text)
        return stem_tokens(tokens) if self.stemming else tokens

    def document_tokens(self, row: Mapping[str, Any]) -> list[str]:
        """The field-weighted tokens this index stores for one product (title x3, brand x2, ...)."""
        tokens: list[str] = []
        for field, weight in self.field_weights.items():
            for key in _FIELD_ALIASES.get(field, (field,)):
                if key in row:
                    tokens.extend(self._tokens(row[key]) * int(weight))
                    break
        for key in TRANSLATED_TITLES:  # a title in the shopper's language counts as the title
            if key in row and isinstance(row[key], str):
                tokens.extend(self._tokens(row[key]) * int(self.field_weights.get("title", 1)))
        return tokens

    # --- fit / search ----------------------------------------------------------------------
    def fit(self, docs: Sequence[Mapping[str, Any]] | pd.DataFrame, ids: Sequence[str]) -> BM25Index:
        """Index ``docs`` (dicts or a DataFrame with title/brand/category/... columns)."""
        records = _records(docs)
        if len(records) != len(ids):
            raise ValueError(f"{len(records)} documents but {len(ids)} ids")
        if not records:
            raise ValueError("cannot index an empty catalog")
        corpus = [self.document_tokens(r) for r in records]
        # bm25s cannot index a corpus where every document is empty; a placeholder keeps ids aligned.
        corpus = [toks if toks else ["\x00empty"] for toks in corpus]
        model = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        model.index(corpus, show_progress=False)
        self.model_ = model
        self.avgdl_ = float(np.mean([len(toks) for toks in corpus]))
        self.ids_ = np.asarray([str(i) for i in ids], dtype=object)
        return self

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (zeros when no query token is in the index)."""
        token_ids = self.model_.get_tokens_ids(self._tokens(query))
        if not token_ids:
            return np.zeros(len(self.ids_), dtype=np.float32)
        return self.model_.get_scores_from_ids(token_ids)

    def query_tokens(self, query: str) -> list[str]:
        """The tokens a query is scored with (stemmed like the documents)."""
        return self._tokens(query)

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """Lucene idf of each token from this index's document frequencies.

        Used to score products added since training (``models/live/delta.py``) with the index's own
        statistics, so their scores rank against indexed products' as if they had been indexed. A
        token the index never saw gets the idf of a word in no document (a new brand's name is as
        specific as a word gets).
        """
        n_docs = int(self.model_.scores["num_docs"])
        indptr = self.model_.scores["indptr"]
        vocab = self.model_.vocab_dict
        out = {}
        for t in set(tokens):
            tid = vocab.get(t)
            df = 0 if tid is None else int(indptr[tid + 1] - indptr[tid])
            out[t] = float(np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)))
        return out

    def search(
        self, query: str, k: int = 10, allowed: np.ndarray | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Top-k ids with positive score (fewer, or none, when few documents match).

        ``allowed`` is an optional boolean mask over the indexed documents (filter push-down).
        """
        scores = self.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        positive = np.flatnonzero(scores > 0)
        if positive.size == 0 or k <= 0:
            return [], np.zeros(0, dtype=np.float32)
        if positive.size > k:
            part = np.argpartition(-scores[positive], k - 1)[:k]
            positive = positive[part]
        order = positive[np.argsort(-scores[positive], kind="stable")]
        return self.ids_[order].tolist(), scores[order].astype(np.float32)

    def search_many(self, queries: Sequence[str], k: int = 10) -> list[tuple[list[str], np.ndarray]]:
        return [self.search(q, k) for q in queries]

    # --- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """bm25s' own npy/json format plus our params and ids as JSON (no pickle)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model_.save(str(directory), show_progress=False)
        meta = {
            "k1": self.k1,
            "b": self.b,
            "field_weights": self.field_weights,
            "stemming": self.stemming,
            "avgdl": self.avgdl_,
            "ids": self.ids_.tolist(),
        }
        (directory / _META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> BM25Index:
        directory = Path(directory)
        meta_path = directory / _META_FILE
        if not meta_path.exists():
            raise FileNotFoundError(f"no BM25 index in {directory} (missing {_META_FILE})")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        index = cls(
            k1=meta["k1"], b=meta["b"], field_weights=meta["field_weights"], stemming=meta["stemming"]
        )
        index.model_ = bm25s.BM25.load(str(directory), show_progress=False, allow_pickle=False)
        index.ids_ = np.asarray(meta["ids"], dtype=object)
        index.avgdl_ = meta.get("avgdl")  # None in bundles written before live products existed
        return index
