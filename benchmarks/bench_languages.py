"""Bengali and Hindi shoppers over an English catalog: quality and cost of the language layer, as served.

The same 120 Home Depot queries written five ways (``../shared/datasets/crosslingual_dev``: English,
Bengali script, Devanagari, romanised Bengali, romanised Hindi) are searched through the served
``SearchEngine`` of a bundle trained on the Home Depot catalog, twice in the same run:

* **before**: the language layer switched off (every query read as typed: what the service did
  before ``models/query/translate.py``), the baseline;
* **after**: the service as it is.

Per rendering it reports NDCG@10 (unjudged = 0) and the condensed NDCG@10 (same definitions as
``eval-search``), the share of weak guesses (``low_confidence``), the ratio to English of the same
queries, and search latency at one client (in-process, p50/p99 of a repeated query; the
translation alone of words seen for the first time, too).

Run: ``.venv/bin/python benchmarks/bench_languages.py --bundle BUNDLE_DIR`` where BUNDLE_DIR is a
bundle trained by ``omnirank import-dataset home-depot --source ../shared/datasets/home_depot --out
/tmp/hd && omnirank train --data /tmp/hd``. ``--sku-prefix HD-`` when the bundle's skus carry one.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from common import latency_stats, print_table, write_result

from models.bundle import Bundle
from models.catalog import Catalog
from models.metrics import condensed_ndcg_at_k, ndcg_at_k
from models.query.translate import Translation
from models.search_engine import SearchEngine

DEV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "crosslingual_dev"
RENDERINGS = ("en", "bn", "hi", "bn_latn", "hi_latn")


class _ReadAsTyped:
    """The translator switched off: every query is what the service read before the layer existed."""

    def translate(self, query: str) -> Translation:
        return Translation(text=query, language="en")


def run(engine: SearchEngine, skus: np.ndarray, queries: pd.DataFrame, gains: dict) -> dict:
    """Two passes over the queries: the first scores them and times the translation of words never
    seen (cold), the second times search as a shopper repeating a query gets it (warm)."""
    rows, cold_translate_s = [], []
    translator = engine.query.translator_
    pairs = list(zip(queries["query_id"].astype(str), queries["query"], strict=True))
    for qid, text in pairs:
        t0 = time.perf_counter()
        translator.translate(text)
        cold_translate_s.append(time.perf_counter() - t0)
        result = engine.search(text, k=100)
        ranked = [str(skus[h.item]) for h in result.hits]
        rows.append(
            (
                ndcg_at_k(ranked, gains[qid], 10),
                condensed_ndcg_at_k(ranked, gains[qid], 10),
                result.low_confidence,
            )
        )
    seconds = []
    for _, text in pairs:
        t0 = time.perf_counter()
        engine.search(text, k=20)
        seconds.append(time.perf_counter() - t0)
    arr = np.asarray(rows, dtype=float)
    return {
        "ndcg@10": round(float(arr[:, 0].mean()), 4),
        "ndcg@10_condensed": round(float(arr[:, 1].mean()), 4),
        "low_confidence_rate": round(float(arr[:, 2].mean()), 4),
        "latency": latency_stats(seconds),
        "translate_latency_cold": latency_stats(cold_translate_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True, help="Bundle version dir or bundles dir.")
    parser.add_argument("--dev", type=Path, default=DEV, help="The crosslingual_dev directory.")
    parser.add_argument("--sku-prefix", default="", help="Prefix the bundle put before product ids.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    bundle = Bundle.open(args.bundle, verify=False).path
    catalog = Catalog.load(bundle / "catalog")
    served = SearchEngine.load(bundle, catalog, threads=1)
    before = replace(served, query=_before_query(served))
    judgments = pd.read_csv(args.dev / "judgments.csv", dtype={"query_id": str, "product_id": str})
    gains: dict[str, dict[str, float]] = {}
    for qid, pid, rel in zip(
        judgments["query_id"], judgments["product_id"], judgments["relevance"], strict=True
    ):
        gains.setdefault(qid, {})[args.sku_prefix + pid] = max(float(rel) - 1.0, 0.0)
    skus = catalog.skus
    results: dict[str, dict] = {}
    for name in RENDERINGS:
        queries = pd.read_csv(args.dev / f"queries_{name}.csv", dtype={"query_id": str})
        results[name] = {
            "before": run(before, skus, queries, gains),
            "after": run(served, skus, queries, gains),
        }
    english = results["en"]["after"]["ndcg@10"]
    rows = []
    for name, r in results.items():
        rows.append(
            [
                name,
                r["before"]["ndcg@10"],
                r["after"]["ndcg@10"],
                r["after"]["ndcg@10_condensed"],
                round(r["after"]["ndcg@10"] / english, 2) if english else None,
                f"{r['after']['low_confidence_rate']:.1%}",
                r["before"]["latency"]["p99_ms"],
                r["after"]["latency"]["p99_ms"],
                r["before"]["latency"]["p50_ms"],
                r["after"]["latency"]["p50_ms"],
                r["after"]["translate_latency_cold"]["p99_ms"],
            ]
        )
    print_table(
        "Cross-lingual dev set (120 queries x 5 renderings), served search, 1 client",
        [
            "rendering",
            "NDCG@10 before",
            "NDCG@10 after",
            "condensed",
            "x English",
            "low-confidence",
            "p99 ms before",
            "p99 ms after",
            "p50 ms before",
            "p50 ms after",
            "translate p99 ms (cold)",
        ],
        rows,
    )
    write_result("languages", {"bundle": str(bundle), "results": results}, args.out)


def _before_query(engine: SearchEngine):
    """The engine's query understanding with the translator switched off (a shallow copy)."""
    import copy

    query = copy.copy(engine.query)
    query.translator_ = _ReadAsTyped()
    return query


if __name__ == "__main__":
    main()
