"""Training stages of the ``customers`` and ``recommendations`` components."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models import artifacts as A
from models.catalog import Catalog
from models.columns import as_str
from models.config import Settings
from models.copurchase import CoPurchase, basket_matrix
from models.history import history_table
from models.product_knowledge import ProductKnowledge
from models.recommenders.interactions import type_weights_from_settings
from models.trending import Trending
from training import cf, embed
from training.memory import release_unused_memory
from training.stages.run import TrainingRun


def learn_collaborative_filtering(run: TrainingRun) -> None:
    """Fit and evaluate the CF models and their blend; keep the interaction matrix for affinity."""
    settings, catalog = run.settings, run.catalog
    result = cf.train_cf(run.data.events, catalog.skus.astype(str), settings, evaluate=run.evaluate)
    run.metrics["recommendations"] = result.metrics
    result.blend.save(run.dir(A.BLEND_DIR))
    sp.save_npz(run.out.file(A.USER_ITEMS), result.interactions.matrix)
    run.out.write_json(A.USER_IDS, result.interactions.user_ids.tolist())
    als_index, run.metrics["als_index"] = embed.build_vector_index(
        np.asarray(result.als.item_factors_, dtype=np.float32),
        catalog.skus.tolist(),
        settings.exact_index_max_items,
        settings.hnsw_m,
        settings.hnsw_ef_search,
    )
    als_index.save(run.dir(A.ALS_INDEX_DIR))
    run.interactions = result.interactions
    run.recs_validation = result.validation
    # The fitted models and matrices (~1 GB at 1M customers) are not needed by any later stage.
    del result, als_index
    release_unused_memory()


def write_customer_history(run: TrainingRun) -> None:
    """Category affinity (from the CF interactions) and the timeline the associate sees."""
    events, catalog = run.data.events, run.catalog
    cf.category_affinity(events, catalog.products, run.interactions).to_parquet(
        run.out.file(A.CATEGORY_AFFINITY), index=False
    )
    run.interactions = None
    history_table(events, catalog).to_parquet(run.out.file(A.HISTORY), index=False)


def learn_copurchase_and_trending(run: TrainingRun) -> None:
    copurchase = fit_copurchase(run.data.events, run.catalog)
    copurchase.model.save(run.dir(A.COPURCHASE_DIR))
    run.metrics["copurchase"] = {"baskets": copurchase.model.n_baskets_, **copurchase.sources}
    fit_trending(run.data.events, run.catalog, run.settings).save(run.out.file(A.TRENDING))


def learn_product_knowledge(run: TrainingRun) -> None:
    """Durable vs consumable per category and purchase cycles, from who re-buys what when."""
    events = run.data.events
    purchases = events.loc[events["type"] == "purchase", ["customer_id", "sku", "timestamp"]]
    settings = run.settings
    knowledge = ProductKnowledge.learn(
        run.catalog.products,
        purchases,
        min_repeaters=settings.recs_cycle_min_repeaters,
        person_min_purchases=settings.recs_person_cycle_min_purchases,
        person_prior_gaps=settings.recs_person_cycle_prior_gaps,
    )
    knowledge.save(run.out.file(A.PRODUCT_KNOWLEDGE))
    run.metrics["product_knowledge"] = knowledge.summary()


class FittedCoPurchase:
    """A fitted co-purchase model and how many order and cart lines it learned from."""

    def __init__(self, model: CoPurchase, sources: dict[str, int]) -> None:
        self.model, self.sources = model, sources


def fit_copurchase(events: pd.DataFrame, catalog: Catalog) -> FittedCoPurchase:
    """Baskets are receipts and orders (basket_id) plus carts of one session (session_id)."""
    etype = events["type"]
    # .loc[rows, columns]: a boolean filter of the whole frame would copy every column (GBs at 20M events)
    orders = events.loc[(etype == "purchase") & events["basket_id"].notna(), ["basket_id", "sku"]]
    carts = events.loc[(etype == "add_to_cart") & events["session_id"].notna(), ["session_id", "sku"]]
    keys = pd.concat(["b:" + orders["basket_id"].astype(str), "s:" + carts["session_id"].astype(str)])
    codes, _ = pd.factorize(keys)
    items = catalog.indices(pd.concat([orders["sku"], carts["sku"]]))
    ok = items >= 0
    matrix = basket_matrix(codes[ok], items[ok], len(catalog))
    model = CoPurchase().fit(matrix)
    return FittedCoPurchase(model, {"order_lines": int(len(orders)), "cart_lines": int(len(carts))})


def fit_trending(events: pd.DataFrame, catalog: Catalog, settings: Settings) -> Trending:
    weights = as_str(events["type"]).map(type_weights_from_settings(settings)).fillna(0.0)
    keep = events["sku"].notna() & (weights > 0)
    ev = events.loc[keep, ["sku", "timestamp", "channel", "store_id"]]  # only the columns trending reads
    frame = pd.DataFrame(
        {
            "item": catalog.indices(ev["sku"]),
            "timestamp": ev["timestamp"].array,  # to_numpy() of tz-aware times: a Timestamp object per event
            "channel": as_str(ev["channel"]).array,
            "store_id": ev["store_id"].array,
            "weight": weights[keep].to_numpy(),
        }
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return Trending(half_life_days=settings.trending_half_life_days).fit(frame[frame["item"] >= 0])
