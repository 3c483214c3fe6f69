"""Search evaluation of a bundle on the labelled queries: the same methods and metrics as
``omnirank eval-search``, over the bundle's own indexes and encoder, reported per query kind and
language so the multilingual weakness of an English-only encoder stays visible.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from models import artifacts as A
from models.config import Settings
from models.encoder import OnnxEncoder
from models.lexical import BM25Index
from models.vector_index import VectorIndex
from training.eval_search import EvalQuery, Retrievers, build_methods, score_rankings, select_queries


def load_bundle_retrievers(
    bundle_dir: Path, settings: Settings, model_file: str = "model.onnx"
) -> Retrievers:
    bundle_dir = Path(bundle_dir)
    return Retrievers(
        bm25=BM25Index.load(bundle_dir / A.BM25_DIR),
        index=VectorIndex.load(bundle_dir / A.PRODUCT_INDEX_DIR),
        encoder=OnnxEncoder(
            bundle_dir / A.ENCODER_DIR, model_file=model_file, max_length=settings.encoder_max_seq_length
        ),
        depth=max(settings.search_candidates, 100),
        batch_size=settings.encoder_batch_size,
    )


def full_stack_method(
    bundle_dir: Path, settings: Settings, model_file: str, low_confidence: dict[str, bool] | None = None
):
    """Rank with exactly what ``GET /v1/search`` runs, from the bundle alone; ``low_confidence``
    collects, per query id, whether the service would flag its answer as a weak guess."""
    from models.catalog import Catalog
    from models.search_engine import SearchEngine

    catalog = Catalog.load(Path(bundle_dir) / A.CATALOG_DIR)
    engine = SearchEngine.load(bundle_dir, catalog, model_file=model_file, threads=2)
    return engine_method(engine, low_confidence)


def engine_method(engine, low_confidence: dict[str, bool] | None = None):
    """An evaluation method (queries -> ranked skus) over a loaded ``SearchEngine``: the top 100 of
    ``engine.search``, as ``GET /v1/search`` returns them (a copy of the engine with a layer switched
    off is evaluated the same way)."""

    def method(queries: list[EvalQuery]) -> list[list[str]]:
        rankings = []
        for q in queries:
            result = engine.search(q.text, k=100)
            rankings.append([str(engine.catalog.skus[h.item]) for h in result.hits])
            if low_confidence is not None:
                low_confidence[q.query_id] = result.low_confidence
        return rankings

    return method


def evaluate_search(
    bundle_dir: Path,
    queries: pd.DataFrame,
    judgments: pd.DataFrame,
    settings: Settings,
    model_file: str = "model.onnx",
    only: tuple[str, ...] | None = None,
    extra_methods: dict[str, Callable[[list[EvalQuery]], list[list[str]]]] | None = None,
) -> dict:
    """NDCG@10, MRR@10, recall@100 and zero-result rate for bm25, dense, hybrid and tuned fusion.

    ``extra_methods`` (name -> queries -> ranked skus) are scored beside them on the same selected
    queries with the same metrics (a reference engine, the full stack with a layer switched off)."""
    gains: dict[str, dict[str, float]] = {}
    for qid, sku, gain in zip(
        judgments["query_id"], judgments["sku"], judgments["gain"].astype(float), strict=True
    ):
        gains.setdefault(str(qid), {})[str(sku)] = gain
    all_queries = [
        EvalQuery(str(q), str(t)) for q, t in zip(queries["query_id"], queries["query"], strict=True)
    ]
    selected, _ = select_queries(all_queries, gains, None, settings.random_seed)
    notes: list[str] = []
    retrievers = load_bundle_retrievers(bundle_dir, settings, model_file)
    methods = build_methods(retrievers, gains, settings, folds=5, notes=notes)
    methods["fusion_tuned"] = methods.pop("omnirank")
    weak: dict[str, bool] = {}
    if only is None or "omnirank" in only:
        methods["omnirank"] = full_stack_method(bundle_dir, settings, model_file, weak)
    methods.update(extra_methods or {})
    notes.append(
        "omnirank = the service's whole search stack (query understanding, filters from intent, "
        "hybrid retrieval, learned ranker trained on search-click logs only, never on these judgments)"
    )
    meta = queries.set_index(queries["query_id"].astype(str))
    result: dict = {
        "n_queries": len(selected),
        "methods": {},
        "by_language": {},
        "by_kind": {},
        "notes": notes,
    }
    rankings = {name: method(selected) for name, method in methods.items() if only is None or name in only}
    for name, ranked in rankings.items():
        result["methods"][name] = score_rankings(ranked, [gains[q.query_id] for q in selected])
    if "omnirank" in rankings:
        # a weak guess is no answer: counted with the empty ones, and on its own
        flags = [weak.get(q.query_id, False) for q in selected]
        empty = [not r for r in rankings["omnirank"]]
        result["methods"]["omnirank"]["low_confidence_rate"] = (
            round(float(np.mean(flags)), 4) if flags else 0.0
        )
        result["methods"]["omnirank"]["zero_or_low_confidence_rate"] = (
            round(float(np.mean([a or b for a, b in zip(flags, empty, strict=True)])), 4) if flags else 0.0
        )
    for column, key in (("language", "by_language"), ("kind", "by_kind")):
        groups: dict[str, list[int]] = {}
        for i, q in enumerate(selected):
            groups.setdefault(str(meta.loc[q.query_id, column]), []).append(i)
        for group, idx in sorted(groups.items()):
            result[key][group] = {
                name: score_rankings([ranked[i] for i in idx], [gains[selected[i].query_id] for i in idx])[
                    "ndcg@10"
                ]
                for name, ranked in rankings.items()
            } | {"n": len(idx)}
            if key == "by_language" and "omnirank" in rankings:
                result[key][group]["omnirank_condensed"] = score_rankings(
                    [rankings["omnirank"][i] for i in idx], [gains[selected[i].query_id] for i in idx]
                )["ndcg@10_condensed"]
                result[key][group]["low_confidence_rate"] = round(
                    float(np.mean([weak.get(selected[i].query_id, False) for i in idx])), 4
                )
    return result


LANGUAGE_SUFFIXES = {
    "bn_latn": "bn-Latn",
    "hi_latn": "hi-Latn",
    "bn": "bn",
    "hi": "hi",
    "en": "en",
    "pt": "pt",
}


def language_of_file(path: Path) -> str:
    """``queries_bn_latn.csv`` -> ``bn-Latn``: the language a query file's name ends with, or its stem."""
    stem = path.stem.lower()
    for suffix, language in LANGUAGE_SUFFIXES.items():
        if stem == suffix or stem.endswith("_" + suffix):
            return language
    return stem


def labelled_queries_from_csv(
    query_files: list[Path], judgments_file: Path, relevance_min: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(queries, judgments) as ``evaluate_search`` reads them, from CSV files in the ``eval-search``
    format. Several query files are renderings of the same queries in several languages (the
    language from a ``language``/``lang`` column, else from the file name); each rendering is scored
    on the same judgments under its own id, so the by-language table compares like with like."""
    from training.eval_search import _read_csv, load_gains

    gains, _ = load_gains(judgments_file, relevance_min)
    q_rows, j_rows = [], []
    for path in query_files:
        df = _read_csv(path, ["query_id", "query"], "queries")
        column = next((c for c in ("language", "lang") if c in df.columns), None)
        default = language_of_file(path)
        for row in df.to_dict("records"):
            qid = str(row["query_id"]).strip()
            language = str(row[column]).strip() if column and str(row[column]).strip() else default
            uid = f"{language}:{qid}" if len(query_files) > 1 else qid
            q_rows.append(
                {"query_id": uid, "query": str(row["query"]), "language": language, "kind": "judged"}
            )
            for sku, gain in gains.get(qid, {}).items():
                j_rows.append({"query_id": uid, "sku": sku, "gain": gain})
    return pd.DataFrame(q_rows), pd.DataFrame(j_rows, columns=["query_id", "sku", "gain"])


def print_by_language(report: dict) -> None:
    """The per-language table: NDCG@10 of each method, and the full stack against English."""
    rows = report.get("by_language", {})
    if not rows:
        return
    methods = [m for m in ("bm25", "dense", "fusion_tuned", "omnirank") if m in next(iter(rows.values()))]
    english = rows.get("en", {}).get("omnirank")
    header = ["language", "n", *methods, "condensed", "low-confidence", "vs en"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for language, row in rows.items():
        ratio = f"{row['omnirank'] / english:.2f}" if english and "omnirank" in row else "-"
        cells = [language, str(row["n"]), *(f"{row[m]:.4f}" for m in methods)]
        cells += [
            f"{row.get('omnirank_condensed', 0):.4f}",
            f"{row.get('low_confidence_rate', 0):.1%}",
            ratio,
        ]
        print("| " + " | ".join(cells) + " |")
