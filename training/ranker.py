"""Train the learned search ranker on the retailer's own search-click logs.

The labelled queries are the test set, so the ranker never sees them: its positives are the
products shoppers clicked (or bought) after a logged search, its negatives the other candidates the
engine retrieved for that query. Two kinds are fitted on the same queries, a logistic regression and
LightGBM LambdaMART (``models/ranking.py``); the one with the best NDCG@10 on held-out log queries is
kept, and only if it beats plain fusion there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from models import artifacts as A
from models.catalog import Catalog
from models.config import Settings
from models.metrics import ndcg_at_k
from models.ranking import FEATURES, BoostedRanker, LinearRanker, SearchRanker, ranking_features
from models.search_engine import SearchEngine


def popularity(events: pd.DataFrame, catalog: Catalog) -> np.ndarray:
    """Units purchased per item over the whole history (any channel)."""
    buys = events.loc[(events["type"] == "purchase") & events["sku"].notna(), ["sku", "quantity"]]
    counts = np.zeros(len(catalog))
    items = catalog.indices(buys["sku"])
    ok = items >= 0
    np.add.at(counts, items[ok], buys["quantity"].to_numpy(dtype=np.float64)[ok])
    return counts


def logged_queries(events: pd.DataFrame, max_queries: int, seed: int) -> pd.DataFrame:
    """Distinct logged queries with the set of skus clicked from them."""
    clicks = events[(events["type"] == "search_click") & events["query"].notna() & events["sku"].notna()]
    grouped = clicks.groupby(clicks["query"].astype(str).str.strip().str.lower())["sku"].agg(
        lambda s: set(s.astype(str))
    )
    frame = grouped.reset_index().rename(columns={"query": "query", "sku": "clicked"})
    if len(frame) > max_queries:
        frame = frame.sample(n=max_queries, random_state=seed)
    return frame.reset_index(drop=True)


def train_search_ranker(
    bundle_dir: Path,
    catalog: Catalog,
    events: pd.DataFrame,
    settings: Settings,
    model_file: str = A.MODEL_FILE,
) -> dict:
    """Fit, validate and (if it wins) save the ranker into ``bundle_dir``; returns its metrics."""
    queries = logged_queries(events, settings.ranker_max_queries, settings.random_seed)
    if len(queries) < 20:
        return {"kept": False, "why": f"only {len(queries)} logged queries with clicks"}
    engine = SearchEngine.load(bundle_dir, catalog, model_file=model_file, threads=2)
    rng = np.random.default_rng(settings.random_seed)
    is_val = rng.random(len(queries)) < 0.2
    X_parts, y_parts, groups = [], [], []
    for row in tqdm(
        queries.itertuples(index=False), total=len(queries), desc="ranker candidates", unit="query"
    ):
        parsed, items, lexical, dense = engine.ranking_candidates(row.query)
        if items.size == 0:
            groups.append(None)
            continue
        X_parts.append(ranking_features(engine.ranking_context, parsed, items, lexical, dense))
        y_parts.append(np.isin(catalog.skus[items], list(row.clicked)).astype(int))
        groups.append((parsed, items, lexical, dense, len(X_parts) - 1))
    train_idx = [g[4] for g, v in zip(groups, is_val, strict=True) if g is not None and not v]
    X = np.vstack([X_parts[i] for i in train_idx])
    y = np.concatenate([y_parts[i] for i in train_idx])
    if y.sum() == 0:
        return {"kept": False, "why": "no clicked product among the retrieved candidates"}
    linear = LinearRanker(C=settings.ranker_c).fit(X, y)
    rankers: dict[str, SearchRanker] = {"linear": linear}
    # LambdaMART learns from the order within a query: only queries with a click among their
    # candidates carry any (the others would be all-zero groups)
    with_click = [i for i in train_idx if y_parts[i].any()]
    if settings.ranker_boosted and len(with_click) >= 20:
        rankers[BoostedRanker.kind] = BoostedRanker(seed=settings.random_seed).fit(
            np.vstack([X_parts[i] for i in with_click]),
            np.concatenate([y_parts[i] for i in with_click]),
            group=np.array([len(y_parts[i]) for i in with_click]),
        )

    ndcg: dict[str, list[float]] = {"fusion": []} | {kind: [] for kind in rankers}
    for g, v, row in zip(groups, is_val, queries.itertuples(index=False), strict=True):
        if g is None or not v:
            continue
        parsed, items, lexical, dense, i = g
        gains = {sku: 1.0 for sku in row.clicked}
        scored = {"fusion": engine.relevance(parsed, items, lexical, dense)} | {
            kind: r.predict(X_parts[i]) for kind, r in rankers.items()
        }
        for kind, scores in scored.items():
            ranked = catalog.skus[items[np.argsort(-scores, kind="stable")]].tolist()
            ndcg[kind].append(ndcg_at_k(ranked, gains, 10))
    score = {kind: round(float(np.mean(v)), 4) for kind, v in ndcg.items()}
    best = max(rankers, key=lambda kind: score[kind])  # ties: the linear one (first)
    metrics = {
        "queries_train": int(len(train_idx)),
        "queries_validation": int(len(ndcg["fusion"])),
        "candidates_train": int(len(y)),
        "positives_train": int(y.sum()),
        "validation_ndcg@10_fusion": score["fusion"],
        "validation_ndcg@10_ranker": score[best],
        "validation_ndcg@10_by_kind": {kind: score[kind] for kind in rankers},
        "kind": best,
        "coefficients": dict(zip(FEATURES, linear.coef_.round(4).tolist(), strict=True)),
    }
    if BoostedRanker.kind in rankers:
        metrics["lambdamart_gain_share"] = rankers[BoostedRanker.kind].feature_importance()
    metrics["kept"] = score[best] > score["fusion"]
    if metrics["kept"]:
        rankers[best].save(Path(bundle_dir) / A.RANKER)
    return metrics
