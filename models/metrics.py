"""Ranking metrics used by training, ``eval-search`` and ``eval-recs`` alike.

One implementation, so a number in the manifest, the README and a benchmark always means the same.
Gains are graded (WANDS: exact 1, partial 0.5) and NDCG uses the exponential-free linear gain the
WANDS and Home Depot papers report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def dcg(gains: Sequence[float]) -> float:
    g = np.asarray(gains, dtype=np.float64)
    if g.size == 0:
        return 0.0
    return float(np.sum(g / np.log2(np.arange(2, g.size + 2))))


def ndcg_at_k(ranked: Sequence[str], gains: Mapping[str, float], k: int) -> float:
    """NDCG@k with unjudged items counted as gain 0. 0 when the query has no positive gain."""
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    idcg = dcg(ideal)
    if idcg == 0:
        return 0.0
    return dcg([gains.get(item, 0.0) for item in ranked[:k]]) / idcg


def condensed_ndcg_at_k(ranked: Sequence[str], gains: Mapping[str, float], k: int) -> float:
    """NDCG@k after removing unjudged items from the ranking (Sakai's condensed list)."""
    return ndcg_at_k([item for item in ranked if item in gains], gains, k)


def mrr_at_k(ranked: Sequence[str], gains: Mapping[str, float], k: int, threshold: float = 0.0) -> float:
    """Reciprocal rank of the first item with gain above ``threshold``."""
    for rank, item in enumerate(ranked[:k], start=1):
        if gains.get(item, 0.0) > threshold:
            return 1.0 / rank
    return 0.0


def recall_at_k(ranked: Sequence[str], relevant: set[str] | Mapping[str, float], k: int) -> float:
    """Share of relevant items found in the top k (relevant = gain > 0 when a mapping)."""
    rel = {i for i, g in relevant.items() if g > 0} if isinstance(relevant, Mapping) else set(relevant)
    if not rel:
        return 0.0
    return len(rel.intersection(ranked[:k])) / len(rel)


def binary_ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """NDCG@k with binary relevance, as recommender papers report it."""
    return ndcg_at_k(ranked, {i: 1.0 for i in relevant}, k)


def catalog_coverage(recommendation_lists: Sequence[Sequence[str]], catalog_size: int) -> float:
    """Share of the catalog that appears in at least one recommendation list."""
    if catalog_size <= 0:
        return 0.0
    seen: set[str] = set()
    for items in recommendation_lists:
        seen.update(items)
    return len(seen) / catalog_size
