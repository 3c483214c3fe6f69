"""Judged surfaces: what a shopper or an associate sees, measured on labelled sets per surface.

Offline recall says whether the next purchase is somewhere in the top 20; it does not say whether
similar items are similar, whether an owned coffee machine is offered again, or whether a cart of
two things gets complements for both. Each surface here gets a small labelled set derived from
data, never hand-picked: product types (the catalog's full category path), the customers' own
purchase histories and, when the data directory has it (the generated sample does), the
generator's hidden truth (``truth/bundles.parquet``: planted anchor -> companion pairs;
``truth/query_specs.parquet``: what each labelled query asks for). Requests are drawn with a fixed
seed, so two runs over the same bundle give the same report.

The engines are the ones the service runs (``RecommendationEngine``, ``SearchEngine``), loaded from
the bundle alone, so the figures are what ``GET /v1/...`` answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models import artifacts as A
from models.catalog import Catalog
from models.clock import system_clock
from models.config import Settings
from models.history import Interaction, load_history
from models.recommend import Context, RecommendationEngine
from models.search_engine import SearchEngine

CONTENT_CODES = frozenset({"similar_content", "similar_behaviour"})
TARGETS = {
    "similar_same_type": 0.9,
    "similar_popularity_only": 0.0,
    "offers_owned_durables": 0,
    "bought_together_full_k": 0.95,
    "cart_full_k": 0.95,
    "intent_constraint_share": 1.0,
    "intent_min_categories": 3,
}


@dataclass
class Surfaces:
    """The engines and data one evaluation reads."""

    catalog: Catalog
    recs: RecommendationEngine
    search: SearchEngine
    history: dict[str, list[Interaction]]
    now: pd.Timestamp
    truth_dir: Path | None
    queries: pd.DataFrame | None

    @classmethod
    def load(cls, bundle_dir: Path, data_dir: Path | None, settings: Settings) -> Surfaces:
        bundle_dir = Path(bundle_dir)
        catalog = Catalog.load(bundle_dir / A.CATALOG_DIR)
        history = load_history(bundle_dir / A.HISTORY)
        latest = max((ev.timestamp for events in history.values() for ev in events), default=None)
        truth = Path(data_dir) / "truth" if data_dir is not None else None
        queries = None
        if data_dir is not None and (Path(data_dir) / "queries.parquet").exists():
            queries = pd.read_parquet(Path(data_dir) / "queries.parquet")
        return cls(
            catalog=catalog,
            recs=RecommendationEngine.load(bundle_dir, catalog, settings),
            search=SearchEngine.load(bundle_dir, catalog, threads=2),
            history=history,
            now=(latest or pd.Timestamp(system_clock())) + pd.Timedelta(hours=1),
            truth_dir=truth if truth is not None and truth.is_dir() else None,
            queries=queries,
        )


def _sample(values: list, n: int, seed: int) -> list:
    """``n`` of ``values`` drawn without replacement with a fixed seed (all when fewer)."""
    if len(values) <= n:
        return list(values)
    picked = np.random.default_rng(seed).choice(len(values), size=n, replace=False)
    return [values[i] for i in sorted(picked.tolist())]


def similar_items(s: Surfaces, n: int = 200, k: int = 10, seed: int = 0) -> dict:
    """Products drawn across every product type; share of the top ``k`` in the same type, in the
    same top category, distinct brands, and requests answered by popularity alone."""
    ctx = Context(channel="web", now=s.now)
    eligible = s.recs.eligible(ctx)
    cats = s.catalog.column["category"]
    by_type: dict[str, list[int]] = {}
    for i in np.flatnonzero(eligible[: s.recs.n_trained]).tolist():
        by_type.setdefault(str(cats[i]), []).append(i)
    per_type = max(1, n // max(1, len(by_type)))
    items = [i for t in sorted(by_type) for i in _sample(by_type[t], per_type, seed)]
    same_type, same_top, brands, popularity_only, full = [], [], [], 0, 0
    top_cat = s.catalog.column["top_category"]
    for item in items:
        recs = s.recs.similar(item, ctx, k, content=s.search)
        got = np.array([r.item for r in recs], dtype=np.int64)
        if got.size == 0:
            continue
        full += got.size == k
        same_type.append(float(np.mean(cats[got] == cats[item])))
        same_top.append(float(np.mean(top_cat[got] == top_cat[item])))
        brands.append(len({str(b) for b in s.catalog.column["brand"][got]}))
        popularity_only += not any(r.reason_code in CONTENT_CODES for r in recs)
    return {
        "requests": len(items),
        "same_type_share": round(float(np.mean(same_type)), 4) if same_type else None,
        "same_top_category_share": round(float(np.mean(same_top)), 4) if same_top else None,
        "distinct_brands_mean": round(float(np.mean(brands)), 2) if brands else None,
        "popularity_only_share": round(popularity_only / max(1, len(items)), 4),
        "full_k_share": round(full / max(1, len(items)), 4),
    }


def _truth_pairs(s: Surfaces) -> list[tuple[int, set[int]]]:
    """Planted (anchor, companions) pairs from the generator's truth, as item indices."""
    if s.truth_dir is None or not (s.truth_dir / "bundles.parquet").exists():
        return []
    table = pd.read_parquet(s.truth_dir / "bundles.parquet")
    out: dict[int, set[int]] = {}
    for anchor, companion in zip(table["anchor_sku"], table["companion_sku"], strict=True):
        a, c = s.catalog.sku_index.get(str(anchor)), s.catalog.sku_index.get(str(companion))
        if a is not None and c is not None:
            out.setdefault(a, set()).add(c)
    return sorted(out.items())


def bought_together(s: Surfaces, n: int = 200, k: int = 5, seed: int = 0) -> dict:
    """Every product type's products (drawn) and the planted anchors: the share answered with
    ``k`` items, where the answers come from (own pairs / category complements / co-view), and the
    hit rate of the planted companions in the top ``k``."""
    ctx = Context(channel="web", now=s.now)
    trained = np.flatnonzero(s.recs.eligible(ctx)[: s.recs.n_trained]).tolist()
    items = _sample(trained, n, seed)
    full, sources = 0, {}
    for item in items:
        recs = s.recs.bought_together(item, ctx, k)
        full += len(recs) == k
        for r in recs:
            sources[r.reason_code] = sources.get(r.reason_code, 0) + 1
    pairs = _truth_pairs(s)
    hits = [bool({r.item for r in s.recs.bought_together(a, ctx, k)} & comps) for a, comps in pairs]
    total = max(1, sum(sources.values()))
    return {
        "requests": len(items),
        "full_k_share": round(full / max(1, len(items)), 4),
        "source_share": {c: round(v / total, 4) for c, v in sorted(sources.items())},
        "planted_pairs": len(pairs),
        "planted_hit_rate": round(float(np.mean(hits)), 4) if hits else None,
    }


def carts(s: Surfaces, n: int = 200, k: int = 10, seed: int = 0) -> dict:
    """Carts of two products of different top categories (drawn): the share answered with ``k``
    items and the share where both cart items get complements of their own."""
    ctx = Context(channel="web", now=s.now)
    trained = np.flatnonzero(s.recs.eligible(ctx)[: s.recs.n_trained])
    rng = np.random.default_rng(seed)
    top = s.catalog.column["top_category"]
    full = both = done = 0
    for _ in range(n):
        a, b = rng.choice(trained, size=2, replace=False)
        if top[a] == top[b]:
            continue
        done += 1
        recs = s.recs.complete_cart(np.array([a, b]), ctx, k)
        got = {r.item for r in recs}
        full += len(recs) == k
        own = [
            {r.item for r in s.recs.bought_together(int(i), ctx, k, exclude={int(a), int(b)})} for i in (a, b)
        ]
        both += all(got & o for o in own)
    return {
        "requests": done,
        "full_k_share": round(full / max(1, done), 4),
        "every_item_served_share": round(both / max(1, done), 4),
    }


def _owned_durables(s: Surfaces, history: list[Interaction]) -> set[int]:
    returned = {e.item for e in history if e.type == "return"}
    return {e.item for e in history if e.type == "purchase" and s.recs.durable[e.item]} - returned


def offers(s: Surfaces, n: int = 300, k: int = 10, seed: int = 0) -> dict:
    """Customers with purchases (drawn): owned durable items among their recommendations (web) and
    the associate's offers (store channel, their most used store), and due consumables surfaced."""
    buyers = sorted(c for c, h in s.history.items() if any(e.type == "purchase" for e in h))
    owned_web = owned_store = lists = 0
    due_customers = due_surfaced = 0
    for customer in _sample(buyers, n, seed):
        history = s.history[customer]
        row = s.recs.history_row(customer, [], {})
        owned = _owned_durables(s, history)
        stores = [e.store_id for e in history if e.store_id]
        store = max(set(stores), key=stores.count) if stores else None
        for ctx, counter in (
            (Context(channel="web", now=s.now, customer_id=customer), "web"),  # their own cycles, as served
            (Context(channel="store", store_id=store, now=s.now, customer_id=customer), "store"),
        ):
            if ctx.store_id is not None and not s.catalog.has_store(ctx.store_id):
                continue
            recs, _ = s.recs.for_customer(row, history, ctx, k)
            bad = sum(r.item in owned for r in recs)
            if counter == "web":
                owned_web += bad
                lists += 1
                due = {e.item for e in s.recs.due_consumables(history, ctx)}
                if due:
                    due_customers += 1
                    due_surfaced += bool(due & {r.item for r in recs})
            else:
                owned_store += bad
    return {
        "customers": lists,
        "owned_durables_in_recommendations": owned_web,
        "owned_durables_in_profile_offers": owned_store,
        "customers_with_due_consumables": due_customers,
        "due_consumables_surfaced_share": round(due_surfaced / due_customers, 4) if due_customers else None,
    }


def _best_rank(
    s: Surfaces, customer: str, extra: list[Interaction], wanted: set[int], ctx: Context, k: int
) -> int:
    """Best 1-based rank of ``wanted`` in the customer's list after ``extra`` events, k + 1 if absent."""
    row = s.recs.history_row(customer, extra, {"purchase": 1.0})
    recs, _ = s.recs.for_customer(row, s.history[customer] + extra, ctx, k)
    ranks = [pos for pos, r in enumerate(recs, 1) if r.item in wanted]
    return min(ranks) if ranks else k + 1


def reaction(s: Surfaces, n: int = 100, k: int = 20, seed: int = 0) -> dict:
    """A customer buys a planted anchor (or a drawn product) now: the best rank of its complements
    (its planted companions, else its own co-purchase pairs) before and after, in the top ``k``."""
    pairs = _truth_pairs(s) or [
        (i, set(s.recs.copurchase.bought_together(i, 5)[0].tolist()))
        for i in range(min(s.recs.n_trained, 500))
    ]
    pairs = [(a, c) for a, c in pairs if c]
    customers = sorted(s.history)
    rng = np.random.default_rng(seed)
    before_ranks, after_ranks = [], []
    ctx = Context(channel="web", now=s.now)
    for _ in range(min(n, len(customers))):
        customer = customers[int(rng.integers(len(customers)))]
        anchor, companions = pairs[int(rng.integers(len(pairs)))]
        bought = Interaction(anchor, "purchase", s.now - pd.Timedelta(minutes=5), "web")
        before_ranks.append(_best_rank(s, customer, [], companions, ctx, k))
        after_ranks.append(_best_rank(s, customer, [bought], companions, ctx, k))
    before, after = np.array(before_ranks), np.array(after_ranks)
    return {
        "requests": int(before.size),
        "mean_best_complement_rank_before": round(float(before.mean()), 2) if before.size else None,
        "mean_best_complement_rank_after": round(float(after.mean()), 2) if after.size else None,
        "complement_in_top8_after_share": round(float(np.mean(after <= 8)), 4) if after.size else None,
        "rank_missing_means": k + 1,
    }


def intent_queries(s: Surfaces, k: int = 10) -> dict:
    """The labelled queries whose truth states a recipient and/or a budget and no product type (a
    broad gift intent): the share of the top ``k`` satisfying every constraint the query parser
    read, and the distinct product types shown. Plus every query whose category intent was applied:
    the share of results shown as matching that really are in that category (honesty)."""
    if s.queries is None:
        return {}
    specs = (
        pd.read_parquet(s.truth_dir / "query_specs.parquet")
        if s.truth_dir is not None and (s.truth_dir / "query_specs.parquet").exists()
        else None
    )
    broad = []
    if specs is not None:
        merged = s.queries.merge(specs, on="query_id")
        kinds = merged["types"].fillna("").astype(str)
        stated = merged["target"].notna() | merged["max_price"].notna()
        broad = merged.loc[(kinds == "") & stated, "query"].astype(str).tolist()
    satisfied, categories = [], []
    prices = s.catalog.prices
    target = s.catalog.folded.get("target")
    for q in broad:
        result = s.search.search(q, k=k)
        got = np.array([h.item for h in result.hits], dtype=np.int64)
        if got.size == 0:
            satisfied.append(0.0)
            categories.append(0)
            continue
        ok = np.ones(got.size, bool)
        parsed = result.intent
        if parsed.price_max is not None:
            ok &= prices[got] <= parsed.price_max
        if parsed.price_min is not None:
            ok &= prices[got] >= parsed.price_min
        if parsed.target and target is not None:
            ok &= target[got] == parsed.target.casefold()
        satisfied.append(float(ok.mean()))
        categories.append(len(set(s.catalog.column["category"][got].tolist())))
    honest, claimed = 0, 0
    for q in s.queries["query"].astype(str).tolist():
        result = s.search.search(q, k=20)
        cat = result.intent.category
        if cat is None or not cat.applied:
            continue
        shown = [h.item for h in result.hits if h.matches]
        claimed += len(shown)
        honest += (
            int(np.sum(s.catalog.column["category"][np.array(shown, dtype=np.int64)] == cat.path))
            if shown
            else 0
        )
    return {
        "broad_queries": len(broad),
        "constraint_share": round(float(np.mean(satisfied)), 4) if satisfied else None,
        "min_constraint_share": round(float(np.min(satisfied)), 4) if satisfied else None,
        "distinct_categories_mean": round(float(np.mean(categories)), 2) if categories else None,
        "distinct_categories_min": int(np.min(categories)) if categories else None,
        "category_queries_results_marked_matching": claimed,
        "marked_matching_in_category_share": round(honest / claimed, 4) if claimed else None,
    }


def evaluate_surfaces(bundle_dir: Path, data_dir: Path | None, settings: Settings) -> dict:
    """Every surface's figures, with the targets they are judged against."""
    s = Surfaces.load(bundle_dir, data_dir, settings)
    return {
        "similar_items": similar_items(s),
        "bought_together": bought_together(s),
        "cart": carts(s),
        "offers": offers(s),
        "reaction": reaction(s),
        "intent_queries": intent_queries(s),
        "targets": TARGETS,
    }


def report_lines(surfaces: dict) -> list[str]:
    """The Markdown section of the training report."""
    lines = ["## What people see (judged surfaces, `omnirank eval-surfaces`)", ""]
    for name, figures in surfaces.items():
        if name == "targets" or not figures:
            continue
        lines += [
            f"**{name.replace('_', ' ')}**: " + ", ".join(f"{k} {json.dumps(v)}" for k, v in figures.items()),
            "",
        ]
    lines += ["Targets: " + ", ".join(f"{k} {v}" for k, v in surfaces.get("targets", {}).items()), ""]
    return lines
