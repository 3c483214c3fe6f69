"""Search evaluation of a bundle on the labelled queries: the same methods and metrics as
``omnirank eval-search``, over the bundle's own indexes and encoder, reported per query kind and
language so the multilingual weakness of an English-only encoder stays visible.
"""

from __future__ import annotations

from pathlib import Path

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


def full_stack_method(bundle_dir: Path, settings: Settings, model_file: str):
    """Rank with exactly what ``GET /v1/search`` runs, from the bundle alone."""
    from models.catalog import Catalog
    from models.search_engine import SearchEngine

    catalog = Catalog.load(Path(bundle_dir) / A.CATALOG_DIR)
    engine = SearchEngine.load(bundle_dir, catalog, model_file=model_file, threads=2)

    def method(queries: list[EvalQuery]) -> list[list[str]]:
        rankings = []
        for q in queries:
            result = engine.search(q.text, k=100)
            rankings.append([str(catalog.skus[h.item]) for h in result.hits])
        return rankings

    return method


def evaluate_search(
    bundle_dir: Path,
    queries: pd.DataFrame,
    judgments: pd.DataFrame,
    settings: Settings,
    model_file: str = "model.onnx",
    only: tuple[str, ...] | None = None,
) -> dict:
    """NDCG@10, MRR@10, recall@100 and zero-result rate for bm25, dense, hybrid and tuned fusion."""
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
    if only is None or "omnirank" in only:
        methods["omnirank"] = full_stack_method(bundle_dir, settings, model_file)
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
    return result
