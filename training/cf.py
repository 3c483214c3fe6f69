"""Collaborative filtering stage: resolved customers x catalog confidence matrix, the recommender
zoo evaluated on a temporal split, and the blended recommender the service and batch jobs use.

The blend's weights are tuned on a validation window carved from the training period only, then
the same weights are used for the held-out test and for the model refitted on all data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from models.columns import as_str
from models.config import Settings
from models.recommenders.base import Recommender
from models.recommenders.blend import BlendRecommender
from models.recommenders.evaluate import EvalSplit, evaluate_modes, make_eval_split
from models.recommenders.interactions import (
    Interactions,
    build_interactions,
    temporal_split,
    type_weights_from_settings,
)
from models.recommenders.registry import build_recommender

BASELINES = ("popularity", "item_knn", "als", "bpr", "ease")
POSITIVE_TYPES = ("purchase",)


def interaction_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events of identified customers on products, in the columns the interactions builder reads."""
    cols = ["customer_id", "sku", "type", "timestamp", "channel", "quantity"]
    ev = events.loc[events["customer_id"].notna() & events["sku"].notna(), cols]  # not every column
    # ``.array`` keeps strings in Arrow: ``.to_numpy()`` would make 20M Python objects per column.
    return pd.DataFrame(
        {
            "user": as_str(ev["customer_id"]).array,
            "item": as_str(ev["sku"]).array,
            "type": as_str(ev["type"]).array,
            "timestamp": ev["timestamp"].to_numpy(),
            "channel": as_str(ev["channel"]).array,
            "quantity": ev["quantity"].to_numpy(),
        }
    )


def build_matrix(
    events: pd.DataFrame,
    item_ids: np.ndarray,
    settings: Settings,
    user_ids: np.ndarray | None = None,
    now=None,
) -> Interactions:
    return build_interactions(
        events,
        type_weights_from_settings(settings),
        half_life_days=settings.half_life_days,
        now=now,
        user_ids=user_ids,
        item_ids=item_ids,
    )


def _fit_all(matrix: sp.csr_matrix, settings: Settings, names: tuple[str, ...]) -> dict[str, Recommender]:
    models = {}
    for name in tqdm(names, desc="fit recommenders", leave=False):
        models[name] = build_recommender(name, settings).fit(matrix)
    return models


@dataclass
class ValidationWindow:
    """What the blend's weights were tuned on, kept for the recommendation ranker's stage
    (``training/stages/recs_ranker.py``), which learns and is judged on the same window."""

    models: dict[str, Recommender]
    """The blend's components fitted before the window."""
    interactions: Interactions
    """Their interactions (rows: the evaluated customers)."""
    split: EvalSplit
    """The window's customers and what each bought in it, per mode."""
    cutoff: pd.Timestamp
    components: tuple[str, ...]
    weights: dict[str, float]


@dataclass
class CFResult:
    interactions: Interactions
    blend: BlendRecommender
    als: Recommender
    metrics: dict
    validation: ValidationWindow | None = None


def _blend_components(n_items: int, settings: Settings) -> tuple[str, ...]:
    blend = build_recommender("blend", settings)
    return tuple(c for c in blend.components if c != "ease" or n_items <= settings.ease_max_items)


def train_cf(
    events: pd.DataFrame, item_ids: np.ndarray, settings: Settings, evaluate: bool = True
) -> CFResult:
    """Evaluate on a temporal split (when asked), then fit the serving blend on everything."""
    ev = interaction_events(events)
    components = _blend_components(len(item_ids), settings)
    metrics: dict = {}
    weights = None
    window: list[ValidationWindow] = []
    too_short = evaluation_window_missing(ev, settings.holdout_days)
    if evaluate and too_short:
        metrics = {"skipped": too_short}  # the blend keeps equal weights; the service still answers
    elif evaluate:
        sample, n_customers = sample_customers(ev, settings.eval_max_customers, settings.random_seed)
        metrics, weights = evaluate_cf(sample, item_ids, settings, components, keep=window)
        metrics["evaluated_customers"] = {"sampled": int(sample["user"].nunique()), "of": n_customers}
    full = build_matrix(ev, item_ids, settings)
    names = tuple(dict.fromkeys([*components, "als"]))
    fitted = _fit_all(full.matrix, settings, names)
    blend = BlendRecommender(components=components, weights=weights).use_fitted(fitted)
    return CFResult(
        interactions=full,
        blend=blend,
        als=fitted["als"],
        metrics=metrics,
        validation=window[0] if window else None,
    )


def evaluation_window_missing(ev: pd.DataFrame, holdout_days: float) -> str | None:
    """Why the held-out evaluation cannot run (None when it can): it holds out the last
    ``holdout_days`` for the test and the ``holdout_days`` before them to tune the blend, so a shop's
    first export with a few weeks of orders trains and serves, with the evaluation skipped."""
    purchases = ev["timestamp"][ev["type"] == "purchase"]
    if purchases.empty:
        return "no purchases to evaluate recommendations on"
    ts = pd.to_datetime(purchases, utc=True)
    span_days = (ts.max() - ts.min()).total_seconds() / 86_400
    if span_days <= 2 * holdout_days:
        return (
            f"the purchases span {span_days:.0f} days; the evaluation needs more than {2 * holdout_days:g} "
            f"(OMNIRANK_HOLDOUT_DAYS={holdout_days:g} held out for the test, as many before it to tune the blend)"
        )
    return None


def sample_customers(ev: pd.DataFrame, max_customers: int, seed: int) -> tuple[pd.DataFrame, int]:
    """The events of a seeded random sample of ``max_customers`` customers (all of them when fewer),
    and how many customers there were: recall and NDCG are means over customers, so a 100k sample
    estimates them as well as the full population while bounding the cost of the evaluation fits."""
    codes, users = pd.factorize(ev["user"])
    if len(users) <= max_customers:
        return ev, len(users)
    chosen = np.zeros(len(users), dtype=bool)
    chosen[np.random.default_rng(seed).choice(len(users), size=max_customers, replace=False)] = True
    return ev[chosen[codes]], len(users)


def evaluate_cf(
    ev: pd.DataFrame,
    item_ids: np.ndarray,
    settings: Settings,
    components: tuple[str, ...],
    keep: list[ValidationWindow] | None = None,
) -> tuple[dict, dict[str, float]]:
    """Recall@20 / NDCG@20 / coverage per model and mode on the last ``holdout_days``.

    ``keep``: a list the validation window (models, customers, tuned weights) is appended to."""
    train_ev, test_ev, cutoff = temporal_split(ev, holdout_days=settings.holdout_days)
    inner_ev, valid_ev, valid_cutoff = temporal_split(train_ev, holdout_days=settings.holdout_days)
    # 1. tune blend weights inside the training period
    inner = build_matrix(inner_ev, item_ids, settings)
    inner_models = _fit_all(inner.matrix, settings, components)
    valid = make_eval_split(inner, valid_ev, POSITIVE_TYPES)
    blend = BlendRecommender(components=components).use_fitted(inner_models)
    # mode "all": repeat purchases count, so already-bought items stay eligible while tuning too
    weights = blend.fit_weights(
        valid.userids["all"],
        inner.matrix[valid.userids["all"]],
        valid.truth["all"],
        filter_already_liked_items=False,
        objective="both",
    )
    if keep is not None:
        keep.append(
            ValidationWindow(inner_models, inner, valid, valid_cutoff, tuple(components), dict(weights))
        )
    # 2. refit on the whole training period, score the held-out weeks
    train = build_matrix(train_ev, item_ids, settings)
    names = tuple(dict.fromkeys([*BASELINES, *components]))
    names = tuple(n for n in names if n != "ease" or len(item_ids) <= settings.ease_max_items)
    models = _fit_all(train.matrix, settings, names)
    split = make_eval_split(train, test_ev, POSITIVE_TYPES)
    results = {name: evaluate_modes(models[name], split) for name in names}
    results["omnirank"] = evaluate_modes(
        BlendRecommender(components=components, weights=weights).use_fitted(models), split
    )
    by_mode = {mode: {name: r[mode] for name, r in results.items()} for mode in ("all", "new")}
    return {
        "cutoff": str(cutoff),
        "n_test_users": int(len(split.test_userids)),
        "blend_weights": weights,
        "modes": by_mode,
        "channel_parity": _channel_parity(models, weights, components, split, train_ev),
        "notes": split.notes,
    }, weights


def _channel_parity(models, weights, components, split, train_ev: pd.DataFrame) -> dict:
    """Blend quality for customers who bought only in stores vs only online before the cutoff."""
    buys = train_ev[train_ev["type"] == "purchase"]
    in_store = (buys["channel"] == "store").groupby(buys["user"]).agg(["any", "all"])
    store_only = set(in_store.index[in_store["all"]])
    online_only = set(in_store.index[~in_store["any"]])
    blend = BlendRecommender(components=components, weights=weights).use_fitted(models)
    user_ids = split.train.user_ids
    out = {}
    for label, group in (("store_only", store_only), ("online_only", online_only)):
        keep = [i for i, u in enumerate(split.userids["all"]) if user_ids[u] in group]
        if not keep:
            continue
        from models.recommenders.evaluate import evaluate_recommender

        out[label] = evaluate_recommender(
            blend, split.train.matrix, split.userids["all"][keep], [split.truth["all"][i] for i in keep]
        )
    return out


def category_affinity(
    events: pd.DataFrame, products: pd.DataFrame, interactions: Interactions, top: int = 5
) -> pd.DataFrame:
    """Each customer's top categories by share of their confidence mass, whatever the channel."""
    m = interactions.matrix.tocoo()
    cats = products.set_index("sku").loc[interactions.item_ids, "top_category"].to_numpy()
    frame = pd.DataFrame({"u": m.row, "category": cats[m.col], "w": m.data})
    agg = frame.groupby(["u", "category"])["w"].sum().reset_index()
    agg["affinity"] = agg["w"] / agg.groupby("u")["w"].transform("sum")
    agg = agg.sort_values(["u", "affinity"], ascending=[True, False]).groupby("u").head(top)
    agg["customer_id"] = interactions.user_ids[agg["u"].to_numpy()]
    return agg[["customer_id", "category", "affinity"]].reset_index(drop=True)
