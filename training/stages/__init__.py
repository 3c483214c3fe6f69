"""Every training stage, declared in the order ``training.pipeline.train`` runs them.

A stage names the bundle component it trains (``models/components.py``) and the artifacts it
writes; ``tests/training/test_stages.py`` checks that together the stages write every artifact of
every component, and nothing that belongs to none.
"""

from __future__ import annotations

from models import artifacts as A
from models.components import CUSTOMERS, RECOMMENDATIONS, RECS_RANKER, SEARCH, SUGGEST
from training.stages import evaluation, ground, recommendations, recs_ranker, search
from training.stages.run import Stage, TrainingRun

STAGES: tuple[Stage, ...] = (
    Stage("ingest and validate", ground.ingest_data, writes=(A.QUARANTINE,)),
    Stage("live events (the service's store)", ground.live_events, when=lambda run: run.store is not None),
    Stage(
        "identity resolution",
        ground.resolve_identities,
        component=CUSTOMERS,
        writes=(A.IDENTITY_MAP, A.CUSTOMERS),
        needs_history=True,
    ),
    Stage("catalog", ground.build_catalog, writes=(A.CATALOG_DIR, A.STORES)),
    Stage(
        "semantic embeddings (ONNX)",
        search.embed_catalog,
        component=SEARCH,
        writes=(A.ENCODER_DIR, A.PRODUCT_EMBEDDINGS, A.PRODUCT_INDEX_DIR, A.FINETUNE_DIR),
    ),
    Stage("lexical index (BM25)", search.index_lexical, component=SEARCH, writes=(A.BM25_DIR,)),
    Stage(
        "query understanding",
        search.learn_query_understanding,
        component=SEARCH,
        writes=(A.QUERY_DIR, A.RULES),
    ),
    Stage("suggestions", search.learn_suggestions, component=SUGGEST, writes=(A.SUGGEST_DIR,)),
    Stage(
        "collaborative filtering",
        recommendations.learn_collaborative_filtering,
        component=RECOMMENDATIONS,
        writes=(A.BLEND_DIR, A.USER_ITEMS, A.USER_IDS, A.ALS_INDEX_DIR),
        needs_history=True,
    ),
    Stage(
        "recommendation ranker",
        recs_ranker.learn_recs_ranker,
        component=RECS_RANKER,
        writes=(A.RECS_RANKER_DIR,),
        needs_history=True,
    ),
    Stage(
        "customer history and affinity",
        recommendations.write_customer_history,
        component=CUSTOMERS,
        writes=(A.CATEGORY_AFFINITY, A.HISTORY),
        needs_history=True,
    ),
    Stage("search ranker", search.learn_search_ranker, component=SEARCH, writes=(A.POPULARITY, A.RANKER)),
    Stage(
        "co-purchase and trending",
        recommendations.learn_copurchase_and_trending,
        component=RECOMMENDATIONS,
        writes=(A.COPURCHASE_DIR, A.TRENDING),
        needs_history=True,
    ),
    Stage(
        "product knowledge (durable / consumable)",
        recommendations.learn_product_knowledge,
        component=RECOMMENDATIONS,
        writes=(A.PRODUCT_KNOWLEDGE,),
        needs_history=True,
    ),
    Stage("evaluate search", evaluation.evaluate_search_quality, when=evaluation.has_labelled_queries),
    Stage(
        "int8 encoder (no labelled queries to check it)",
        evaluation.no_int8_without_labels,
        when=lambda run: not evaluation.has_labelled_queries(run),
    ),
    Stage(
        "judged surfaces (what people see)",
        evaluation.evaluate_judged_surfaces,
        writes=(A.SURFACES_REPORT,),
        needs_history=True,
        when=lambda run: run.evaluate,
    ),
    Stage("report", evaluation.write_training_report, writes=(A.REPORT, A.PLOTS_DIR)),
)

__all__ = ["STAGES", "Stage", "TrainingRun"]
