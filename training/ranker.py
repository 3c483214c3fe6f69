"""Train the learned search ranker on the retailer's own search-click logs.

The labelled queries are the test set, so the ranker never sees them: its positives are the
products shoppers clicked (or bought) after a logged search, its negatives the other candidates the
engine retrieved for that query. It is kept only if it beats plain fusion on held-out log queries.
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
from models.ranking import FEATURES, LinearRanker, ranking_features
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
    ranker = LinearRanker(C=settings.ranker_c).fit(X, y)

    fused, learned = [], []
    for g, v, row in zip(groups, is_val, queries.itertuples(index=False), strict=True):
        if g is None or not v:
            continue
        parsed, items, lexical, dense, i = g
        gains = {sku: 1.0 for sku in row.clicked}
        for scores, bucket in (
            (engine.relevance(parsed, items, lexical, dense), fused),
            (ranker.predict(X_parts[i]), learned),
        ):
            ranked = catalog.skus[items[np.argsort(-scores, kind="stable")]].tolist()
            bucket.append(ndcg_at_k(ranked, gains, 10))
    metrics = {
        "queries_train": int(len(train_idx)),
        "queries_validation": int(len(fused)),
        "candidates_train": int(len(y)),
        "positives_train": int(y.sum()),
        "validation_ndcg@10_fusion": round(float(np.mean(fused)), 4),
        "validation_ndcg@10_ranker": round(float(np.mean(learned)), 4),
        "coefficients": dict(zip(FEATURES, ranker.coef_.round(4).tolist(), strict=True)),
    }
    metrics["kept"] = metrics["validation_ndcg@10_ranker"] > metrics["validation_ndcg@10_fusion"]
    if metrics["kept"]:
        ranker.save(Path(bundle_dir) / A.RANKER)
    return metrics
