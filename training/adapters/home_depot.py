"""Home Depot Product Search Relevance (Kaggle 2016) -> the import format's catalog and labelled queries.

The dataset has titles only: no brand, category, price or events. Products get the one category
"Home Improvement" and price 0 (unknown), which the search side ignores; the judgments map the
raters' 1..3 mean onto WANDS labels. It is search-evaluation data: there is no behaviour to train
recommendations on, so ``omnirank eval-search`` compares retrievers on it, and ``omnirank train``
on the converted directory publishes a search-only bundle (evaluated on the judged queries).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import InputError

CATEGORY = "Home Improvement"


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except ValueError as exc:  # a malformed CSV (pandas' parse errors are ValueErrors)
        raise InputError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path} lacks column(s) {missing}; expected {columns}")
    return frame


def wands_label(relevance: pd.Series) -> pd.Series:
    """Mean rating 1..3 -> exact (>= 2.5), partial (>= 1.5), irrelevant."""
    try:
        r = pd.to_numeric(relevance, errors="raise")
    except ValueError as exc:
        raise InputError(f"relevance must be a number: {exc}") from exc
    return pd.Series(
        np.select([r >= 2.5, r >= 1.5], ["exact", "partial"], "irrelevant"), index=relevance.index
    )


def logged_query_ids(query_ids: pd.Series, share: float, seed: int = 0) -> pd.Series:
    """Which queries become search logs (True) and which stay labelled for evaluation: a stable,
    seeded hash of each query id, so the split never depends on row order."""
    digest = pd.util.hash_pandas_object(query_ids.astype(str), index=False, hash_key=f"omnirank{seed:08d}")
    return pd.Series((digest.to_numpy() % 10_000) < round(share * 10_000), index=query_ids.index)


def judged_pairs_as_logs(queries: pd.DataFrame, judgments: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Import-format events for the logged queries: one search each, then a click on every product the
    raters judged relevant (exact or partial), as a retailer's search-click log records them. Each
    query is a guest session of its own; timestamps are a synthetic minute apart (the log has none)."""
    relevant = judgments[labels.isin(["exact", "partial"]).to_numpy()]
    relevant = relevant[relevant["query_id"].isin(queries["query_id"])]
    text = queries.set_index("query_id")["query"]
    start = pd.Timestamp("2016-01-04T09:00:00Z")
    order = {qid: i for i, qid in enumerate(queries["query_id"])}
    searches = pd.DataFrame(
        {
            "event_id": "hd-search-" + queries["query_id"].astype(str),
            "type": "search",
            "timestamp": [start + pd.Timedelta(minutes=order[q]) for q in queries["query_id"]],
            "channel": "web",
            "sku": None,
            "session_id": "hd-" + queries["query_id"].astype(str),
            "query": queries["query"].to_numpy(),
        }
    )
    position = relevant.groupby("query_id").cumcount() + 1
    clicks = pd.DataFrame(
        {
            "event_id": "hd-click-"
            + relevant["query_id"].astype(str)
            + "-"
            + relevant["product_id"].astype(str),
            "type": "search_click",
            "timestamp": [start + pd.Timedelta(minutes=order[q], seconds=5) for q in relevant["query_id"]],
            "channel": "web",
            "sku": relevant["product_id"].to_numpy(),
            "session_id": "hd-" + relevant["query_id"].astype(str).to_numpy(),
            "query": text.reindex(relevant["query_id"]).to_numpy(),
            "position": position.to_numpy(),
        }
    )
    return pd.concat([searches, clicks], ignore_index=True).drop_duplicates("event_id")


def write_import_format(source_dir: Path, out_dir: Path, logged_share: float = 0.0) -> dict[str, int]:
    """products/queries/judgments Parquet tables under ``out_dir``; returns row counts.

    ``logged_share`` of the judged queries (a seeded hash split) become search-click logs instead
    (``events.parquet``: the judged-relevant products as clicks), so training learns from them as
    it learns from a shop's own logs, and only the other queries stay labelled: the bundle is then
    evaluated on queries it never saw."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    products = _read(source_dir / "products.csv", ["product_id", "title"])
    queries = _read(source_dir / "queries.csv", ["query_id", "query"])
    judgments = _read(source_dir / "judgments.csv", ["query_id", "product_id", "relevance"])
    if not 0.0 <= logged_share < 1.0:
        raise InputError(f"the logged share must be in [0, 1), got {logged_share}")
    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {"sku": products["product_id"], "title": products["title"], "category": CATEGORY, "price": 0.0}
    ).to_parquet(out_dir / "products.parquet", index=False)
    labels = wands_label(judgments["relevance"])
    logged = logged_query_ids(queries["query_id"], logged_share)
    counts = {}
    if logged.any():
        events = judged_pairs_as_logs(queries[logged], judgments, labels)
        events.to_parquet(out_dir / "events.parquet", index=False)
        counts = {"logged_queries": int(logged.sum()), "events": len(events)}
        kept = judgments["query_id"].isin(queries.loc[~logged, "query_id"]).to_numpy()
        queries, judgments, labels = queries[~logged], judgments[kept], labels[kept]
    pd.DataFrame(
        {"query_id": queries["query_id"], "query": queries["query"], "language": "en", "kind": "real"}
    ).to_parquet(out_dir / "queries.parquet", index=False)
    from models.schemas import WANDS_GAIN

    pd.DataFrame(
        {
            "query_id": judgments["query_id"],
            "sku": judgments["product_id"],
            "label": labels,
            "gain": labels.map(WANDS_GAIN),
        }
    ).to_parquet(out_dir / "judgments.parquet", index=False)
    return {"products": len(products), "queries": len(queries), "judgments": len(judgments), **counts}
