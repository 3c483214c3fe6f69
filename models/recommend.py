"""Recommendations with business rules and reasons, shared by the service and batch jobs.

The blended recommender proposes; the rules here dispose: nothing out of stock in the shopper's
store or unavailable in their channel, nothing returned, nothing bought recently unless it is a
replenishment item whose cycle is due, and at most a few items per category.

The catalog may be the service's live one: the trained items first (``n_trained``, what the models
know), then products added since training, which only content similarity can recommend until the
next training; stock, prices and discontinued products are always the live ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models import artifacts as A
from models.catalog import Catalog
from models.columns import as_str
from models.config import Settings
from models.copurchase import CoPurchase
from models.recommenders.ann import IVFScorer
from models.recommenders.base import Recommender
from models.recommenders.candidates import csr_values
from models.trending import Trending

CANDIDATES_PER_SLOT = 25
"""Candidates scored per slot shown: enough left after the per-category cap and the exclusions."""


@dataclass
class Interaction:
    """One past event of a customer, as the rules need it."""

    item: int
    type: str
    timestamp: pd.Timestamp
    channel: str
    weight: float = 1.0
    store_id: str | None = None


@dataclass
class Recommendation:
    item: int
    score: float
    reason_code: str
    reason: str


@dataclass
class Context:
    channel: str = "web"
    store_id: str | None = None
    now: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))


@dataclass
class RecommendationEngine:
    catalog: Catalog
    model: Recommender
    user_items: sp.csr_matrix
    user_index: dict[str, int]
    copurchase: CoPurchase
    trending: Trending
    recent_days: int = 30
    max_per_category: int = 3
    two_stage_min_cells: int = 50_000_000
    """From this many customers x items per call on, only candidates are scored (see ``rank``)."""
    candidates_per_model: int = 75

    @classmethod
    def load(
        cls, bundle_dir: Path, catalog: Catalog, settings: Settings | None = None
    ) -> RecommendationEngine:
        import json

        settings = settings or Settings()
        bundle_dir = Path(bundle_dir)
        user_ids = json.loads((bundle_dir / A.USER_IDS).read_text())
        return cls(
            catalog=catalog,
            model=Recommender.load(bundle_dir / A.BLEND_DIR),
            user_items=sp.load_npz(bundle_dir / A.USER_ITEMS).tocsr(),
            user_index={u: i for i, u in enumerate(user_ids)},
            copurchase=CoPurchase.load(bundle_dir / A.COPURCHASE_DIR),
            trending=Trending.load(bundle_dir / A.TRENDING),
            two_stage_min_cells=settings.recs_two_stage_min_cells,
            candidates_per_model=settings.recs_candidates_per_model,
        )

    def approximate_first_stage(self, scorer_factory: Callable[[], IVFScorer]) -> bool:
        """Take factor-model candidates from an ANN index (batch jobs over millions of customers).

        Returns whether the model has factor components to apply it to.
        """
        use_ann = getattr(self.model, "use_ann", None)
        if use_ann is None:
            return False
        use_ann(scorer_factory)
        return True

    def rank(
        self, userids: np.ndarray, rows: sp.csr_matrix, n: int, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The model's top ``n`` allowed items per row.

        Small blocks score every item: one request at 100k items is ~3 ms that way, faster than
        the candidate bookkeeping. Large blocks (a nightly job's partition) rank in two stages:
        each blend component proposes its best ``candidates_per_model`` (ALS by exact or IVF inner
        product, item-kNN by the neighbours of the history, ...) and only that union is scored,
        which keeps a million customers x 100k items in minutes instead of an hour.
        """
        if len(np.atleast_1d(userids)) * len(self.catalog) < self.two_stage_min_cells:
            return self.model.recommend(userids, rows, N=n, filter_already_liked_items=False, items=allowed)
        candidates = self.model.candidates(userids, rows, self.candidates_per_model, items=allowed)
        return self.model.rank_candidates(
            userids, rows, candidates, N=n, filter_already_liked_items=False, items=allowed
        )

    @property
    def n_trained(self) -> int:
        """Items the models were trained on: the first ``n_trained`` of the (live) catalog."""
        return int(self.user_items.shape[1])

    def with_catalog(self, catalog: Catalog) -> RecommendationEngine:
        """This engine over a live catalog (same models; live stock, prices, products)."""
        return replace(self, catalog=catalog)

    # --- rules --------------------------------------------------------------------------------
    def eligible(self, ctx: Context) -> np.ndarray:
        mask = self.catalog.available(ctx.channel).copy()
        if ctx.store_id:
            mask &= self.catalog.in_stock(ctx.store_id)
        return mask

    def _excluded(self, history: list[Interaction], ctx: Context) -> np.ndarray:
        """Items the rules forbid for this customer: returned, or bought recently and not due."""
        excluded = np.zeros(len(self.catalog), dtype=bool)
        if not history:
            return excluded
        items = np.array([ev.item for ev in history], dtype=np.int64)
        types = np.array([ev.type for ev in history], dtype=object)
        ages = np.array(
            [(ctx.now - ev.timestamp).total_seconds() / 86400.0 for ev in history], dtype=np.float64
        )
        excluded[items[self.excluded_events(items, types, ages)]] = True
        return excluded

    def excluded_events(self, items: np.ndarray, types: np.ndarray, age_days: np.ndarray) -> np.ndarray:
        """Per event: does it forbid its item? Vectorised, so batch jobs apply the same rule to millions."""
        cycle = self.catalog.replenishment_days[items]
        no_cycle = np.isnan(cycle)
        due = ~no_cycle & (age_days >= 0.8 * np.where(no_cycle, 0.0, cycle))
        window = np.maximum(self.recent_days, np.where(no_cycle, 0.0, cycle))
        recent_purchase = (types == "purchase") & (age_days <= window) & ~due
        return (types == "return") | recent_purchase

    def _diversify(self, items: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        cats = self.catalog.column["top_category"]
        taken: dict[str, int] = {}
        keep = []
        for pos, item in enumerate(items):
            c = cats[item]
            if taken.get(c, 0) < self.max_per_category:
                taken[c] = taken.get(c, 0) + 1
                keep.append(pos)
            if len(keep) == k:
                break
        return items[keep], scores[keep]

    def diversify_batch(self, items: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``_diversify`` for a block of ranked lists at once ((n, m), -1 padded) -> (n, k), -1 padded.

        An item is kept when fewer than ``max_per_category`` items of its category rank above it in
        its row, then the first ``k`` kept per row remain: the same lists ``_diversify`` gives.
        """
        n, m = items.shape
        out_ids = np.full((n, k), -1, dtype=np.int32)
        out_scores = np.full((n, k), -np.inf, dtype=np.float32)
        if n == 0 or m == 0:
            return out_ids, out_scores
        codes, _ = pd.factorize(self.catalog.products["top_category"])
        valid = items >= 0
        cat = np.where(valid, codes[np.where(valid, items, 0)], -1).astype(np.int64)
        key = (np.arange(n, dtype=np.int64)[:, None] * (codes.max() + 2) + cat + 1).ravel()
        order = np.argsort(key, kind="stable")  # by (row, category), positions in rank order
        sorted_key = key[order]
        starts = np.r_[0, np.flatnonzero(sorted_key[1:] != sorted_key[:-1]) + 1]
        group_start = np.repeat(starts, np.diff(np.r_[starts, len(sorted_key)]))
        occurrence = np.empty(n * m, dtype=np.int64)
        occurrence[order] = np.arange(n * m) - group_start
        keep = valid & (occurrence.reshape(n, m) < self.max_per_category)
        rank = np.cumsum(keep, axis=1) - 1
        keep &= rank < k
        rows, cols = np.nonzero(keep)
        out_ids[rows, rank[rows, cols]] = items[rows, cols]
        out_scores[rows, rank[rows, cols]] = scores[rows, cols]
        return out_ids, out_scores

    # --- public -------------------------------------------------------------------------------
    def history_row(
        self, customer_id: str | None, extra: list[Interaction], weights: dict[str, float]
    ) -> sp.csr_matrix:
        """The customer's trained history plus events received since training (no retraining)."""
        row = sp.csr_matrix((1, self.n_trained), dtype=np.float32)
        if customer_id is not None and customer_id in self.user_index:
            row = self.user_items[self.user_index[customer_id]].astype(np.float32)
        if extra:
            cols = np.array([e.item for e in extra])
            vals = np.array([weights.get(e.type, 0.0) for e in extra], dtype=np.float32)
            ok = (vals > 0) & (
                cols < self.n_trained
            )  # products added since training are unknown to the models
            add = sp.csr_matrix((vals[ok], (np.zeros(ok.sum(), dtype=np.int64), cols[ok])), shape=row.shape)
            row = (row + add).tocsr()
        return row

    def for_customer(
        self, row: sp.csr_matrix, history: list[Interaction], ctx: Context, k: int = 20
    ) -> tuple[list[Recommendation], bool]:
        """Personalised list; returns (recommendations, cold_start)."""
        if row.nnz == 0:
            return self.trending_list(ctx, k, cold_start=True), True
        allowed = np.flatnonzero((self.eligible(ctx) & ~self._excluded(history, ctx))[: self.n_trained])
        ids, scores = self.rank(np.array([-1]), row, min(len(allowed), CANDIDATES_PER_SLOT * k), allowed)
        keep = ids[0] >= 0
        items, scores = self._diversify(ids[0][keep], scores[0][keep], k)
        recent = sorted(
            (e for e in history if e.type in ("purchase", "add_to_cart", "view")),
            key=lambda e: e.timestamp,
            reverse=True,
        )
        sources = self._complement_sources(recent)
        return [
            self._explain(int(i), float(s), sources, ctx) for i, s in zip(items, scores, strict=True)
        ], False

    def for_customers(
        self, userids: np.ndarray, rows: sp.csr_matrix, excluded: sp.csr_matrix, ctx: Context, k: int = 20
    ) -> tuple[np.ndarray, np.ndarray]:
        """``for_customer`` for a block of customers at once (batch jobs): (n, k) ids and scores, -1 padded.

        ``userids`` are model rows (-1 folds the history row in), ``excluded`` a customers x items
        mask of what the rules forbid each one. Cold-start rows come back empty: the caller decides
        whether they get ``trending_list``. Over-fetching by each block's largest exclusion count
        keeps the result equal to filtering the candidates first.
        """
        n = len(userids)
        allowed = np.flatnonzero(self.eligible(ctx)[: self.n_trained])
        if n == 0 or allowed.size == 0:
            return np.full((n, k), -1, np.int32), np.full((n, k), -np.inf, np.float32)
        excluded = sp.csr_matrix(excluded, dtype=np.float32)
        extra = int(np.diff(excluded.indptr).max()) if excluded.nnz else 0
        # Only the first 4k allowed items per row reach diversification, so 4k + the block's largest
        # exclusion count is enough to rank: the result equals filtering the candidates first.
        ids, scores = self.rank(
            np.asarray(userids, dtype=np.int64), rows, min(len(allowed), 4 * k + extra), allowed
        )
        if excluded.nnz:
            ids = np.where(csr_values(excluded, ids) > 0, -1, ids)
        valid = (ids >= 0) & (np.diff(rows.indptr)[:, None] > 0)
        ids = np.where(valid & (np.cumsum(valid, axis=1) <= 4 * k), ids, -1)
        # Rank order survives the holes: diversify_batch skips -1 and compacts.
        return self.diversify_batch(ids, scores, k)

    def _complement_sources(self, recent: list[Interaction]) -> dict[int, Interaction]:
        """Item -> the most recent interaction it complements (one co-purchase lookup per event)."""
        sources: dict[int, Interaction] = {}
        for ev in recent[:20]:
            if ev.item >= self.n_trained:
                continue
            for comp in self.copurchase.bought_together(ev.item, 50)[0].tolist():
                sources.setdefault(comp, ev)
        return sources

    def _explain(
        self, item: int, score: float, sources: dict[int, Interaction], ctx: Context
    ) -> Recommendation:
        ev = sources.get(item)
        if ev is not None:
            when = _ago(ctx.now - ev.timestamp)
            verb = {"purchase": "bought", "add_to_cart": "added to cart", "view": "viewed"}[ev.type]
            where = "in store" if ev.channel == "store" else "online"
            title = self.catalog.column["title"][ev.item]
            return Recommendation(
                item, score, "complements_recent", f"Goes with {title} you {verb} {where} {when}"
            )
        cat = self.catalog.column["top_category"][item]
        return Recommendation(item, score, "personalised", f"Picked for you from your interest in {cat}")

    def trending_list(self, ctx: Context, k: int, cold_start: bool = False) -> list[Recommendation]:
        items, scores, scope = self.trending.top(ctx.channel, ctx.store_id)
        eligible = self.eligible(ctx)
        keep = eligible[items] if items.size else np.zeros(0, bool)
        items, scores = self._diversify(items[keep], scores[keep], k)
        where = (
            f"store {ctx.store_id}"
            if scope.startswith("store:")
            else ctx.channel
            if scope.startswith("channel:")
            else "everywhere"
        )
        code = "cold_start_trending" if cold_start else "trending"
        return [
            Recommendation(int(i), float(s), code, f"Trending {where} this week")
            for i, s in zip(items, scores, strict=True)
        ]

    def similar(
        self, item: int, ctx: Context, k: int, content: np.ndarray | None = None
    ) -> list[Recommendation]:
        """Behavioural neighbours first, then content neighbours (reach new products with no behaviour)."""
        eligible = self.eligible(ctx)
        out: dict[int, Recommendation] = {}
        ids, scores = (
            self.model.similar_items(np.array([item]), N=4 * k)
            if item < self.n_trained
            else (np.empty((1, 0), np.int64), np.empty((1, 0)))
        )
        for i, s in zip(ids[0], scores[0], strict=True):
            if i >= 0 and eligible[i] and np.isfinite(s) and s > 0:
                out.setdefault(
                    int(i),
                    Recommendation(
                        int(i), float(s), "similar_behaviour", "Shoppers who liked this also liked"
                    ),
                )
        if content is not None:
            for i in content:
                if i >= 0 and i != item and eligible[i]:
                    out.setdefault(int(i), Recommendation(int(i), 0.0, "similar_content", "Similar product"))
        return list(out.values())[:k]

    def bought_together(self, item: int, ctx: Context, k: int) -> list[Recommendation]:
        if item >= self.n_trained:  # added since training: nobody has bought it with anything yet
            return []
        ids, scores = self.copurchase.bought_together(item, 50)
        eligible = self.eligible(ctx)
        return [
            Recommendation(int(i), float(s), "bought_together", "Frequently bought together")
            for i, s in zip(ids, scores, strict=True)
            if eligible[i]
        ][:k]

    def complete_cart(self, items: np.ndarray, ctx: Context, k: int) -> list[Recommendation]:
        items = items[items < self.n_trained]
        ids, scores = self.copurchase.for_basket(items, n=4 * k)
        eligible = self.eligible(ctx)
        return [
            Recommendation(int(i), float(s), "completes_cart", "Completes your basket")
            for i, s in zip(ids, scores, strict=True)
            if eligible[i]
        ][:k]


def _ago(delta: pd.Timedelta) -> str:
    days = max(int(delta.total_seconds() // 86400), 0)
    if days == 0:
        return "today"
    if days < 14:
        return f"{days} day{'s' if days > 1 else ''} ago"
    if days < 60:
        return f"{days // 7} weeks ago"
    return f"{days // 30} months ago"


HISTORY_TYPES = ("purchase", "return", "add_to_cart", "view")


def history_table(events: pd.DataFrame, catalog: Catalog, per_customer: int = 100) -> pd.DataFrame:
    """Each identified customer's latest interactions (any channel), for rules and the timeline.

    The latest rows are chosen on two narrow columns (timestamp, an integer code per customer) and
    each output column is then taken once at those rows, kept in Arrow: at 20M events, sorting and
    grouping the five columns and turning them into Python objects was the training's memory peak.
    """
    rows = np.flatnonzero((events["customer_id"].notna() & events["type"].isin(HISTORY_TYPES)).to_numpy())
    customer_codes, _ = pd.factorize(events["customer_id"].array[rows])
    narrow = pd.DataFrame({"timestamp": events["timestamp"].array[rows], "customer": customer_codes})
    latest = narrow.sort_values("timestamp", ascending=False).groupby("customer").head(per_customer)
    taken = rows[latest.index.to_numpy()]

    def column(name: str) -> pd.Series:
        return events[name].iloc[taken]

    return pd.DataFrame(
        {
            "customer_id": as_str(column("customer_id")).array,
            "item": catalog.indices(column("sku")),
            "type": as_str(column("type")).array,
            "timestamp": pd.to_datetime(column("timestamp"), utc=True).array,
            "channel": as_str(column("channel")).array,
        }
    )


def load_history(path: Path) -> dict[str, list[Interaction]]:
    table = pd.read_parquet(path)
    out: dict[str, list[Interaction]] = {}
    ts = pd.to_datetime(table["timestamp"], utc=True)
    for cid, item, etype, t, ch in zip(
        table["customer_id"], table["item"], table["type"], ts, table["channel"], strict=True
    ):
        out.setdefault(cid, []).append(Interaction(int(item), etype, t, ch))
    return out
