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
from models.arrays import load_sparse_npz
from models.catalog import Catalog
from models.config import Settings
from models.copurchase import CoPurchase
from models.history import Interaction
from models.product_knowledge import ProductKnowledge
from models.recommenders.ann import IVFScorer
from models.recommenders.base import Recommender
from models.recommenders.candidates import csr_values
from models.recs_ranker import CustomerPurchases, ServedRanker
from models.similarity import ContentSpace, behaviour_scores, blend_similarity
from models.trending import Trending

CANDIDATES_PER_SLOT = 25
PIN_SLOTS = (1, 3, 5, 7)
MAX_COMPLEMENT_PINS = 2
MAX_DUE_PINS = 2
"""Positions in a customer's list kept for complements of what they just bought and due restocks."""
"""Candidates scored per slot shown: enough left after the per-category cap and the exclusions."""


@dataclass
class Recommendation:
    item: int
    score: float
    reason_code: str
    reason: str


@dataclass
class Context:
    """Where and when a list is asked for. ``now`` comes from the caller's clock (the service's
    injected one, a batch job's run time), never from the wall clock here."""

    now: pd.Timestamp
    channel: str = "web"
    store_id: str | None = None
    hidden: np.ndarray | None = None
    """Items this list must never show (member-only above the shopper's tier, a surface's hide rules)."""
    customer_id: str | None = None
    """The resolved customer the list is for: their own purchase cycles apply (None: the product's)."""


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
    max_per_brand: int = 4
    """Similar items: at most this many of one brand in the list (the same model in five colours
    is one suggestion, not five)."""
    two_stage_min_cells: int = 50_000_000
    """From this many customers x items per call on, only candidates are scored (see ``rank``)."""
    candidates_per_model: int = 75
    knowledge: ProductKnowledge | None = None
    """Durable vs consumable per category and purchase cycles (None: the catalog's declared cycles)."""
    react_days: int = 14
    """Purchases this recent put their complements into the customer's list (slots ``PIN_SLOTS``)."""
    complement_categories: int = 3
    """Complement categories per category, the bought-together fallback after the item's own pairs."""
    cache: dict = field(default_factory=dict, repr=False)
    """Derived tables shared by the live copies of this engine (``with_catalog`` keeps the dict)."""
    ranker: ServedRanker | None = None
    """The learned ranker (component ``recs_ranker``) when the bundle kept one: it orders each
    customer's personal list instead of the blend (``for_customer``)."""

    def __post_init__(self) -> None:
        categories = self.catalog.column["category"]
        cached = self.cache.get("item_kinds")
        if cached is None or cached[0] is not categories:
            knowledge = self.knowledge or ProductKnowledge.declared_only(self.catalog.products)
            self.cache["item_kinds"] = (categories, *knowledge.item_arrays(categories, self.catalog.skus))
        _, self.cycle_days, self.durable = self.cache["item_kinds"]

    def person_cycles(self) -> pd.Series:
        """(customer_id, item) -> the customer's own cycle for a consumable they bought 3+ times."""
        cached = self.cache.get("person_cycles")
        if cached is None:
            people = self.knowledge.people if self.knowledge is not None else None
            if people is None or people.empty:
                cached = pd.Series(dtype=float)
            else:  # vectorised: a million people's cycles load in a second, not a Python loop
                items = self.catalog.indices(people["sku"].astype(str))
                keep = (items >= 0) & ~self.durable[np.maximum(items, 0)]
                index = pd.MultiIndex.from_arrays(
                    [people["customer_id"].astype(str).to_numpy(dtype=object)[keep], items[keep]]
                )
                cached = pd.Series(people["cycle_days"].to_numpy(dtype=float)[keep], index=index).sort_index()
            self.cache["person_cycles"] = cached
        return cached

    def pair_cycles(self, customer_ids: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Per (customer, item) pair its purchase cycle: the customer's own where learned, else the
        product's (else its category's; NaN for durables). Vectorised for batch jobs."""
        items = np.asarray(items, dtype=np.int64)
        cycles = self.cycle_days[items].astype(np.float64)
        own = self.person_cycles()
        if len(own) and len(items):
            keys = pd.MultiIndex.from_arrays([np.asarray(customer_ids, dtype=object).astype(str), items])
            found = own.reindex(keys).to_numpy(dtype=np.float64)
            cycles = np.where(np.isnan(found), cycles, found)
        return cycles

    def cycles_for(self, customer_id: str | None, items: np.ndarray) -> np.ndarray:
        """``pair_cycles`` for one customer (None: the products' own cycles)."""
        items = np.asarray(items, dtype=np.int64)
        if customer_id is None:
            return self.cycle_days[items].astype(np.float64)
        return self.pair_cycles(np.full(len(items), customer_id, dtype=object), items)

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
            user_items=load_sparse_npz(bundle_dir / A.USER_ITEMS),  # mmap'd where stored uncompressed
            user_index={u: i for i, u in enumerate(user_ids)},
            copurchase=CoPurchase.load(bundle_dir / A.COPURCHASE_DIR),
            trending=Trending.load(bundle_dir / A.TRENDING),
            two_stage_min_cells=settings.recs_two_stage_min_cells,
            candidates_per_model=settings.recs_candidates_per_model,
            recent_days=settings.recs_recent_days,
            max_per_category=settings.recs_max_per_category,
            knowledge=ProductKnowledge.load(bundle_dir / A.PRODUCT_KNOWLEDGE)
            if (bundle_dir / A.PRODUCT_KNOWLEDGE).exists()
            else None,
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

    def prepare(self) -> RecommendationEngine:
        """Build what requests would otherwise derive on first use: the models' own tables and the
        customers' purchase cycles with their lookup index. Done where a bundle is loaded, so a
        pre-forked server's workers share one copy and no shopper waits for it."""
        self.model.prepare()
        own = self.person_cycles()
        own.index.get_indexer(own.index[:1])  # pandas builds an index's hash table on first lookup
        return self

    def with_ranker(self, ranker: ServedRanker | None) -> RecommendationEngine:
        """This engine ordering personal lists with ``ranker`` (None: the blend)."""
        if ranker is not None:
            ranker.check_models(getattr(self.model, "models_", {}))
        return replace(self, ranker=ranker)

    def _rank_one(
        self, row: sp.csr_matrix, history: list[Interaction], ctx: Context, allowed: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """One customer's top ``n`` allowed items: the learned ranker's order when the bundle has
        one (its candidates; the blend's list fills up behind them if the rules left too few),
        else the blend's. 1-D ids and scores, best first."""
        if self.ranker is None:
            ids, scores = self.rank(np.array([-1]), row, n, allowed)
            keep = ids[0] >= 0
            return ids[0][keep], scores[0][keep]
        purchases = CustomerPurchases.from_history(history, self.n_trained)
        ids, scores = self.ranker.rank(self.model.models_, row, purchases, ctx.now, allowed, n)
        return ids, scores

    def _blend_fill(
        self, row: sp.csr_matrix, allowed: np.ndarray, n: int, items: np.ndarray, scores: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``items`` (the ranker's diversified list) topped up to ``k`` from the blend's list, the
        blend's items scored just below the ranker's last."""
        more, _ = self.rank(np.array([-1]), row, n, allowed)
        more = more[0][(more[0] >= 0) & ~np.isin(more[0], items)]
        floor = float(scores.min()) - 1.0 if len(scores) else 0.0
        fill_items, _ = self._diversify(
            np.concatenate([items, more]), np.zeros(len(items) + len(more), np.float32), k
        )
        extra = fill_items[len(items) :]
        return (
            np.concatenate([items, extra]),
            np.concatenate([scores, floor - np.arange(len(extra), dtype=np.float32) * 1e-3]),
        )

    # --- rules --------------------------------------------------------------------------------
    def eligible(self, ctx: Context) -> np.ndarray:
        mask = self.catalog.available(ctx.channel).copy()
        if ctx.store_id:
            mask &= self.catalog.in_stock(ctx.store_id)
        if ctx.hidden is not None:
            mask &= ~ctx.hidden
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
        cycles = self.cycles_for(ctx.customer_id, items)
        excluded[items[self.excluded_events(items, types, ages, cycles)]] = True
        return excluded

    def excluded_events(
        self, items: np.ndarray, types: np.ndarray, age_days: np.ndarray, cycles: np.ndarray | None = None
    ) -> np.ndarray:
        """Per event: does it forbid its item? Vectorised, so batch jobs apply the same rule to millions.

        A returned item never comes back; a durable one bought is owned (never re-offered); a
        consumable is offered again once 80% of its purchase cycle has passed (``cycles``: per event,
        the customer's own; default the product's).
        """
        cycle = self.cycle_days[items] if cycles is None else cycles
        no_cycle = np.isnan(cycle)
        due = ~no_cycle & (age_days >= 0.8 * np.where(no_cycle, 0.0, cycle))
        window = np.maximum(self.recent_days, np.where(no_cycle, 0.0, cycle))
        purchase = types == "purchase"
        recent_purchase = purchase & (age_days <= window) & ~due
        owned = purchase & self.durable[items]
        return (types == "return") | recent_purchase | owned

    def due_consumables(self, history: list[Interaction], ctx: Context, n: int = 2) -> list[Interaction]:
        """The customer's consumables whose cycle is due now (80% of it passed, at most 3 cycles
        ago: later they have likely switched), the most overdue last purchase first. The last
        purchase in any channel counts (a POS receipt restarts the cycle); the cycle is the
        customer's own where learned (``ctx.customer_id``), else the product's, else its category's."""
        last: dict[int, Interaction] = {}
        for ev in history:
            if ev.type == "purchase" and (ev.item not in last or ev.timestamp > last[ev.item].timestamp):
                last[ev.item] = ev
        returned = {ev.item for ev in history if ev.type == "return"}
        due = []
        cycles = self.cycles_for(ctx.customer_id, np.fromiter(last, dtype=np.int64, count=len(last)))
        for (item, ev), cycle in zip(last.items(), cycles.tolist(), strict=True):
            age = (ctx.now - ev.timestamp).total_seconds() / 86400.0
            if item not in returned and np.isfinite(cycle) and 0.8 * cycle <= age <= 3 * cycle:
                due.append((age / cycle, ev))
        return [ev for _, ev in sorted(due, key=lambda t: (-t[0], t[1].item))][:n]

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
        n = min(len(allowed), CANDIDATES_PER_SLOT * k)
        ids, scores = self._rank_one(row, history, ctx, allowed, n)
        items, scores = self._diversify(ids, scores, k)
        if self.ranker is not None and len(items) < k:
            items, scores = self._blend_fill(row, allowed, n, items, scores, k)
        recent = sorted(
            (e for e in history if e.type in ("purchase", "add_to_cart", "view")),
            key=lambda e: e.timestamp,
            reverse=True,
        )
        sources = self._complement_sources(recent)
        ranked = [self._explain(int(i), float(s), sources, ctx) for i, s in zip(items, scores, strict=True)]
        allowed_mask = np.zeros(len(self.catalog), dtype=bool)
        allowed_mask[allowed] = True
        pins = self._pins(history, ctx, allowed_mask)
        if self.ranker is not None:
            ranked, pins = _ranked_before_their_slot(ranked, pins)
        return self._with_pins(ranked, pins, k), False

    def _pins(self, history: list[Interaction], ctx: Context, allowed: np.ndarray) -> list[Recommendation]:
        """What must react to the latest events: complements of purchases in the last
        ``react_days`` (latest purchase first, best complement first), then due consumables."""
        pins: list[Recommendation] = []
        seen: set[int] = set()
        bought = sorted(
            (
                e
                for e in history
                if e.type == "purchase" and (ctx.now - e.timestamp).total_seconds() <= self.react_days * 86400
            ),
            key=lambda e: e.timestamp,
            reverse=True,
        )
        owned = {e.item for e in history if e.type == "purchase"}
        for ev in bought:
            if ev.item >= self.n_trained:
                continue
            ids, scores = self.copurchase.bought_together(ev.item, 10)
            taken = 0
            for i, s in zip(ids.tolist(), scores.tolist(), strict=True):
                if taken == 2 or len(pins) == MAX_COMPLEMENT_PINS:
                    break
                if allowed[i] and i not in seen and i not in owned:
                    seen.add(i)
                    taken += 1
                    pins.append(self._explain(i, float(s), {i: ev}, ctx))
        eligible = self.eligible(ctx)
        for ev in self.due_consumables(history, ctx, n=4):
            if len(pins) < len(PIN_SLOTS) and ev.item not in seen and eligible[ev.item]:
                seen.add(ev.item)
                title = self.catalog.column["title"][ev.item]
                pins.append(
                    Recommendation(ev.item, 0.0, "replenish", restock_reason(title, ctx.now - ev.timestamp))
                )
        return pins

    @staticmethod
    def _with_pins(ranked: list[Recommendation], pins: list[Recommendation], k: int) -> list[Recommendation]:
        """``ranked`` with ``pins`` at the positions ``PIN_SLOTS`` (in order), duplicates dropped."""
        pinned = {p.item for p in pins}
        rest = iter([r for r in ranked if r.item not in pinned])
        queue = list(pins)
        out: list[Recommendation] = []
        while len(out) < k:
            if queue and len(out) in PIN_SLOTS:
                nxt = queue.pop(0)
            else:
                nxt = next(rest, None)
                if nxt is None:
                    if not queue:
                        break
                    nxt = queue.pop(0)
            if out and nxt.item in pinned:  # scores stay non-increasing down the list
                nxt = replace(nxt, score=out[-1].score)
            out.append(nxt)
        return out

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

    def popularity(self, items: np.ndarray) -> np.ndarray:
        """Baskets each item was in (0 for products added since training): a tie-breaker only."""
        counts = np.asarray(self.copurchase.item_counts_, dtype=np.float64)
        items = np.asarray(items, dtype=np.int64)
        return np.where(items < len(counts), counts[np.minimum(items, len(counts) - 1)], 0.0)

    def similar(
        self, item: int, ctx: Context, k: int, content: ContentSpace | None = None
    ) -> list[Recommendation]:
        """Products like this one: content (embeddings, same product type and brand) blended with
        co-interaction behaviour, popularity only breaking ties (``models/similarity.py``).

        Candidates: the closest products by meaning overall and within the product type, and the
        behavioural neighbours. A product added since training has content only.
        """
        eligible = self.eligible(ctx).copy()
        eligible[item] = False
        n = max(50, 5 * k)
        behaviour = np.zeros(len(self.catalog), np.float32)
        pools: list[np.ndarray] = []
        if item < self.n_trained:
            behaviour[: self.n_trained] = behaviour_scores(self.model, item)
            scored = np.flatnonzero((behaviour > 0) & eligible)
            pools.append(scored[np.argsort(-behaviour[scored], kind="stable")[:n]])
        category = self.catalog.column["category"][item]
        same_type_mask = eligible & self.catalog.category_is(category)
        if content is not None:
            pools.append(content.content_neighbours(item, n, eligible)[0])
            if same_type_mask.any():
                pools.append(content.content_neighbours(item, n, same_type_mask)[0])
        else:
            same = np.flatnonzero(same_type_mask)
            pools.append(same[np.argsort(-self.popularity(same), kind="stable")[:n]])
        candidates = np.unique(np.concatenate([p.astype(np.int64) for p in pools])) if pools else np.empty(0)
        candidates = candidates[(candidates >= 0)]
        candidates = candidates[eligible[candidates]]
        if candidates.size == 0:
            return []
        brand = self.catalog.folded.get("brand")
        same_brand = (
            (brand[candidates] == brand[item]) & (brand[candidates] != "")
            if brand is not None
            else np.zeros(candidates.size, bool)
        )
        items, scores, signal = blend_similarity(
            candidates,
            content.content_similarity(item, candidates)
            if content is not None
            else np.zeros(candidates.size),
            self.catalog.column["category"][candidates] == category,
            same_brand,
            behaviour[candidates],
            self.popularity(candidates),
        )
        order = _capped(self.catalog.column["brand"][items], self.max_per_brand, k)
        items, scores, signal = items[order], scores[order], signal[order]
        return [
            Recommendation(int(i), float(sc), "similar_behaviour", "Shoppers who liked this also liked")
            if sig == "behaviour"
            else Recommendation(int(i), float(sc), "similar_content", "Similar product")
            for i, sc, sig in zip(items[:k], scores[:k], signal[:k], strict=True)
        ]

    def category_complements(self) -> dict[str, list[str]]:
        """Category -> the categories most bought with it (its own excluded), best first.

        Aggregated from the item pairs' co-purchase support, each pair's support divided by the
        square root of the partner category's baskets, so "everything is bought with a T-shirt"
        does not make T-shirts every category's complement. Computed once per trained engine.
        """
        cached = self.cache.get("category_complements")
        if cached is not None:
            return cached
        cats = np.asarray(self.catalog.column["category"][: self.n_trained], dtype=object)
        codes, names = pd.factorize(pd.Series(cats).fillna(""))
        ids, support = self.copurchase.ids_, self.copurchase.support_
        rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
        cols = ids.ravel()
        ok = cols >= 0
        a, b, w = codes[rows[ok]], codes[cols[ok]], support.ravel()[ok].astype(np.float64)
        m = len(names)
        matrix = np.zeros((m, m))
        np.add.at(matrix, (a, b), w)
        baskets = np.zeros(m)
        np.add.at(baskets, codes, np.asarray(self.copurchase.item_counts_, np.float64))
        strength = matrix / np.sqrt(np.maximum(baskets, 1.0))[None, :]
        np.fill_diagonal(strength, 0.0)
        out: dict[str, list[str]] = {}
        for i, name in enumerate(names):
            order = np.argsort(-strength[i], kind="stable")[: self.complement_categories]
            out[str(name)] = [str(names[j]) for j in order if matrix[i, j] >= 3]
        self.cache["category_complements"] = out
        return out

    def bought_together(
        self, item: int, ctx: Context, k: int, exclude: set[int] | None = None
    ) -> list[Recommendation]:
        """Up to ``k`` complements, from a declared chain of sources (the reason code says which):
        1. ``bought_together``: this item's own co-purchase pairs (NPMI);
        2. ``category_complement``: the most bought items of the categories bought with its
           category (also for a product added since training);
        3. ``also_viewed``: its co-interaction neighbours (item-kNN, ALS ... of the blend).
        """
        eligible = self.eligible(ctx).copy()
        eligible[item] = False
        for i in exclude or ():
            eligible[i] = False
        out: dict[int, Recommendation] = {}

        def take(i: int, score: float, code: str, reason: str) -> None:
            if len(out) < k and eligible[i] and i not in out:
                out[i] = Recommendation(int(i), float(score), code, reason)

        if item < self.n_trained:
            for i, s in zip(*self.copurchase.bought_together(item, 50), strict=True):
                take(int(i), float(s), "bought_together", "Frequently bought together")
        category = str(self.catalog.column["category"][item])
        for partner in self.category_complements().get(category, []):
            if len(out) >= k:
                break
            members = np.flatnonzero(self.catalog.category_is(partner) & eligible)
            best = members[np.argsort(-self.popularity(members), kind="stable")][: max(1, k // 2)]
            leaf = partner.split(">")[-1].strip()
            for i in best.tolist():
                take(
                    i,
                    0.0,
                    "category_complement",
                    f"Often bought with {category.split('>')[-1].strip()}: {leaf}",
                )
        if len(out) < k and item < self.n_trained:
            behaviour = behaviour_scores(self.model, item)
            for i in np.argsort(-behaviour, kind="stable")[: 4 * k].tolist():
                if behaviour[i] > 0:
                    take(i, 0.0, "also_viewed", "Shoppers who viewed this also viewed")
        return list(out.values())

    def complete_cart(self, items: np.ndarray, ctx: Context, k: int) -> list[Recommendation]:
        """Complements for the whole cart: items that go with several cart items first (NPMI
        summed), then each cart item's own complements in turn, so every item in the cart gets
        some (a coffee machine and a running shoe: coffee and socks)."""
        cart = [int(i) for i in dict.fromkeys(np.asarray(items, dtype=np.int64).tolist())]
        per_item = [self.bought_together(i, ctx, k, exclude=set(cart)) for i in cart]
        counts: dict[int, list[Recommendation]] = {}
        for recs in per_item:
            for r in recs:
                counts.setdefault(r.item, []).append(r)
        shared = sorted(
            (rs for rs in counts.values() if len(rs) > 1),
            key=lambda rs: (-sum(r.score for r in rs), rs[0].item),
        )
        out: dict[int, Recommendation] = {}
        for rs in shared:
            out.setdefault(
                rs[0].item,
                Recommendation(
                    rs[0].item, sum(r.score for r in rs), "completes_cart", "Completes your basket"
                ),
            )
        for position in range(k):
            for recs in per_item:
                if position < len(recs) and len(out) < k:
                    r = recs[position]
                    code = "completes_cart" if r.reason_code == "bought_together" else r.reason_code
                    reason = "Completes your basket" if code == "completes_cart" else r.reason
                    out.setdefault(r.item, Recommendation(r.item, r.score, code, reason))
        return list(out.values())[:k]


def _ranked_before_their_slot(
    ranked: list[Recommendation], pins: list[Recommendation]
) -> tuple[list[Recommendation], list[Recommendation]]:
    """A pin guarantees a floor, never a demotion: an item the learned ranker already placed at or
    above the slot its pin would take stays where it was ranked, with the pin's reason (a due
    consumable the ranker puts first says "Time to restock"); the other pins keep their slots."""
    position = {r.item: i for i, r in enumerate(ranked)}
    ahead: dict[int, Recommendation] = {}
    rest: list[Recommendation] = []
    for pin in pins:
        slot = PIN_SLOTS[len(rest)] if len(rest) < len(PIN_SLOTS) else len(ranked)
        if position.get(pin.item, slot + 1) <= slot:
            ahead[pin.item] = pin
        else:
            rest.append(pin)
    out = [replace(ahead[r.item], score=r.score) if r.item in ahead else r for r in ranked]
    return out, rest


def _capped(groups: np.ndarray, cap: int, window: int) -> np.ndarray:
    """Positions in rank order with at most ``cap`` of one group among the first ``window``; the
    rest keep their order after them (moved down, never dropped)."""
    head: list[int] = []
    tail: list[int] = []
    taken: dict[object, int] = {}
    for pos, g in enumerate(groups.tolist()):
        if len(head) < window and taken.get(g, 0) < cap:
            taken[g] = taken.get(g, 0) + 1
            head.append(pos)
        else:
            tail.append(pos)
    return np.array(head + tail, dtype=np.int64)


def restock_reason(title: str, since: pd.Timedelta) -> str:
    """The reason a due consumable is shown (lists and replenishment emails; ``models/i18n.py``
    translates it)."""
    return f"Time to restock {title}: you bought it {_ago(since)}"


def _ago(delta: pd.Timedelta) -> str:
    days = max(int(delta.total_seconds() // 86400), 0)
    if days == 0:
        return "today"
    if days < 14:
        return f"{days} day{'s' if days > 1 else ''} ago"
    if days < 60:
        return f"{days // 7} weeks ago"
    return f"{days // 30} months ago"
