"""Similar items: what a product *is* (content) blended with what shoppers do (behaviour).

The blend recommender's item-to-item scores include its popularity component, so "similar to a
running shoe" used to mean "trending": sunscreen, a phone mount, dog treats. Here similarity is
scored only from signals that relate the two products:

- content: cosine of the product embeddings (title, description, attributes);
- attributes: the same product type (full category path), the same brand;
- behaviour: the co-interaction components of the blend (item-kNN, ALS, EASE, ...), never its
  popularity or repeat-buy components, which say nothing about the pair;
- popularity: a tie-breaker small enough never to outrank any of the above.

One pure function scores a candidate set, so the service and ``eval-surfaces`` rank identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from models.recommenders.base import Recommender

NON_PAIR_COMPONENTS = frozenset({"popularity", "repeat_buy"})
"""Blend components whose item scores do not depend on the anchor item."""


class ContentSpace(Protocol):
    """Product vectors over the live item index (the search engine provides them)."""

    def content_neighbours(self, item: int, k: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def content_similarity(self, item: int, items: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class SimilarityWeights:
    """How much each signal counts; ``same_type`` dominates so a running shoe's neighbours are
    running shoes first, ordered among themselves by content and behaviour."""

    content: float = 1.0
    same_type: float = 1.0
    same_brand: float = 0.1
    behaviour: float = 0.5
    popularity: float = 0.01


def behaviour_scores(model: Recommender, item: int) -> np.ndarray:
    """(n_trained,) co-interaction similarity of every trained item to ``item``, in [0, 1].

    For a blend: the weighted sum of its pair-wise components, each min-max normalised. For a
    single model: its own item-item scores normalised. The item itself scores 0.
    """
    components = getattr(model, "models_", None)
    weights = getattr(model, "weights", {})
    parts: list[tuple[float, np.ndarray]] = []
    if components:
        for name, component in components.items():
            weight = float(weights.get(name, 0.0))
            if weight > 0 and name not in NON_PAIR_COMPONENTS:
                parts.append((weight, np.asarray(component._item_scores(np.array([item])))[0]))
    else:
        parts.append((1.0, np.asarray(model._item_scores(np.array([item])))[0]))
    if not parts:
        return np.zeros(int(getattr(model, "n_items_", 0)), np.float32)
    total = sum(w for w, _ in parts)
    out = np.zeros(len(parts[0][1]), np.float32)
    for weight, scores in parts:
        scores = np.where(np.isfinite(scores), scores, 0.0).astype(np.float32)
        scores[item] = 0.0
        scores = np.maximum(scores, 0.0)
        top = float(scores.max())
        if top > 0:
            out += np.float32(weight / total) * scores / np.float32(top)
    return out


def blend_similarity(
    candidates: np.ndarray,
    content: np.ndarray,
    same_type: np.ndarray,
    same_brand: np.ndarray,
    behaviour: np.ndarray,
    popularity: np.ndarray,
    weights: SimilarityWeights | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank ``candidates`` (aligned arrays, one entry each) -> (items, scores, main signal) best first.

    ``popularity`` is rescaled to [0, 1] over the candidates before its (tiny) weight. The main
    signal per item is ``"behaviour"`` when co-interaction contributed more than content, else
    ``"content"``: the reason shown, and what ``eval-surfaces`` counts (never "popularity").
    """
    w = weights or SimilarityWeights()
    candidates = np.asarray(candidates, dtype=np.int64)
    if candidates.size == 0:
        return candidates, np.empty(0, np.float32), np.empty(0, dtype=object)
    pop = np.asarray(popularity, dtype=np.float64)
    span = pop.max() - pop.min()
    pop = (pop - pop.min()) / span if span > 0 else np.zeros_like(pop)
    content_part = w.content * np.clip(np.asarray(content, np.float64), 0.0, None)
    behaviour_part = w.behaviour * np.asarray(behaviour, np.float64)
    score = (
        content_part
        + w.same_type * np.asarray(same_type, np.float64)
        + w.same_brand * np.asarray(same_brand, np.float64)
        + behaviour_part
        + w.popularity * pop
    )
    order = np.lexsort((candidates, -score))  # ties: the lower item index, so answers are stable
    signal = np.where(behaviour_part > content_part, "behaviour", "content").astype(object)
    return candidates[order], score[order].astype(np.float32), signal[order]
