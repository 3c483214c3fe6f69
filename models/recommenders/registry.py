"""Name -> class for every recommender, and the one place Settings map to hyper-parameters."""

from __future__ import annotations

from models.config import Settings
from models.recommenders.base import Recommender
from models.recommenders.blend import BlendRecommender
from models.recommenders.factor import ALSRecommender, BPRRecommender
from models.recommenders.neighbourhood import (
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RepeatBuyRecommender,
)
from models.recommenders.ranker import RankerRecommender

RECOMMENDERS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (
        PopularityRecommender,
        RepeatBuyRecommender,
        ItemKNNRecommender,
        ALSRecommender,
        BPRRecommender,
        EASERecommender,
        BlendRecommender,
        RankerRecommender,
    )
}


def params_from_settings(name: str, settings: Settings) -> dict:
    """Constructor arguments for ``name`` taken from Settings (empty for parameter-free models)."""
    s = settings
    table: dict[str, dict] = {
        "item_knn": {"neighbors": s.knn_neighbors, "shrink": s.knn_shrink},
        "als": {
            "factors": s.als_factors,
            "regularization": s.als_regularization,
            "alpha": s.als_alpha,
            "iterations": s.als_iterations,
            "random_state": s.random_seed,
            "num_threads": s.recs_threads,
        },
        "bpr": {
            "factors": s.bpr_factors,
            "learning_rate": s.bpr_learning_rate,
            "regularization": s.bpr_regularization,
            "iterations": s.bpr_iterations,
            "random_state": s.random_seed,
            # one thread: implicit's parallel SGD (hogwild) learns different factors on every run, and
            # BPR's scores are ranker features, so eval-recs' choices would flip between runs; one
            # thread is reproducible and, on 2 shared cores, no slower (2.3 s vs 3.4 s measured)
            "num_threads": 1,
        },
        "ease": {"l2": s.ease_l2, "max_items": s.ease_max_items},
    }
    if name == "blend":
        return {"component_params": {c: table[c] for c in table}}
    if name not in RECOMMENDERS:
        raise ValueError(f"unknown recommender {name!r}; known: {sorted(RECOMMENDERS)}")
    return table.get(name, {})


def build_recommender(name: str, settings: Settings) -> Recommender:
    """An unfitted recommender configured from Settings."""
    if name not in RECOMMENDERS:
        raise ValueError(f"unknown recommender {name!r}; known: {sorted(RECOMMENDERS)}")
    return RECOMMENDERS[name](**params_from_settings(name, settings))
