"""The learned recommendation ranker as a bundle serves it (component ``recs_ranker``).

Training (``training/recs_ranker.py``) learns a LightGBM LambdaMART booster over the union of the
blend components' candidates (``models/recommenders/ranker.py``) and keeps it only when it beats
the blend on a validation window. What the bundle holds is what serving needs and nothing that a
request could compute itself:

- ``model.txt``: the booster, LightGBM's own text format (no pickle);
- ``params.json``: components and blend weights it was learned with, candidate counts, the
  durable rule, the validation decision;
- ``items.npz``: facts per item, indexed like the catalog's trained items (category code, distinct
  buyers, trend, purchase cycle, re-buy share, median price), stored uncompressed so every worker
  memory-maps one copy (``models/arrays.py``).

A request builds the customer's own facts (purchase days per item and category, repeat propensity,
store share, usual price) from the history the service knows, trained plus live, with a handful of
numpy calls over their few hundred events; every candidate feature is then a gather from these
arrays (``candidate_features``): no per-candidate Python.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.arrays import load_npz
from models.errors import OmnirankError
from models.files import atomic_write
from models.history import Interaction
from models.recommenders.base import Recommender, top_n
from models.recommenders.candidates import merge_candidates
from models.recommenders.ranker import DAY, PurchaseHistory, RankerRecommender

ITEM_ARRAYS = ("item_category", "item_buyers", "item_trend", "item_cycle", "item_repeat", "item_price")
MODEL_FILE = "model.txt"
PARAMS_FILE = "params.json"
ITEMS_FILE = "items.npz"
ROW_CANDIDATES = frozenset({"repeat_buy"})
"""Components whose candidates are the customer's own items by weight (``RepeatBuyRecommender``)."""
POSITIVE_CANDIDATES = frozenset({"item_knn"})
"""Components whose candidates are only the items they score above 0 (the sparse neighbourhood)."""


class RankerBundleError(OmnirankError, ValueError):
    """A saved ranker that does not fit the bundle it is served with."""


@dataclass(frozen=True)
class CustomerPurchases:
    """One customer's purchases as arrays (trained items only), from the served history."""

    item: np.ndarray
    day: np.ndarray
    store: np.ndarray
    price: np.ndarray

    @classmethod
    def from_history(cls, history: Sequence[Interaction], n_items: int) -> CustomerPurchases:
        buys = [ev for ev in history if ev.type == "purchase" and 0 <= ev.item < n_items]
        n = len(buys)
        return cls(
            item=np.fromiter((ev.item for ev in buys), dtype=np.int64, count=n),
            day=np.floor(
                np.fromiter((ev.timestamp.value for ev in buys), dtype=np.float64, count=n) / 1e9 / DAY
            ),
            store=np.fromiter((ev.channel == "store" for ev in buys), dtype=bool, count=n),
            price=np.fromiter(
                (np.nan if ev.price is None else ev.price for ev in buys), dtype=np.float64, count=n
            ),
        )


@dataclass
class ServedRanker:
    """A trained booster, the item facts it reads, and how it was learned."""

    booster: Any
    components: tuple[str, ...]
    weights: dict[str, float]
    items: Mapping[str, np.ndarray]
    candidates_per_model: int = 50
    trending_candidates: int = 20
    durable_repeat_share: float = 0.0
    durable_min_buyers: int = 10
    decision: dict[str, Any] = field(default_factory=dict)
    trending: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        recent = (self.items["item_trend"] * self.items["item_buyers"]).astype(np.float32)
        self.trending = top_n(recent[None, :], min(self.trending_candidates, len(recent)))[0][0]
        self.n_categories = int(self.items["item_category"].max()) + 1 if len(recent) else 1

    @property
    def n_items(self) -> int:
        return len(self.items["item_category"])

    # --- building it from a training run ------------------------------------------------------
    @classmethod
    def from_ranker(
        cls, ranker: RankerRecommender, history: PurchaseHistory, decision: dict[str, Any]
    ) -> ServedRanker:
        """What ``ranker`` (its booster, components, weights) needs at serving; item facts from
        ``history`` (the whole training period, so cycles and trends are the latest known)."""
        if ranker.booster_ is None or ranker.kind != "lightgbm":
            raise RankerBundleError("only a trained LightGBM ranker is served (a text model, no pickle)")
        return cls(
            booster=ranker.booster_,
            components=tuple(ranker.components),
            weights=dict(ranker.weights),
            items={name: np.asarray(getattr(history, name)) for name in ITEM_ARRAYS},
            candidates_per_model=ranker.candidates_per_model,
            trending_candidates=ranker.trending_candidates,
            durable_repeat_share=ranker.durable_repeat_share,
            durable_min_buyers=ranker.durable_min_buyers,
            decision=decision,
        )

    # --- persistence ----------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / MODEL_FILE, self.booster.model_to_string())
        params = {
            "components": list(self.components),
            "weights": self.weights,
            "candidates_per_model": self.candidates_per_model,
            "trending_candidates": self.trending_candidates,
            "durable_repeat_share": self.durable_repeat_share,
            "durable_min_buyers": self.durable_min_buyers,
            "decision": self.decision,
        }
        atomic_write(directory / PARAMS_FILE, json.dumps(params, indent=2, default=float))
        arrays = {name: np.ascontiguousarray(self.items[name]) for name in ITEM_ARRAYS}
        np.savez(directory / ITEMS_FILE, **arrays)  # stored uncompressed: memory-mapped when loaded
        return directory

    @classmethod
    def load(cls, directory: Path) -> ServedRanker:
        import lightgbm as lgb

        params = json.loads((directory / PARAMS_FILE).read_text())
        booster = lgb.Booster(model_str=(directory / MODEL_FILE).read_text())
        items = load_npz(directory / ITEMS_FILE)
        return cls(
            booster=booster,
            components=tuple(params["components"]),
            weights={k: float(v) for k, v in params["weights"].items()},
            items=items,
            candidates_per_model=int(params["candidates_per_model"]),
            trending_candidates=int(params["trending_candidates"]),
            durable_repeat_share=float(params["durable_repeat_share"]),
            durable_min_buyers=int(params["durable_min_buyers"]),
            decision=params.get("decision", {}),
        )

    def check_models(self, models: Mapping[str, Recommender]) -> None:
        """The blend it is served with must hold its components, over the same items."""
        missing = [c for c in self.components if c not in models]
        if missing:
            raise RankerBundleError(f"the recommendation ranker needs blend components {missing}")
        n = {models[c].n_items_ for c in self.components}
        if n != {self.n_items}:
            raise RankerBundleError(f"the ranker knows {self.n_items} items, the blend {sorted(n)}")

    # --- serving ----------------------------------------------------------------------------------
    def customer_history(self, purchases: CustomerPurchases, now: pd.Timestamp) -> PurchaseHistory:
        """``PurchaseHistory.build`` for one customer (row 0), in numpy over their own events:
        the same facts, without a pandas group-by per request."""
        now_day = pd.Timestamp(now).value / 1e9 / DAY
        ok = purchases.day < np.ceil(now_day)
        item, day = purchases.item[ok], purchases.day[ok].astype(np.int64)
        store, price = purchases.store[ok], purchases.price[ok]
        cats = self.items["item_category"]
        # distinct (item, day) lines, sorted by item then day: the last of each item is its last day
        span = np.int64(1 << 32)
        lines = np.unique(item * span + day)
        bought, count, last = _runs(lines // span, lines % span)
        line_cats = np.asarray(cats[lines // span], np.int64)
        cat_pairs = np.unique(line_cats * span + lines % span)
        cat_bought, cat_count, cat_last = _runs(cat_pairs // span, cat_pairs % span)
        n_lines, n_distinct = float(len(lines)), float(len(bought))
        priced = price[np.isfinite(price) & (price > 0)]
        return PurchaseHistory(
            now_day=float(now_day),
            count=_row(bought, count, self.n_items),
            last_day=_row(bought, last + 1.0, self.n_items),
            cat_count=_row(cat_bought, cat_count, self.n_categories),
            cat_last_day=_row(cat_bought, cat_last + 1.0, self.n_categories),
            **{name: self.items[name] for name in ITEM_ARRAYS},
            user_days=np.array([len(np.unique(day))], np.float32),
            user_items=np.array([n_distinct], np.float32),
            user_repeat=np.array([(n_lines - n_distinct) / n_lines if n_lines else np.nan], np.float32),
            user_store=np.array([store.mean() if len(store) else np.nan], np.float32),
            user_price=np.array([np.median(np.log(priced)) if len(priced) else np.nan], np.float32),
            user_last_day=np.array([day.max() if len(day) else np.nan], np.float32),
        )

    def first_stage(
        self, models: Mapping[str, Recommender], row: sp.csr_matrix, allowed: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(candidates (1, m), each component's ``score_items`` there) for one folded-in customer.

        The components' own ``candidates`` and ``score_items`` do sparse bookkeeping built for
        blocks of thousands of customers; for one request each component scores every item once
        (as the blend does) and both the candidates and their scores come from that vector: a
        component's best ``candidates_per_model`` allowed items, by the same rule as its
        ``candidates`` (``ROW_CANDIDATES``, ``POSITIVE_CANDIDATES``: only the customer's own items,
        only items with a positive score), plus the trending items."""
        userids = np.array([-1], dtype=np.int64)
        mask = np.zeros(self.n_items, dtype=bool)
        mask[allowed] = True
        n = self.candidates_per_model
        dense = {
            c: np.asarray(models[c]._score(userids, row), dtype=np.float32).reshape(-1)
            for c in self.components
        }
        lists = []
        for c in self.components:
            if c in ROW_CANDIDATES:
                keep = mask[row.indices]
                ids, values = row.indices[keep], np.asarray(row.data[keep], np.float32)
            else:
                ids = np.flatnonzero(mask & (dense[c] > 0) if c in POSITIVE_CANDIDATES else mask)
                values = dense[c][ids]
            if len(ids) > n:
                ids = ids[np.argpartition(-values, n - 1)[:n]]
            lists.append(np.asarray(ids, np.int64)[None, :])
        lists.append(self.trending[mask[self.trending]][None, :])
        candidates = merge_candidates(*lists)
        valid = candidates >= 0
        at = np.maximum(candidates, 0)
        scores = {c: np.where(valid, dense[c][at], -np.inf).astype(np.float32) for c in self.components}
        return candidates, scores

    def rank(
        self,
        models: Mapping[str, Recommender],
        row: sp.csr_matrix,
        purchases: CustomerPurchases,
        now: pd.Timestamp,
        allowed: np.ndarray,
        n: int,
        one_pass: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One customer's top ``n`` allowed items by the booster: (ids, scores), best first.

        ``row`` is their served confidence row (model row -1: folded in), ``allowed`` the item ids
        the business rules leave them. Candidates: every component's best ``candidates_per_model``
        among the allowed items plus the trending ones, as in training. ``one_pass``: both from one
        dense score vector per component (``first_stage``); False: the components' own calls."""
        ranker = RankerRecommender(
            self.components,
            weights=self.weights,
            candidates_per_model=self.candidates_per_model,
            trending_candidates=self.trending_candidates,
            durable_repeat_share=self.durable_repeat_share,
            durable_min_buyers=self.durable_min_buyers,
        )
        ranker.models_ = {c: models[c] for c in self.components}
        ranker.n_users_, ranker.n_items_ = 1, self.n_items
        ranker.history_ = self.customer_history(purchases, now)
        ranker.booster_ = self.booster
        userids = np.array([-1], dtype=np.int64)
        component_scores = None
        if one_pass:
            candidates, component_scores = self.first_stage(ranker.models_, row, allowed)
        else:  # the components' own two-stage calls, as in training (tests compare the two)
            lists = [
                m.candidates(userids, row, self.candidates_per_model, allowed)
                for m in ranker.models_.values()
            ]
            lists.append(self.trending[np.isin(self.trending, allowed)][None, :])
            candidates = merge_candidates(*lists)
        if candidates.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = ranker.score_items(
            userids, row, candidates, history_rows=np.zeros(1, np.int64), component_scores=component_scores
        )[0]
        cand = candidates[0]
        keep = (cand >= 0) & np.isfinite(scores)
        cand, scores = cand[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")[:n]
        return cand[order].astype(np.int64), scores[order]


def _runs(keys: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over (key, day) pairs sorted by key then day: each key, its number of days, its last day."""
    if len(keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float64)
    ends = np.r_[np.flatnonzero(np.diff(keys)), len(keys) - 1]
    counts = np.diff(np.r_[-1, ends]).astype(np.float32)
    return keys[ends], counts, days[ends].astype(np.float64)


def _row(cols: np.ndarray, values: np.ndarray, width: int) -> sp.csr_matrix:
    """A 1 x ``width`` CSR row from sorted column ids."""
    return sp.csr_matrix(
        (np.asarray(values, np.float32), np.asarray(cols, np.int32), np.array([0, len(cols)])),
        shape=(1, width),
    )
