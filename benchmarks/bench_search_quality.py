"""Search quality of the served stack beside a Lucene-class reference, layer by layer, on labelled queries.

For each target (a bundle and the labelled queries it is evaluated on) every row is scored by the
same code (``training.evaluate.evaluate_search`` -> ``training.eval_search.score_rankings``) on the
same selected queries:

* the rows ``omnirank evaluate`` reports: BM25 (the bundle's index), dense, untuned hybrid (RRF),
  fusion tuned by 5-fold CV on these queries, and ``omnirank``, the whole stack ``GET /v1/search``
  runs (``full_stack_method``);
* **tantivy**: a stemmed tantivy index (``en_stem``, BM25, the query's words OR'ed, top 100) over the
  bundle catalog's titles (``tantivy_reference.py``), the off-the-shelf engine a retailer would start
  from; and the same over title, brand and category (the text fields omnirank's BM25 weights), each
  a tantivy field of its own, a query word matching in any;
* the full stack with one layer switched off, on a copy of the served engine:
  ``- learned ranker`` (``ranker=None``: reciprocal rank fusion with the category boost, what a bundle
  without a ranker serves), ``- category classifier`` (no category intent is ever applied: no
  in-category retrieval, boost or ranker category features), ``- intent filters`` (price, colour,
  size, brand and recipient read from the query are not applied as filters; the query's words are
  retrieved as typed, spelling-corrected/translated), ``- query understanding`` (the query as typed:
  no spelling, translation, synonyms, category or constraints; the ranker still runs).

Per target it prints one table (NDCG@10, condensed NDCG@10, MRR@10, Recall@100, zero-result rate)
and the full stack's NDCG@10 as a multiple of BM25's and of tantivy's (the issue's target: x1.15 of
both), and writes every number to ``benchmarks/results/search_quality.json`` (or ``--out``).

Run (the committed sample, then Home Depot held-out, see the README's Results)::

    .venv/bin/python benchmarks/bench_search_quality.py --target sample /tmp/b22 data_samples
    .venv/bin/python benchmarks/bench_search_quality.py \\
        --target hd-heldout /tmp/hdl_bundles /tmp/hdl/queries.parquet /tmp/hdl/judgments.parquet

A target is ``NAME BUNDLE DATA_DIR`` (``queries`` and ``judgments`` tables in the import format,
as ``omnirank evaluate --data``) or ``NAME BUNDLE QUERIES JUDGMENTS`` (parquet files in that format,
or CSV files in the ``eval-search`` format as ``omnirank evaluate --queries/--judgments``).
Needs ``tantivy`` (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from common import machine_info, print_table, write_result
from tantivy_reference import tantivy_method

from models import artifacts as A
from models.bundle import Bundle
from models.catalog import Catalog
from models.config import Settings
from models.lru import BoundedLRU
from models.query.parser import ParsedQuery
from models.search_engine import SearchEngine
from training.evaluate import engine_method, evaluate_search, labelled_queries_from_csv

METRICS = ("ndcg@10", "ndcg@10_condensed", "mrr@10", "recall@100", "zero_result_rate")
LABELS = {
    "bm25": "BM25 (omnirank's index)",
    "tantivy": "tantivy (en_stem, BM25, titles)",
    "tantivy_fields": "tantivy (en_stem, BM25, title+brand+category)",
    "dense": "dense",
    "hybrid": "untuned hybrid (RRF)",
    "fusion_tuned": "tuned fusion (5-fold CV on these queries)",
    "omnirank": "full served stack",
    "omnirank - learned ranker": "full stack - learned ranker",
    "omnirank - category classifier": "full stack - category classifier",
    "omnirank - intent filters": "full stack - intent filters",
    "omnirank - query understanding": "full stack - query understanding",
}
TARGET_RATIO = 1.15
TANTIVY_FIELDS = ("title", "brand", "category")  # the text fields omnirank's own BM25 index weights
_HARD_CONSTRAINTS = {
    "price_min": None,
    "price_max": None,
    "colors": [],
    "sizes": [],
    "brands": [],
    "target": None,
}


class _NoIntentFilters:
    """The bundle's query understanding, with the constraints it reads (price, colour, size, brand,
    recipient) dropped and their words left in the retrieved text: nothing is filtered on them."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def parse(self, query: str) -> ParsedQuery:
        parsed = self.inner.parse(query)
        words = parsed.corrected or parsed.translated or parsed.query
        return parsed.model_copy(update=_HARD_CONSTRAINTS | {"text": words})


class _AsTyped:
    """No query understanding at all: the query is its own retrieval text, nothing else is read."""

    def parse(self, query: str) -> ParsedQuery:
        return ParsedQuery(query=query, text=query)


def layer_variants(engine: SearchEngine) -> dict[str, SearchEngine]:
    """Copies of the served engine with one layer off. A copy with another query model gets its
    own intent cache (a parse is cached per engine by query text)."""
    no_category = copy.copy(engine.query)
    no_category.category_threshold = math.inf  # a category is parsed but never applied
    entries = engine.intents.max_entries
    return {
        "omnirank - learned ranker": replace(engine, ranker=None),
        "omnirank - category classifier": replace(engine, query=no_category, intents=BoundedLRU(entries)),
        "omnirank - intent filters": replace(
            engine, query=_NoIntentFilters(engine.query), intents=BoundedLRU(entries)
        ),
        "omnirank - query understanding": replace(engine, query=_AsTyped(), intents=BoundedLRU(entries)),
    }


def read_target(paths: list[str], relevance_min: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(queries, judgments) as ``evaluate_search`` reads them, from a data dir or two files."""
    from training.ingest import read_table

    if len(paths) == 1:
        queries, judgments = read_table(Path(paths[0]), "queries"), read_table(Path(paths[0]), "judgments")
        if queries is None or judgments is None:
            sys.exit(f"{paths[0]} has no queries/judgments tables")
        return queries, judgments
    q, j = Path(paths[0]), Path(paths[1])
    if q.suffix == ".parquet":
        return pd.read_parquet(q), pd.read_parquet(j)
    return labelled_queries_from_csv([q], j, relevance_min=relevance_min)


def evaluate_target(
    name: str, bundle_arg: str, data: list[str], settings: Settings, relevance_min: float = 0.0
) -> dict[str, Any]:
    bundle = Bundle.open(Path(bundle_arg), verify=False).path
    queries, judgments = read_target(data, relevance_min)
    t0 = time.perf_counter()
    catalog = Catalog.load(bundle / A.CATALOG_DIR)
    engine = SearchEngine.load(bundle, catalog, threads=2)
    extra = {
        "tantivy": tantivy_method(catalog.products, ("title",)),
        "tantivy_fields": tantivy_method(catalog.products, TANTIVY_FIELDS),
    }
    extra |= {label: engine_method(variant) for label, variant in layer_variants(engine).items()}
    report = evaluate_search(bundle, queries, judgments, settings, extra_methods=extra)
    seconds = time.perf_counter() - t0
    methods = report["methods"]
    full = methods["omnirank"]["ndcg@10"]
    ratios = {
        f"omnirank_vs_{ref}": round(full / methods[ref]["ndcg@10"], 3) if methods[ref]["ndcg@10"] else None
        for ref in ("bm25", "tantivy", "tantivy_fields")
    }
    rows = []
    order = ["bm25", "tantivy", "tantivy_fields", "dense", "hybrid", "fusion_tuned", "omnirank"]
    order += [m for m in methods if m not in order]
    for method in order:
        m = methods[method]
        rows.append(
            [
                LABELS.get(method, method),
                f"{m['ndcg@10']:.4f}",
                f"{m['ndcg@10_condensed']:.4f}",
                f"{m['mrr@10']:.4f}",
                f"{m['recall@100']:.4f}",
                f"{m['zero_result_rate']:.2%}",
                f"x{m['ndcg@10'] / methods['bm25']['ndcg@10']:.3f}" if methods["bm25"]["ndcg@10"] else "-",
            ]
        )
    print_table(
        f"{name}: {report['n_queries']:,} labelled queries, bundle {bundle.name} ({seconds:.0f} s)",
        ["method", "NDCG@10", "condensed", "MRR@10", "Recall@100", "zero-result", "NDCG@10 x BM25"],
        rows,
    )
    met = all(
        ratios[r] is not None and ratios[r] >= TARGET_RATIO
        for r in ("omnirank_vs_bm25", "omnirank_vs_tantivy")
    )
    print(
        f"{name}: full stack NDCG@10 x{ratios['omnirank_vs_bm25']} vs BM25, "
        f"x{ratios['omnirank_vs_tantivy']} vs tantivy on titles "
        f"(x{ratios['omnirank_vs_tantivy_fields']} vs tantivy on {'+'.join(TANTIVY_FIELDS)}); target x{TARGET_RATIO} of both: "
        f"{'met' if met else 'NOT met'}"
    )
    return {
        "bundle": str(bundle),
        "data": data,
        "n_queries": report["n_queries"],
        "methods": methods,
        "ratios_ndcg@10": ratios,
        "target_ratio": TARGET_RATIO,
        "target_met": met,
        "by_kind": report["by_kind"],
        "by_language": report["by_language"],
        "notes": report["notes"],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target",
        nargs="+",
        action="append",
        required=True,
        metavar="ARG",
        help="NAME BUNDLE DATA_DIR or NAME BUNDLE QUERIES JUDGMENTS; repeat for several targets.",
    )
    parser.add_argument(
        "--relevance-min",
        type=float,
        default=0.0,
        help="CSV judgments only: gain = relevance - this (Home Depot's 1-3 grades: 1), as omnirank evaluate.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON result file (default benchmarks/results/search_quality.json).",
    )
    args = parser.parse_args()
    for target in args.target:
        if len(target) not in (3, 4):
            parser.error(f"--target takes 3 or 4 values, got {target}")
    settings = Settings()
    machine = machine_info()
    results = {t[0]: evaluate_target(t[0], t[1], t[2:], settings, args.relevance_min) for t in args.target}
    write_result("search_quality", {"targets": results, "machine": machine}, args.out)


if __name__ == "__main__":
    main()
