"""Learning the recommendation ranker on a validation window and deciding whether it beats the blend.

One procedure for ``eval-recs`` and for ``omnirank train`` (stage ``recommendation ranker``): the
components are fitted on the period before the validation window, the ranker learns from 70% of
the window's customers (their next purchases among their candidates) and is compared with the
blend, same components and weights, on the other 30%. It is kept only when it beats the blend
there, on the mean of Recall@k and NDCG@k: a ranker that merely ties costs serving time for nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from models.config import Settings
from models.recommenders import BlendRecommender, Recommender
from models.recommenders.evaluate import evaluate_recommender
from models.recommenders.ranker import PurchaseHistory, RankerRecommender


def objective(metrics: Mapping[str, float], k: int) -> float:
    """What the decision compares: the mean of Recall@k and NDCG@k."""
    return (metrics[f"recall@{k}"] + metrics[f"ndcg@{k}"]) / 2


def new_ranker(
    kind: str, components: Sequence[str], weights: Mapping[str, float], settings: Settings
) -> RankerRecommender:
    """An untrained ranker with the ``recs_ranker_*`` settings."""
    return RankerRecommender(
        components,
        weights=dict(weights),
        kind=kind,
        candidates_per_model=settings.recs_ranker_candidates_per_model,
        trending_candidates=settings.recs_ranker_trending_candidates,
        n_estimators=settings.recs_ranker_trees,
        learning_rate=settings.recs_ranker_learning_rate,
        num_leaves=settings.recs_ranker_leaves,
        min_child_samples=settings.recs_ranker_min_child_samples,
        max_train_users=settings.recs_ranker_max_train_users,
        random_state=settings.random_seed,
    )


def ranker_against_blend(
    models: Mapping[str, Recommender],
    components: Sequence[str],
    weights: Mapping[str, float],
    matrix: sp.csr_matrix,
    users: np.ndarray,
    truth: Sequence[set[int]],
    history: PurchaseHistory,
    settings: Settings,
    k: int,
    kinds: Sequence[str],
    filter_already_liked_items: bool = False,
    refit: bool = True,
) -> tuple[RankerRecommender | None, dict[str, Any]]:
    """Each ranker ``kind`` learned on 70% of the validation customers and scored with the blend on
    the rest; returns (the best one when it beats the blend, else None; the validation rows).

    ``models`` are fitted before the window, ``matrix`` their interactions, ``users`` the window's
    customers (rows of ``matrix``) and ``truth`` what each bought in it. ``refit``: learn the kept
    kind again on every validation customer (eval-recs); without, the validated booster is kept.
    """
    flt = filter_already_liked_items
    rng = np.random.default_rng(settings.random_seed)
    is_fit = rng.random(len(users)) < 0.7
    fit_u, check_u = users[is_fit], users[~is_fit]
    fit_t = [t for t, f in zip(truth, is_fit, strict=True) if f]
    check_t = [t for t, f in zip(truth, is_fit, strict=True) if not f]
    rows: dict[str, Any] = {
        "validation_users_fit": int(len(fit_u)),
        "validation_users_check": int(len(check_u)),
    }
    if len(check_u) == 0 or len(fit_u) < 5:
        return None, {**rows, "kept": False, "why": "too few validation customers"}
    blend = BlendRecommender(tuple(components), weights=dict(weights)).use_fitted(models)
    rows["blend"] = evaluate_recommender(blend, matrix, check_u, check_t, k, flt)

    def learn(kind: str) -> tuple[RankerRecommender | None, dict[str, Any]]:
        started = time.perf_counter()
        ranker = new_ranker(kind, components, weights, settings).use_fitted(models).use_history(history)
        info = ranker.fit_ranker(fit_u, matrix[fit_u], fit_t, filter_already_liked_items=flt)
        if ranker.booster_ is None:
            return None, info
        metrics = evaluate_recommender(ranker, matrix, check_u, check_t, k, flt)
        return ranker, {**metrics, **info, "seconds": round(time.perf_counter() - started, 1)}

    # One thread per kind: each booster trains on one thread (reproducible), so on 2 cores the kinds
    # run side by side (Online Retail II: the ranker stage 79 s -> 56 s), with the same results.
    with ThreadPoolExecutor(max_workers=max(1, len(kinds)), thread_name_prefix="recs-ranker") as pool:
        learned = list(pool.map(learn, kinds))
    best: RankerRecommender | None = None
    best_kind, best_value = None, -1.0
    for kind, (ranker, info) in zip(kinds, learned, strict=True):
        rows[kind] = info
        if ranker is None:
            continue
        value = objective(info, k)
        if value > best_value:
            best, best_kind, best_value = ranker, kind, value
    kept = best_kind is not None and best_value > objective(rows["blend"], k)
    rows["kept"] = bool(kept)
    rows["kind"] = best_kind
    if not kept:
        if best_kind is not None:
            rows["why"] = f"{best_kind} did not beat the blend on the validation customers"
        return None, rows
    if refit:
        best = new_ranker(best_kind, components, weights, settings).use_fitted(models).use_history(history)
        best.fit_ranker(users, matrix[users], truth, filter_already_liked_items=flt)
    return best, rows
