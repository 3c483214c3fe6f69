"""Training stage of the ``recs_ranker`` component: the learned ranker over the blend's candidates.

It learns on the window the CF stage tuned the blend's weights on (components fitted before it, the
customers' purchases in it), mode ``all`` as the service's customer lists are (already-bought items
stay eligible: the business rules, not the model, decide what is too recent), and is written into
the bundle only when it beats the blend there. Its decision and validation numbers go to the
manifest's metrics (``recs_ranker``) and the report either way.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from models import artifacts as A
from models.catalog import Catalog
from models.columns import as_str
from models.recommenders.ranker import PurchaseHistory
from models.recs_ranker import ServedRanker
from training.recs_ranker import ranker_against_blend
from training.stages.run import TrainingRun

K = 20
MODE = "all"


def purchase_events(events: pd.DataFrame) -> pd.DataFrame:
    """Identified customers' purchases in the columns ``PurchaseHistory.build`` reads."""
    buys = events.loc[(events["type"] == "purchase") & events["customer_id"].notna() & events["sku"].notna()]
    return pd.DataFrame(
        {
            "user": as_str(buys["customer_id"]).array,
            "item": as_str(buys["sku"]).array,
            "type": "purchase",
            "timestamp": pd.to_datetime(buys["timestamp"], utc=True).array,
            "channel": as_str(buys["channel"]).array,
            "price": pd.to_numeric(buys["price"], errors="coerce").array
            if "price" in buys.columns
            else np.nan,
        }
    )


def item_categories(catalog: Catalog) -> np.ndarray:
    """A category code per catalog item (the ranker's category features)."""
    codes, _ = pd.factorize(pd.Series(catalog.column["category"]).fillna("").astype(str))
    return codes.astype(np.int64)


def learn_recs_ranker(run: TrainingRun) -> None:
    """Learn, judge against the blend and (when it wins) save the ranker; record the decision."""
    started = time.perf_counter()
    settings, window = run.settings, run.recs_validation
    run.recs_validation = None
    if not settings.recs_ranker_enabled:
        decision: dict = {"kept": False, "why": "OMNIRANK_RECS_RANKER_ENABLED is off"}
    elif window is None:
        skipped = run.metrics.get("recommendations", {}).get("skipped")
        decision = {
            "kept": False,
            "why": skipped
            or "trained without evaluation: the ranker is kept only when it beats the "
            "blend on a validation window",
        }
    else:
        decision = _learn(run, window)
    decision["mode"] = MODE
    decision["seconds"] = round(time.perf_counter() - started, 1)
    run.metrics["recs_ranker"] = decision


def _learn(run: TrainingRun, window) -> dict:
    catalog, settings = run.catalog, run.settings
    item_ids = catalog.skus.astype(str)
    users = window.interactions.user_ids
    buys = purchase_events(run.data.events)
    buys = buys[buys["user"].isin(pd.Index(users.astype(str)))]  # the evaluated customers' sample
    categories = item_categories(catalog)
    before = buys[buys["timestamp"] < window.cutoff]
    history = PurchaseHistory.build(before, users, item_ids, window.cutoff, categories)
    ranker, rows = ranker_against_blend(
        window.models,
        window.components,
        window.weights,
        window.interactions.matrix,
        window.split.userids[MODE],
        window.split.truth[MODE],
        history,
        settings,
        K,
        kinds=("lightgbm",),  # the booster a bundle holds: LightGBM's text model, no pickle
        refit=False,  # the booster served is the one validated
    )
    decision = {"validation_cutoff": window.cutoff.isoformat(), "k": K, **rows}
    if ranker is None:
        return decision
    # Item facts (buyers, trend, cycles) over the whole period, among the same customers the
    # booster learned from, so their scale matches what it saw.
    now = buys["timestamp"].max() if len(buys) else window.cutoff
    latest = PurchaseHistory.build(buys, users, item_ids, now + pd.Timedelta(seconds=1), categories)
    ServedRanker.from_ranker(ranker, latest, decision).save(run.dir(A.RECS_RANKER_DIR))
    return decision
