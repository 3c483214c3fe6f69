"""Second stage: a learned ranker over the union of every model's candidates.

A blend adds five normalised scores with fixed weights, so it cannot know that one customer
re-buys weekly while another explores, or that an item bought yesterday will not be bought again
today. The ranker orders each customer's candidates (every component's top ``n``, plus trending
items) by a gradient-boosted model over features the blend cannot express:

- each component's score (normalised over the candidates, as the blend does) and its rank there,
  and the blend's own score;
- the customer: repeat propensity (share of purchase days that re-bought an item), exploration
  rate (distinct items per purchase day), number of purchase days and of items, days since their
  last purchase, store share of their purchases, usual price;
- customer x item: purchase days of the item and days since the last one, that age over the
  item's purchase cycle; the same count and age for the item's category;
- the item: distinct buyers, trend (share of them in the last weeks), purchase cycle, share of
  buyers who re-buy it, price over the customer's usual.

Every feature is a lookup in an array indexed by item, by customer or a sparse customer x item
matrix, gathered for a whole (customers, candidates) block at once: no per-candidate Python.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from models.boosting import fit_lambdamart
from models.metrics import binary_ndcg_at_k, recall_at_k
from models.recommenders.base import Recommender, as_csr, top_n
from models.recommenders.blend import _normalise_candidates
from models.recommenders.candidates import csr_values, merge_candidates, merge_in_order

DAY = 86_400.0
TREND_DAYS = 28.0
RANKER_KINDS = ("lightgbm", "hgb")
HISTORY_MATRICES = ("count", "last_day", "cat_count", "cat_last_day")
HISTORY_ARRAYS = (
    "item_category",
    "item_buyers",
    "item_trend",
    "item_cycle",
    "item_repeat",
    "item_price",
    "user_days",
    "user_items",
    "user_repeat",
    "user_store",
    "user_price",
    "user_last_day",
)


# ------------------------------------------------------------------------------------------
# what the confidence matrix forgets: counts, dates, cycles, channels, prices
# ------------------------------------------------------------------------------------------
@dataclass
class PurchaseHistory:
    """Purchase facts as arrays over a fixed (users, items) index, at reference time ``now_day``.

    Days are counted from 1970-01-01; ``last_day`` matrices store the day + 1 so that 0 means
    "never" in a sparse matrix.
    """

    now_day: float
    count: sp.csr_matrix
    last_day: sp.csr_matrix
    cat_count: sp.csr_matrix
    cat_last_day: sp.csr_matrix
    item_category: np.ndarray
    item_buyers: np.ndarray
    item_trend: np.ndarray
    item_cycle: np.ndarray
    item_repeat: np.ndarray
    item_price: np.ndarray
    user_days: np.ndarray
    user_items: np.ndarray
    user_repeat: np.ndarray
    user_store: np.ndarray
    user_price: np.ndarray
    user_last_day: np.ndarray

    @property
    def n_users(self) -> int:
        return self.count.shape[0]

    @classmethod
    def build(
        cls,
        events: pd.DataFrame,
        user_ids: Sequence | np.ndarray,
        item_ids: Sequence | np.ndarray,
        now: pd.Timestamp,
        item_category: np.ndarray | None = None,
    ) -> PurchaseHistory:
        """From events (user, item, type, timestamp[, channel, price]) before ``now``; purchases only."""
        users = pd.Index(np.asarray(user_ids).astype(str))
        items = pd.Index(np.asarray(item_ids).astype(str))
        n_users, n_items = len(users), len(items)
        now = pd.Timestamp(now)
        now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
        now_day = now.value / 1e9 / DAY
        buys = events[events["type"] == "purchase"] if "type" in events.columns else events
        u = users.get_indexer(buys["user"].astype(str).to_numpy())
        i = items.get_indexer(buys["item"].astype(str).to_numpy())
        ts = pd.to_datetime(buys["timestamp"], utc=True, format="mixed")
        # nanoseconds whatever the resolution the events came in (Arrow timestamps are often µs)
        day = np.floor(ts.dt.as_unit("ns").astype("int64").to_numpy() / 1e9 / DAY)
        ok = (u >= 0) & (i >= 0) & (day < np.ceil(now_day))
        store = (
            (buys["channel"].astype(str).to_numpy() == "store")
            if "channel" in buys.columns
            else np.zeros(len(buys), bool)
        )
        price = (
            pd.to_numeric(buys["price"], errors="coerce").to_numpy(dtype=np.float64)
            if "price" in buys.columns
            else np.full(len(buys), np.nan)
        )
        frame = pd.DataFrame({"u": u[ok], "i": i[ok], "d": day[ok], "s": store[ok], "p": price[ok]})
        cats = (
            np.zeros(n_items, dtype=np.int64)
            if item_category is None
            else np.asarray(item_category, dtype=np.int64)
        )
        n_cats = int(cats.max()) + 1 if len(cats) else 1

        # customer x item: distinct purchase days, first and last day
        ui = frame.groupby(["u", "i"])["d"].agg(["nunique", "min", "max"]).reset_index()
        count = _sparse(ui["u"], ui["i"], ui["nunique"], (n_users, n_items))
        last_day = _sparse(ui["u"], ui["i"], ui["max"] + 1.0, (n_users, n_items))
        frame["c"] = cats[frame["i"].to_numpy()] if len(frame) else np.zeros(0, np.int64)
        uc = frame.groupby(["u", "c"])["d"].agg(["nunique", "max"]).reset_index()
        cat_count = _sparse(uc["u"], uc["c"], uc["nunique"], (n_users, n_cats))
        cat_last_day = _sparse(uc["u"], uc["c"], uc["max"] + 1.0, (n_users, n_cats))

        # items: buyers, trend, cycle (median over re-buyers of their mean gap), re-buy share, price
        buyers = np.bincount(ui["i"], minlength=n_items).astype(np.float32)
        recent = frame[frame["d"] >= now_day - TREND_DAYS].drop_duplicates(["u", "i"])
        recent_buyers = np.bincount(recent["i"], minlength=n_items).astype(np.float32)
        trend = (recent_buyers + 1.0) / (buyers + 1.0 / max(1.0, _span_share(frame, now_day)))
        rebuy = ui[ui["nunique"] >= 2]
        gaps = (rebuy["max"] - rebuy["min"]) / (rebuy["nunique"] - 1)
        cycle = np.full(n_items, np.nan, dtype=np.float32)
        med = gaps.groupby(rebuy["i"]).median()
        cycle[med.index.to_numpy()] = med.to_numpy()
        repeat = (np.bincount(rebuy["i"], minlength=n_items) / np.maximum(buyers, 1.0)).astype(np.float32)
        item_price = np.full(n_items, np.nan, dtype=np.float32)
        priced = frame[np.isfinite(frame["p"]) & (frame["p"] > 0)]
        if len(priced):
            mp = priced.groupby("i")["p"].median()
            item_price[mp.index.to_numpy()] = mp.to_numpy()

        # customers: purchase days, items, repeat propensity, store share, usual price, last day
        ud = frame.drop_duplicates(["u", "i", "d"])
        lines = np.bincount(ud["u"], minlength=n_users).astype(np.float32)
        n_items_u = np.bincount(ui["u"], minlength=n_users).astype(np.float32)
        days = frame.drop_duplicates(["u", "d"])
        user_days = np.bincount(days["u"], minlength=n_users).astype(np.float32)
        user_repeat = np.where(lines > 0, (lines - n_items_u) / np.maximum(lines, 1.0), np.nan)
        store_lines = np.bincount(frame["u"], weights=frame["s"].astype(float), minlength=n_users)
        all_lines = np.bincount(frame["u"], minlength=n_users)
        user_store = np.where(all_lines > 0, store_lines / np.maximum(all_lines, 1), np.nan)
        user_price = np.full(n_users, np.nan, dtype=np.float32)
        if len(priced):
            up = np.log(priced["p"]).groupby(priced["u"]).median()
            user_price[up.index.to_numpy()] = up.to_numpy()
        user_last = np.full(n_users, np.nan, dtype=np.float32)
        if len(frame):
            ul = frame.groupby("u")["d"].max()
            user_last[ul.index.to_numpy()] = ul.to_numpy()
        return cls(
            now_day=float(now_day),
            count=count,
            last_day=last_day,
            cat_count=cat_count,
            cat_last_day=cat_last_day,
            item_category=cats,
            item_buyers=buyers,
            item_trend=trend.astype(np.float32),
            item_cycle=cycle,
            item_repeat=repeat,
            item_price=item_price,
            user_days=user_days,
            user_items=n_items_u,
            user_repeat=user_repeat.astype(np.float32),
            user_store=user_store.astype(np.float32),
            user_price=user_price,
            user_last_day=user_last,
        )

    def trending(self, n: int) -> np.ndarray:
        """The ``n`` items most bought by distinct customers in the last ``TREND_DAYS``."""
        recent = self.item_trend * self.item_buyers
        ids, _ = top_n(recent[None, :].astype(np.float32), n)
        return ids[0]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(
            directory / "history.npz",
            now_day=np.array(self.now_day),
            **{a: getattr(self, a) for a in HISTORY_ARRAYS},
        )
        for m in HISTORY_MATRICES:
            sp.save_npz(directory / f"{m}.npz", getattr(self, m))

    @classmethod
    def load(cls, directory: Path) -> PurchaseHistory:
        with np.load(directory / "history.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        now_day = float(arrays.pop("now_day"))
        mats = {m: sp.load_npz(directory / f"{m}.npz").tocsr() for m in HISTORY_MATRICES}
        return cls(now_day=now_day, **mats, **arrays)


def _sparse(rows, cols, vals, shape) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (np.asarray(vals, dtype=np.float32), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
        shape=shape,
    )
    m.sum_duplicates()
    m.sort_indices()
    return m


def _span_share(frame: pd.DataFrame, now_day: float) -> float:
    """Share of the history's time span that the trend window covers (its expected buyer share)."""
    if frame.empty:
        return 1.0
    span = max(now_day - float(frame["d"].min()), TREND_DAYS)
    return TREND_DAYS / span


# ------------------------------------------------------------------------------------------
# features
# ------------------------------------------------------------------------------------------
USER_FEATURES = (
    "user_days",
    "user_items",
    "user_repeat",
    "user_explore",
    "user_store",
    "user_days_since_last",
)
ITEM_FEATURES = ("item_buyers_log", "item_trend", "item_cycle", "item_repeat", "price_vs_usual")
PAIR_FEATURES = (
    "bought_days",
    "days_since_bought",
    "due_ratio",
    "category_days",
    "days_since_category",
    "confidence",
)


def feature_names(components: Sequence[str]) -> list[str]:
    per_model = [f"{c}_{kind}" for c in components for kind in ("score", "rank")]
    return [*per_model, "blend_score", *USER_FEATURES, *ITEM_FEATURES, *PAIR_FEATURES]


def _ranks(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """0 for each row's best candidate, 1 for the next ... (invalid last)."""
    order = np.argsort(-np.where(valid, scores, -np.inf), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :].repeat(len(scores), 0), axis=1)
    return ranks.astype(np.float32)


def candidate_features(
    models: Mapping[str, Recommender],
    weights: Mapping[str, float],
    history: PurchaseHistory | None,
    userids: np.ndarray,
    user_items: sp.csr_matrix,
    candidates: np.ndarray,
    now_day: float | None = None,
    history_rows: np.ndarray | None = None,
    component_scores: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """(rows, candidates, features) float32, NaN where unknown (the boosted trees route NaN).

    ``history_rows``: each row's row in ``history`` when it differs from its model row ``userids``
    (the service folds a customer's live history in as model row -1 and builds a one-row history).
    ``component_scores``: each model's ``score_items`` at ``candidates`` when the caller has them
    already (the service gathers them from the scores it chose the candidates by)."""
    user_items = as_csr(user_items)
    n, m = candidates.shape
    valid = candidates >= 0
    cand = np.maximum(candidates, 0)
    cols: list[np.ndarray] = []
    blend = np.zeros((n, m), dtype=np.float32)
    for c, model in models.items():
        raw = (
            component_scores[c]
            if component_scores is not None
            else model.score_items(userids, user_items, candidates)
        )
        s = _normalise_candidates(raw, valid, model.score_floor())
        blend += np.float32(weights.get(c, 0.0)) * s
        cols += [s, _ranks(s, valid)]
    cols.append(blend)
    nan = np.full((n, m), np.nan, dtype=np.float32)
    known = None
    if history is not None:
        uid = np.asarray(userids if history_rows is None else history_rows, dtype=np.int64)
        known = (uid >= 0) & (uid < history.n_users)
    if history is None or not known.any():
        cols += [nan] * (len(USER_FEATURES) + 1)  # + item features below need history too
        cols += [nan] * (len(ITEM_FEATURES) - 1)
        cols += [nan] * (len(PAIR_FEATURES) - 1)
        cols.append(csr_values(user_items, candidates))
        return np.stack(cols, axis=2)
    day = history.now_day if now_day is None else now_day
    row = np.where(known, uid, 0)

    def per_user(values: np.ndarray) -> np.ndarray:
        v = np.where(known, values[row], np.nan).astype(np.float32)
        return np.broadcast_to(v[:, None], (n, m))

    h = history
    cols += [
        per_user(h.user_days),
        per_user(h.user_items),
        per_user(h.user_repeat),
        per_user(np.where(h.user_days > 0, h.user_items / np.maximum(h.user_days, 1.0), np.nan)),
        per_user(h.user_store),
        per_user(day - h.user_last_day),
    ]
    price = h.item_price[cand]
    cols += [
        np.log1p(h.item_buyers[cand]),
        h.item_trend[cand],
        h.item_cycle[cand],
        h.item_repeat[cand],
        np.log(np.where(price > 0, price, np.nan)) - per_user(h.user_price),
    ]
    hist_rows = np.where(known, uid, 0)
    identity = h.n_users == n and np.array_equal(hist_rows, np.arange(n))

    def rows_of(matrix: sp.csr_matrix) -> sp.csr_matrix:
        return matrix if identity else matrix[hist_rows]  # a one-customer history: no row copy

    counts = np.where(known[:, None], csr_values(rows_of(h.count), candidates), 0.0)
    last = np.where(known[:, None], csr_values(rows_of(h.last_day), candidates), 0.0)
    since = np.where(last > 0, day - (last - 1.0), np.nan)
    cycle = h.item_cycle[cand]
    cat = h.item_category[cand]
    cat_count = np.where(known[:, None], csr_values(rows_of(h.cat_count), cat), 0.0)
    cat_last = np.where(known[:, None], csr_values(rows_of(h.cat_last_day), cat), 0.0)
    cols += [
        counts,
        since,
        since / np.where(cycle > 0, cycle, np.nan),
        cat_count,
        np.where(cat_last > 0, day - (cat_last - 1.0), np.nan),
        csr_values(user_items, candidates),
    ]
    out = np.stack([np.asarray(c, dtype=np.float32) for c in cols], axis=2)
    out[~valid] = np.nan
    return out


# ------------------------------------------------------------------------------------------
# the component
# ------------------------------------------------------------------------------------------
class RankerRecommender(Recommender):
    """Every component proposes, a gradient-boosted ranker orders the union per customer.

    Fit the components with ``fit`` (or adopt fitted ones with ``use_fitted``), give it the
    customers' ``PurchaseHistory`` with ``use_history``, then learn the ranker with ``fit_ranker``
    on a validation window inside the training period. ``kind`` is ``lightgbm`` (LambdaMART,
    lambdarank objective over each customer's candidates) or ``hgb`` (scikit-learn's
    HistGradientBoosting, pointwise: bought or not).
    """

    name = "ranker"

    def __init__(
        self,
        components: Sequence[str] = ("repeat_buy", "popularity", "item_knn", "als", "ease"),
        component_params: Mapping[str, Mapping[str, Any]] | None = None,
        weights: Mapping[str, float] | None = None,
        kind: str = "lightgbm",
        candidates_per_model: int = 50,
        trending_candidates: int = 20,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        max_train_users: int = 10_000,
        max_owned_fetch: int = 200,
        durable_repeat_share: float = 0.0,
        durable_min_buyers: int = 10,
        random_state: int = 42,
    ) -> None:
        if kind not in RANKER_KINDS:
            raise ValueError(f"kind must be one of {RANKER_KINDS}, got {kind!r}")
        self.components = tuple(components)
        self.component_params = {k: dict(v) for k, v in (component_params or {}).items()}
        self.weights = dict(weights) if weights else {c: 1.0 for c in self.components}
        self.kind = kind
        self.candidates_per_model = candidates_per_model
        self.trending_candidates = trending_candidates
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_train_users = max_train_users
        self.max_owned_fetch = max_owned_fetch
        self.durable_repeat_share = durable_repeat_share
        self.durable_min_buyers = durable_min_buyers
        self.random_state = random_state
        self.models_: dict[str, Recommender] = {}
        self.history_: PurchaseHistory | None = None
        self.booster_: Any = None

    def get_params(self) -> dict[str, Any]:
        return {
            "components": list(self.components),
            "component_params": self.component_params,
            "weights": self.weights,
            "kind": self.kind,
            "candidates_per_model": self.candidates_per_model,
            "trending_candidates": self.trending_candidates,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "max_train_users": self.max_train_users,
            "max_owned_fetch": self.max_owned_fetch,
            "durable_repeat_share": self.durable_repeat_share,
            "durable_min_buyers": self.durable_min_buyers,
            "random_state": self.random_state,
        }

    @property
    def features(self) -> list[str]:
        return feature_names(self.components)

    # --- components -------------------------------------------------------------------------
    def fit(self, user_items: sp.csr_matrix) -> RankerRecommender:
        known = Recommender.registered()
        user_items = as_csr(user_items)
        self.n_users_, self.n_items_ = user_items.shape
        self.models_ = {
            c: known[c](**self.component_params.get(c, {})).fit(user_items) for c in self.components
        }
        return self

    def use_fitted(self, models: Mapping[str, Recommender]) -> RankerRecommender:
        missing = set(self.components) - set(models)
        if missing:
            raise ValueError(f"missing fitted components: {sorted(missing)}")
        self.models_ = {c: models[c] for c in self.components}
        first = self.models_[self.components[0]]
        self.n_users_, self.n_items_ = first.n_users_, first.n_items_
        return self

    def use_history(self, history: PurchaseHistory | None) -> RankerRecommender:
        """Customer facts at the time the components were fitted (rows = their user ids)."""
        self.history_ = history
        return self

    # --- stage one ---------------------------------------------------------------------------
    def candidates(
        self,
        userids: np.ndarray,
        user_items: sp.csr_matrix,
        n: int | None = None,
        items: np.ndarray | None = None,
    ) -> np.ndarray:
        n = n or self.candidates_per_model
        userids = np.atleast_1d(np.asarray(userids, dtype=np.int64))
        lists = [m.candidates(userids, user_items, n, items) for m in self.models_.values()]
        if self.history_ is not None and self.trending_candidates:
            trend = self.history_.trending(self.trending_candidates)
            if items is not None:
                trend = trend[np.isin(trend, items)]
            lists.append(np.broadcast_to(trend, (len(userids), len(trend))))
        return merge_candidates(*lists)

    def pool(
        self,
        userids: np.ndarray,
        user_items: sp.csr_matrix,
        filter_already_liked_items: bool = False,
        items: np.ndarray | None = None,
    ) -> np.ndarray:
        """The candidates the ranker learns from and ranks: ``candidates``, without the items the
        customer already has when those are filtered out (mode ``new``), each component's top
        ``candidates_per_model`` among what is left. Training, validation and serving all go
        through here, so the features (scores normalised over the pool, ranks in it, the blend)
        are computed over the same set the ranker is asked to order."""
        userids = np.atleast_1d(np.asarray(userids, dtype=np.int64))
        user_items = as_csr(user_items)
        if not filter_already_liked_items:
            return self.candidates(userids, user_items, items=items)
        n = self.candidates_per_model
        owned = np.diff(user_items.indptr)
        # each component over-fetched by the customer's history (capped), its owned items dropped,
        # its top n unowned kept: a heavy buyer's pool is not emptied by what they already have
        extra = int(min(owned.max(initial=0), self.max_owned_fetch))
        lists = []
        for m in self.models_.values():
            ids = m.candidates(userids, user_items, n + extra, items)
            ids = np.where(csr_values(user_items, ids) > 0, -1, ids)
            lists.append(merge_in_order(ids, n))
        if self.history_ is not None and self.trending_candidates:
            trend = self.history_.trending(self.trending_candidates)
            if items is not None:
                trend = trend[np.isin(trend, items)]
            trend = np.broadcast_to(trend, (len(userids), len(trend)))
            lists.append(np.where(csr_values(user_items, trend) > 0, -1, trend))
        return merge_candidates(*lists)

    def recommend(
        self,
        userids: np.ndarray,
        user_items: sp.csr_matrix,
        N: int = 20,
        filter_already_liked_items: bool = True,
        items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Filtering already-liked items: ranks the filtered ``pool`` (what the ranker learned on),
        not the full candidates with the owned ones removed after scoring; otherwise as any model."""
        if not filter_already_liked_items:
            return super().recommend(userids, user_items, N, False, items)
        userids = np.atleast_1d(np.asarray(userids, dtype=np.int64))
        user_items = as_csr(user_items)
        cand = self.pool(userids, user_items, True, items)
        return self.rank_candidates(userids, user_items, cand, N, True, items)

    # --- stage two ---------------------------------------------------------------------------
    def features_for(
        self,
        userids: np.ndarray,
        user_items: sp.csr_matrix,
        candidates: np.ndarray,
        history_rows: np.ndarray | None = None,
        component_scores: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        return candidate_features(
            self.models_,
            self.weights,
            self.history_,
            np.atleast_1d(userids),
            user_items,
            candidates,
            history_rows=history_rows,
            component_scores=component_scores,
        )

    def _predict(self, x: np.ndarray) -> np.ndarray:
        flat = x.reshape(-1, x.shape[-1])
        if self.kind == "lightgbm":
            out = self.booster_.predict(flat, num_threads=1)
        else:
            with threadpool_limits(limits=1, user_api="openmp"):
                out = self.booster_.predict_proba(flat)[:, 1]
        return np.asarray(out, dtype=np.float32).reshape(x.shape[:2])

    def score_items(
        self,
        userids: np.ndarray,
        user_items: sp.csr_matrix,
        candidates: np.ndarray,
        history_rows: np.ndarray | None = None,
        component_scores: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        userids = np.atleast_1d(np.asarray(userids, dtype=np.int64))
        if candidates.size == 0:
            return np.zeros(candidates.shape, dtype=np.float32)
        x = self.features_for(userids, as_csr(user_items), candidates, history_rows, component_scores)
        if self.booster_ is None:  # untrained: the blend's own score
            scores = x[..., 2 * len(self.components)]
        else:
            scores = self._predict(x)
        return np.where((candidates >= 0) & ~self._owned_durable(x), scores, -np.inf).astype(np.float32)

    def _owned_durable(self, x: np.ndarray) -> np.ndarray:
        """Items the customer bought that nobody ever buys twice (durables, learned from the
        history: at least ``durable_min_buyers`` buyers, a re-buy share of at most
        ``durable_repeat_share``): a next purchase never ranks them, so neither does the ranker."""
        names = self.features
        owned = np.nan_to_num(x[..., names.index("bought_days")]) > 0
        repeat = x[..., names.index("item_repeat")]
        buyers = np.expm1(np.nan_to_num(x[..., names.index("item_buyers_log")]))
        return owned & (repeat <= self.durable_repeat_share) & (buyers >= self.durable_min_buyers - 1e-3)

    def _score(self, userids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Dense scores: the ranker's at the candidates, below all of them elsewhere."""
        cand = self.candidates(userids, user_items)
        s = self.score_items(userids, user_items, cand)
        finite = np.isfinite(s)
        low = np.where(finite.any(axis=1), np.where(finite, s, np.inf).min(axis=1), 0.0) - 1.0
        out = np.repeat(low[:, None].astype(np.float32), self.n_items_, axis=1)
        r, c = np.nonzero(cand >= 0)
        out[r, cand[r, c]] = s[r, c]
        return out

    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        out = np.zeros((len(itemids), self.n_items_), dtype=np.float32)
        for c, m in self.models_.items():
            w = self.weights.get(c, 0.0)
            if w and c != "popularity" and c != "repeat_buy":
                out += np.float32(w) * np.asarray(m._item_scores(itemids), dtype=np.float32)
        return out

    # --- learning ------------------------------------------------------------------------------
    def training_set(
        self,
        userids: np.ndarray,
        user_items: sp.csr_matrix,
        truth: Sequence[set[int]],
        filter_already_liked_items: bool,
        history_rows: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(features (rows, F), label, group sizes, candidate ids per user) over users whose
        candidates hold at least one of their truth items (others teach a ranker nothing).
        ``history_rows``: their rows in the history when not their model rows (folded-in: -1)."""
        user_items = as_csr(user_items)
        xs, ys, groups = [], [], []
        for start in range(0, len(userids), 2_000):
            u = np.asarray(userids[start : start + 2_000], dtype=np.int64)
            hrows = None if history_rows is None else np.asarray(history_rows[start : start + 2_000])
            rows = user_items[start : start + 2_000]
            cand = self.pool(u, rows, filter_already_liked_items)
            label = _labels(cand, truth[start : start + 2_000])
            keep = label.any(axis=1)
            if not keep.any():
                continue
            x = self.features_for(u[keep], rows[keep], cand[keep], None if hrows is None else hrows[keep])
            valid = cand[keep] >= 0
            xs.append(x[valid])
            ys.append(label[keep][valid])
            groups.append(valid.sum(axis=1))
        if not xs:
            return (
                np.zeros((0, len(self.features)), np.float32),
                np.zeros(0),
                np.zeros(0, np.int64),
                np.zeros(0),
            )
        return np.vstack(xs), np.concatenate(ys).astype(np.float32), np.concatenate(groups), np.zeros(0)

    def fit_ranker(
        self,
        userids: np.ndarray,
        user_items: sp.csr_matrix,
        truth: Sequence[set[int]],
        filter_already_liked_items: bool = False,
        history_rows: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Learn the second stage from customers' next purchases (a validation window).
        ``history_rows``: their rows in the history when not their model rows (folded-in: -1)."""
        userids = np.asarray(userids, dtype=np.int64)
        user_items = as_csr(user_items)
        if len(userids) > self.max_train_users:
            pick = np.sort(
                np.random.default_rng(self.random_state).choice(
                    len(userids), self.max_train_users, replace=False
                )
            )
            userids, user_items, truth = userids[pick], user_items[pick], [truth[i] for i in pick]
            history_rows = None if history_rows is None else np.asarray(history_rows)[pick]
        x, y, groups, _ = self.training_set(
            userids, user_items, truth, filter_already_liked_items, history_rows
        )
        info = {"train_users": int(len(groups)), "train_rows": int(len(y)), "train_positives": int(y.sum())}
        if len(groups) < 5 or y.sum() == 0:
            self.booster_ = None
            info["why"] = "too few customers with a next purchase among their candidates"
            return info
        if self.kind == "lightgbm":
            self.booster_ = fit_lambdamart(
                x,
                y,
                groups,
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                num_leaves=self.num_leaves,
                min_child_samples=self.min_child_samples,
                seed=self.random_state,
                lambdarank_truncation_level=40,
                deterministic=True,
                force_row_wise=True,
            )
        else:
            from sklearn.ensemble import HistGradientBoostingClassifier

            model = HistGradientBoostingClassifier(
                max_iter=self.n_estimators,
                learning_rate=self.learning_rate,
                max_leaf_nodes=self.num_leaves,
                min_samples_leaf=self.min_child_samples,
                random_state=self.random_state,
                early_stopping=False,
            )
            empty = np.isnan(x).all(axis=0)  # sklearn's binning fails on an all-missing column
            # one OpenMP thread, as LightGBM: on 2 shared cores the second one mostly waits (mode
            # new's 113k rows: 253 s with 2 threads under load, 33 s with 1 on a quieter machine)
            with threadpool_limits(limits=1, user_api="openmp"):
                model.fit(np.where(empty[None, :], 0.0, x), y)
            self.booster_ = model
        return info

    # --- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        d = super().save(directory)
        for c, m in self.models_.items():
            m.save(d / c)
        if self.history_ is not None:
            self.history_.save(d / "history")
        if self.booster_ is not None:
            if self.kind == "lightgbm":
                (d / "ranker.txt").write_text(self.booster_.model_to_string())
            else:
                raise ValueError("only the lightgbm ranker is saved (no pickle in bundles)")
        return d

    def _after_load(self, directory: Path) -> None:
        self.models_ = {c: Recommender.load(directory / c) for c in self.components}
        self.history_ = (
            PurchaseHistory.load(directory / "history") if (directory / "history").exists() else None
        )
        self.booster_ = None
        if (directory / "ranker.txt").exists():
            import lightgbm as lgb

            self.booster_ = lgb.Booster(model_str=(directory / "ranker.txt").read_text())


def _labels(candidates: np.ndarray, truth: Sequence[set[int]]) -> np.ndarray:
    """1 where the candidate is one of that row's truth items (vectorised over the block)."""
    n = len(candidates)
    if n == 0:
        return np.zeros(candidates.shape, dtype=bool)
    t_rows = np.repeat(np.arange(n), [len(t) for t in truth])
    t_items = np.fromiter((i for t in truth for i in t), dtype=np.int64, count=len(t_rows))
    m = sp.csr_matrix(
        (np.ones(len(t_rows), np.float32), (t_rows, t_items)),
        shape=(n, int(max(candidates.max(), t_items.max(initial=0))) + 1),
    )
    return csr_values(m, candidates) > 0


def mean_metrics(ids: np.ndarray, truth: Sequence[set[int]], k: int) -> dict[str, float]:
    lists = [[int(x) for x in row if x >= 0] for row in ids]
    recall = float(np.mean([recall_at_k(r, t, k) for r, t in zip(lists, truth, strict=True)]))
    ndcg = float(np.mean([binary_ndcg_at_k(r, t, k) for r, t in zip(lists, truth, strict=True)]))
    return {f"recall@{k}": recall, f"ndcg@{k}": ndcg}


def dumps(info: Mapping[str, Any]) -> str:
    return json.dumps(info, default=float)
