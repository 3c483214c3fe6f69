"""Recommenders behind one implicit-style contract; see ``base.Recommender``."""

from models.recommenders.base import Recommender, top_n
from models.recommenders.blend import BlendRecommender
from models.recommenders.factor import ALSRecommender, BPRRecommender
from models.recommenders.neighbourhood import (
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RepeatBuyRecommender,
)
from models.recommenders.registry import RECOMMENDERS, build_recommender, params_from_settings

__all__ = [
    "RECOMMENDERS",
    "ALSRecommender",
    "BPRRecommender",
    "BlendRecommender",
    "EASERecommender",
    "ItemKNNRecommender",
    "PopularityRecommender",
    "Recommender",
    "RepeatBuyRecommender",
    "build_recommender",
    "params_from_settings",
    "top_n",
]
