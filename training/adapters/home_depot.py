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


def write_import_format(source_dir: Path, out_dir: Path) -> dict[str, int]:
    """products/queries/judgments Parquet tables under ``out_dir``; returns row counts."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    products = _read(source_dir / "products.csv", ["product_id", "title"])
    queries = _read(source_dir / "queries.csv", ["query_id", "query"])
    judgments = _read(source_dir / "judgments.csv", ["query_id", "product_id", "relevance"])
    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {"sku": products["product_id"], "title": products["title"], "category": CATEGORY, "price": 0.0}
    ).to_parquet(out_dir / "products.parquet", index=False)
    pd.DataFrame(
        {"query_id": queries["query_id"], "query": queries["query"], "language": "en", "kind": "real"}
    ).to_parquet(out_dir / "queries.parquet", index=False)
    labels = wands_label(judgments["relevance"])
    from models.schemas import WANDS_GAIN

    pd.DataFrame(
        {
            "query_id": judgments["query_id"],
            "sku": judgments["product_id"],
            "label": labels,
            "gain": labels.map(WANDS_GAIN),
        }
    ).to_parquet(out_dir / "judgments.parquet", index=False)
    return {"products": len(products), "queries": len(queries), "judgments": len(judgments)}
