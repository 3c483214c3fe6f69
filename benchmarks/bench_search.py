"""Search and search-as-you-type latency: is hybrid search fast enough at 100k and 1M products?

Three catalog scales, each with two baselines measured in the same run:

* ``sample``: the trained bundle, over real HTTP against a live uvicorn (1 and 8 concurrent
  clients, each with 1 worker process and with 2 in the same run: ``--workers``), plus the same
  ``SearchEngine`` in-process, so the HTTP + JSON overhead is visible;
* ``home_depot``: 54,667 real product titles (../shared/datasets/home_depot) with real ONNX
  embeddings (cached under var/cache; ~4 minutes to encode on 2 quiet cores) and their own real
  queries;
* ``generated``: 100k / 1M products recombined from the sample catalog's titles and attributes;
  embeddings are the source product's real embedding plus gaussian noise (re-normalised), because
  encoding 1M texts is out of reach on 2 cores.

For the large scales the real ``SearchEngine`` is assembled in-process from the same classes a bundle
loads (Catalog, BM25Index, VectorIndex with the index type the pipeline would choose, OnnxEncoder,
the sample bundle's QueryUnderstanding), then the same indexes are published as a search-only bundle
(hard links, cached) and served by uvicorn for the HTTP rows (``--no-http-large`` skips them).
Baselines: BM25-only (``BM25Index.search``) and FAISS-only (``encode_query`` + ``VectorIndex.search``). Targets: search p99 <= 15 ms at <= 100k products and
<= 30 ms at 1M; suggest p99 <= 5 ms.

Run: ``.venv/bin/python benchmarks/bench_search.py --bundle /tmp/trial_bundles`` (see --help).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CACHE,
    REPO,
    LiveServer,
    console,
    file_hash,
    generated_products,
    http_worker,
    machine_info,
    print_table,
    rss_mb,
    run_load,
    verdict,
    write_result,
)

from models import artifacts as A  # noqa: E402
from models.bundle import SEARCH, BundleWriter, resolve_bundle_path  # noqa: E402
from models.catalog import Catalog  # noqa: E402
from models.config import Settings  # noqa: E402
from models.encoder import OnnxEncoder  # noqa: E402
from models.lexical import BM25Index  # noqa: E402
from models.query import QueryUnderstanding  # noqa: E402
from models.ranking import CandidateContext, load_ranker  # noqa: E402
from models.search_engine import SearchEngine  # noqa: E402
from models.suggest import Suggester  # noqa: E402
from models.vector_index import VectorIndex  # noqa: E402

HOME_DEPOT = REPO.parent / "shared" / "datasets" / "home_depot"
SEARCH_P99_TARGETS = ((100_000, 15.0), (1_000_000, 30.0))
SUGGEST_P99_TARGET = 5.0
PARSE_ADVERSARIAL_P99_TARGET = 1000.0  # a parse this slow is catastrophic regex backtracking
ADVERSARIAL_WORDS = (
    "under", "over", "between", "and", "to", "-", "$", "R$", "₹", "50", "1,000", "1.5", "até", "से", "तक",
    "size", "xl", "red", "vermelho", "लाल", "for", "men", "women", "kids", "gift", "cheap", "premium", "&",
)  # fmt: skip
NOISE_SIGMA = 0.025  # per dimension: cosine to the source embedding ~0.9


def search_target(n_items: int) -> float | None:
    """The p99 budget of the smallest target scale that covers ``n_items``."""
    for scale, target in SEARCH_P99_TARGETS:
        if n_items <= scale:
            return target
    return None


# --- query mix --------------------------------------------------------------------------------
def typing_prefixes(query: str) -> list[str]:
    """What a shopper's box holds while typing: a partial first word, then each completed word."""
    words = query.split()
    out = []
    if words and len(words[0]) > 4:
        out.append(words[0][: max(3, len(words[0]) - 2)])
    for n in range(1, len(words)):
        out.append(" ".join(words[:n]))
        if len(words[n]) > 4:
            out.append(" ".join(words[:n] + [words[n][:3]]))
    return out


def query_pool(queries: list[str], seed: int = 0) -> list[str]:
    """Unique full queries and typing prefixes, shuffled: each request is a cache-cold query."""
    pool = {q.strip() for q in queries if q and q.strip()}
    for q in list(pool):
        pool.update(p for p in typing_prefixes(q) if p.strip())
    out = sorted(pool)
    random.Random(seed).shuffle(out)
    return out


def slices(pool: list[str], sizes: list[int]) -> list[list[str]]:
    """Disjoint consecutive slices (cycling if the pool is short), so caches warmed by one run do not
    flatter the next."""
    out, start = [], 0
    for n in sizes:
        out.append([pool[(start + i) % len(pool)] for i in range(n)])
        start += n
    return out


# --- large catalogs ---------------------------------------------------------------------------
def cached_title_embeddings(
    csv_path: Path, encoder_dir: Path, model_file: str = "model.onnx", threads: int = 2
) -> np.ndarray:
    """Real ONNX embeddings of a catalog's titles, cached under var/cache keyed by file + model hash
    (encoding 54k titles takes ~4 minutes on 2 quiet cores, 13 on busy ones; a rerun should not pay it)."""
    key = file_hash(csv_path, extra=file_hash(encoder_dir / model_file))
    path = CACHE / f"title-embeddings-{key}.npy"
    if path.exists():
        return np.load(path)
    titles = pd.read_csv(csv_path, usecols=["title"])["title"].fillna("").astype(str).tolist()
    vectors = OnnxEncoder(encoder_dir, model_file=model_file, threads=threads).encode(
        titles, batch_size=64, show_progress=True
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.rename(path)
    return vectors


def home_depot_products(csv_path: Path) -> pd.DataFrame:
    """Real titles; the columns the engine filters on exist but are empty (the dataset has none)."""
    raw = pd.read_csv(csv_path, dtype={"product_id": str})
    n = len(raw)
    return pd.DataFrame(
        {
            "sku": "HD-" + raw["product_id"].astype(str),
            "title": raw["title"].fillna("").astype(str),
            "brand": pd.Series([None] * n, dtype=object),
            "category": "",
            "color": pd.Series([None] * n, dtype=object),
            "size": pd.Series([None] * n, dtype=object),
            "target": pd.Series([None] * n, dtype=object),
            "price": np.zeros(n),
            "replenishment_days": np.full(n, np.nan),
            "popularity": np.zeros(n),
        }
    )


def noisy_embeddings(base: np.ndarray, source: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((len(source), base.shape[1]), dtype=np.float32)
    for start in range(0, len(source), 100_000):
        block = base[source[start : start + 100_000]] + rng.normal(
            0, sigma, (min(100_000, len(source) - start), base.shape[1])
        )
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


@dataclass
class Indexes:
    products: pd.DataFrame
    bm25: BM25Index
    vectors: VectorIndex
    embeddings: np.ndarray
    seconds: dict[str, float]
    directory: Path  # the cache directory the indexes were built into


def build_or_load(name: str, key: str, products_fn, vectors_fn, settings: Settings) -> Indexes:
    """Build BM25 + FAISS for a catalog once and cache them (bm25s npy + faiss file, no pickle);
    later runs only load, as a service does."""
    d = CACHE / f"{name}-{key}"
    seconds: dict[str, float] = {}
    if not (d / "done").exists():
        d.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        products = products_fn()
        products.to_parquet(d / "products.parquet", index=False)
        products = products.drop(columns=["popularity"])
        seconds["products_s"] = time.perf_counter() - t
        t = time.perf_counter()
        BM25Index(k1=settings.bm25_k1, b=settings.bm25_b, stemming=settings.bm25_stemming).fit(
            products, products["sku"].tolist()
        ).save(d / "bm25")
        seconds["bm25_build_s"] = time.perf_counter() - t
        vecs = vectors_fn(products)
        t = time.perf_counter()
        console.print(f"building FAISS over {len(vecs):,} vectors (this is the slow part at 1M)")
        index = VectorIndex(
            exact_max_items=settings.exact_index_max_items,
            hnsw_m=settings.hnsw_m,
            ef_search=settings.hnsw_ef_search,
            ef_construction=settings.hnsw_ef_construction,
        ).build(vecs, products["sku"].tolist())
        index.save(d / "index")
        np.save(d / "embeddings.npy", np.asarray(vecs, dtype=np.float32))
        seconds["faiss_build_s"] = time.perf_counter() - t
        (d / "build.json").write_text(json.dumps(seconds))
        (d / "done").write_text("ok")
        del products, vecs, index
        gc.collect()
    else:
        seconds = json.loads((d / "build.json").read_text())
    gc.collect()
    before = rss_mb()
    products = pd.read_parquet(d / "products.parquet")
    bm25 = BM25Index.load(d / "bm25")
    vectors = VectorIndex.load(d / "index")
    if not (d / "embeddings.npy").exists():  # caches built before the engine kept a matrix too
        np.save(d / "embeddings.npy", vectors.index_.reconstruct_n(0, len(vectors)))
    embeddings = np.load(d / "embeddings.npy", mmap_mode="r")  # as SearchEngine.load maps the bundle's
    gc.collect()
    seconds["load_rss_mb"] = rss_mb() - before
    return Indexes(products, bm25, vectors, embeddings, seconds, d)


def generated_indexes(bundle: Path, size: int, settings: Settings) -> Indexes:
    """The generated catalog of ``size`` products for this bundle (built once, then cached)."""
    sample_products = pd.read_parquet(bundle / A.CATALOG_DIR / "products.parquet")
    base = np.load(bundle / A.PRODUCT_EMBEDDINGS)
    pop_file = bundle / A.POPULARITY
    popularity = np.load(pop_file) if pop_file.exists() else np.zeros(len(sample_products))
    params = [
        size,
        NOISE_SIGMA,
        settings.exact_index_max_items,
        settings.hnsw_m,
        settings.hnsw_ef_construction,
    ]
    key = file_hash(bundle / A.PRODUCT_EMBEDDINGS, extra=json.dumps(params))
    holder: dict[str, np.ndarray] = {}

    def make_products() -> pd.DataFrame:
        products, holder["source"] = generated_products(sample_products, popularity, size)
        return products

    return build_or_load(
        f"generated{size}",
        key,
        make_products,
        lambda p: noisy_embeddings(base, holder["source"], NOISE_SIGMA),
        settings,
    )


def search_only_bundle(ix: Indexes, bundle: Path, settings: Settings) -> tuple[Path, dict[str, float]]:
    """A search-only bundle over a large catalog, so the real service can serve it over HTTP.

    The catalog's indexes are hard-linked from the cache (no copy of GBs); query understanding, the
    encoder, the ranker and the default rules come from the sample bundle, as in the in-process rows.
    The suggester is fitted on the catalog and saved in the bundle (the service would otherwise fit
    it at start-up). Built once per (catalog, sample bundle) and cached. Returns the bundles
    directory and the seconds spent (suggester fit, publish with checksums).
    """
    root = ix.directory / f"bundles-{bundle.name}"
    timing_file = root / "assembly.json"
    if (root / "latest").exists() and timing_file.exists():
        return root, json.loads(timing_file.read_text())
    shutil.rmtree(root, ignore_errors=True)
    seconds: dict[str, float] = {}

    def link_tree(src: Path, relative_dir: str) -> None:
        for f in src.rglob("*"):
            if f.is_file():
                os.link(f, out.file(f"{relative_dir}/{f.relative_to(src)}"))

    with BundleWriter(root) as out:
        products = ix.products.drop(columns=["popularity"])
        Catalog(products, [], np.zeros((0, len(products)), dtype=np.int32)).save(
            out.file(A.CATALOG_DIR + "/x").parent
        )
        np.save(out.file(A.POPULARITY), ix.products["popularity"].to_numpy(dtype=np.float64))
        link_tree(ix.directory / "bm25", A.BM25_DIR)
        link_tree(ix.directory / "index", A.PRODUCT_INDEX_DIR)
        os.link(ix.directory / "embeddings.npy", out.file(A.PRODUCT_EMBEDDINGS))
        for relative in (A.ENCODER_DIR, A.QUERY_DIR):
            link_tree(bundle / relative, relative)
        for relative in (A.RANKER, A.RULES):
            if (bundle / relative).exists():
                os.link(bundle / relative, out.file(relative))
        t = time.perf_counter()
        Suggester(max_k=settings.suggest_max_k).fit(products).save(out.file(A.SUGGEST_DIR + "/x").parent)
        seconds["suggester_fit_s"] = time.perf_counter() - t
        manifest = json.loads((bundle / "manifest.json").read_text())
        t = time.perf_counter()
        out.publish(
            data_fingerprint=file_hash(ix.directory / "products.parquet"),
            parameters={"source": str(ix.directory.name), "sample_bundle": bundle.name},
            metrics={"encoder": manifest["metrics"]["encoder"]},  # which query model (int8 or fp32) to serve
            extra={"catalog_size": len(products), "stores": []},
            components=[SEARCH],
        )
        seconds["publish_s"] = time.perf_counter() - t
    timing_file.write_text(json.dumps(seconds))
    return root, seconds


def engine_over(ix: Indexes, bundle: Path, settings: Settings) -> tuple[SearchEngine, float]:
    """The real SearchEngine over a scaled catalog; query understanding and encoder from the bundle.
    Returns the engine and the RSS the catalog adds (MiB)."""
    gc.collect()
    before = rss_mb()
    products = ix.products.drop(columns=["popularity"])
    catalog = Catalog(products, [], np.zeros((0, len(products)), dtype=np.int32))
    ranker = load_ranker(bundle / A.RANKER) if (bundle / A.RANKER).exists() else None
    context = (
        CandidateContext.from_products(catalog.products, ix.products["popularity"].to_numpy())
        if ranker
        else None
    )
    gc.collect()
    added = rss_mb() - before
    manifest = json.loads((bundle / "manifest.json").read_text())
    engine = SearchEngine(
        catalog=catalog,
        bm25=ix.bm25,
        vectors=ix.vectors,
        encoder=OnnxEncoder(
            bundle / A.ENCODER_DIR, model_file=A.query_model_file(manifest), threads=settings.onnx_threads
        ),
        query=QueryUnderstanding.load(bundle / A.QUERY_DIR),
        ranker=ranker,
        ranking_context=context,
        **({"embeddings": ix.embeddings} if "embeddings" in SearchEngine.__dataclass_fields__ else {}),
    )
    return engine, added


# --- measurement ------------------------------------------------------------------------------
def inproc(fn, items: list[Any], max_seconds: float) -> dict[str, Any]:
    return run_load(lambda: fn, items, 1, max_seconds)


def baselines(
    engine: SearchEngine, bundle: Path, queries: list[str], max_seconds: float, settings: Settings
) -> list[tuple[str, dict]]:
    manifest = json.loads((bundle / "manifest.json").read_text())
    fresh = OnnxEncoder(
        bundle / A.ENCODER_DIR, model_file=A.query_model_file(manifest), threads=settings.onnx_threads
    )
    rows = [
        (
            "bm25-only (BM25Index.search k=20)",
            inproc(lambda q: engine.bm25.search(q, k=20), queries, max_seconds),
        ),
        (
            "faiss-only (encode + VectorIndex.search k=20)",
            inproc(lambda q: engine.vectors.search(fresh.encode_query(q)[None, :], 20), queries, max_seconds),
        ),
        ("onnx query encode only", inproc(lambda q: OnnxEncoder._run(fresh, [q]), queries, max_seconds)),
    ]
    return rows


def adversarial_queries(n: int, seed: int = 0) -> list[str]:
    """Texts like the query parser's property test draws (tests/models/test_properties.py): soups of
    price words and numbers up to 60 words, and runs of digits and separators up to 400 characters."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if i % 2:
            out.append(" ".join(rng.choice(ADVERSARIAL_WORDS, size=int(rng.integers(1, 61)))))
        else:
            out.append("".join(rng.choice(list("10,.- 5$"), size=int(rng.integers(1, 401)))))
    return out


def suggester_for(products: pd.DataFrame, settings: Settings) -> tuple[Suggester, float]:
    t = time.perf_counter()
    s = Suggester(max_k=settings.suggest_max_k).fit(products)
    return s, time.perf_counter() - t


def row(
    scale: str,
    n_items: int,
    system: str,
    stats: dict,
    target: float | None,
    http: bool,
    workers: int | None = None,
) -> dict[str, Any]:
    """One result row; ``workers`` is the number of uvicorn worker processes (None in-process)."""
    return {
        "scale": scale,
        "n_items": n_items,
        "system": system,
        "transport": "http" if http else "in-process",
        "workers": workers,
        **stats,
        "target_p99_ms": target,
        "verdict": verdict(stats.get("p99_ms"), target),
    }


def bench_sample(
    bundle_root: Path, args: argparse.Namespace, settings: Settings, notes: list[str]
) -> tuple[list[dict], dict]:
    from service.state import BundleView

    bundle = resolve_bundle_path(bundle_root)
    queries = pd.read_parquet(args.queries)["query"].astype(str).tolist()
    pool = query_pool(queries)
    warm, one, many = slices(pool, [30, args.requests, args.requests])
    sugg_pool = [p for p in query_pool(queries, seed=1) if len(p) <= 12]
    s_warm, s_one, s_many = slices(sugg_pool, [30, args.requests, args.requests])
    n = json.loads((bundle / "manifest.json").read_text()).get("catalog_size", 0)
    rows: list[dict] = []
    extra: dict[str, Any] = {
        "pool_size": len(pool),
        "suggest_pool_size": len(sugg_pool),
        "server_rss_mb_by_workers": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for w in args.workers:
            # The same queries for every worker count, so the rows differ only in the server.
            with LiveServer(bundle_root, Path(tmp) / f"server-{w}", workers=w) as server:
                extra["server_rss_mb_by_workers"][str(w)] = server.rss_mb()
                rows += http_rows(
                    server.url, "sample", n, w, (warm, one, many), (s_warm, s_one, s_many), args, notes
                )
        s = settings.model_copy(
            update={"event_store_path": Path(tmp) / "ev.sqlite3", "rules_path": Path(tmp) / "rules.json"}
        )
        gc.collect()
        before = rss_mb()
        state = BundleView.load(s, bundle)
        gc.collect()
        extra["inprocess_state_rss_mb"] = rss_mb() - before
        engine = state.search
        for q in warm:
            engine.search(q)
        st = inproc(lambda q: engine.search(q, k=20), one, args.max_seconds)
        rows.append(row("sample", n, "hybrid SearchEngine.search", st, search_target(n), False))
        if state.suggester is not None:
            st = inproc(lambda q: state.suggester.suggest(q, 10), s_one, args.max_seconds)
            rows.append(row("sample", n, "Suggester.suggest", st, SUGGEST_P99_TARGET, False))
        for name, st in baselines(engine, bundle, one, args.max_seconds, settings):
            rows.append(row("sample", n, name, st, None, False))
        st = inproc(engine.query.parse, adversarial_queries(args.requests), args.max_seconds)
        rows.append(
            row("sample", n, "query parse, adversarial text", st, PARSE_ADVERSARIAL_P99_TARGET, False)
        )
    http = next(
        r
        for r in rows
        if r["transport"] == "http"
        and r["concurrency"] == 1
        and r["workers"] == min(args.workers)
        and "search" in r["system"]
    )
    local = next(r for r in rows if r["system"] == "hybrid SearchEngine.search")
    extra["http_overhead_p50_ms"] = http["p50_ms"] - local["p50_ms"]
    extra["http_overhead_p99_ms"] = http["p99_ms"] - local["p99_ms"]
    return rows, extra


def http_rows(
    url: str,
    scale: str,
    n: int,
    workers: int,
    search_qs: tuple[list[str], list[str], list[str]],
    suggest_qs: tuple[list[str], list[str], list[str]],
    args: argparse.Namespace,
    notes: list[str],
) -> list[dict]:
    """Search and suggest over HTTP against one live server: a warm-up, then 1 and 8 clients."""
    rows: list[dict] = []
    routes = json.loads(__import__("httpx").get(url + "/openapi.json").text)["paths"]
    for path, system, target, (warm, one, many) in (
        ("/v1/search", "hybrid search GET /v1/search", search_target(n), search_qs),
        ("/v1/suggest", "suggest GET /v1/suggest", SUGGEST_P99_TARGET, suggest_qs),
    ):
        if path not in routes:
            notes.append(f"{path} is not a route of this app: not measured over HTTP")
            continue
        run_load(
            http_worker(url), [(path, {"q": q}) for q in warm], min(8, workers * 4)
        )  # warms every worker
        for c, qs in ((1, one), (8, many)):
            answered_by: dict[str, int] = {}
            st = run_load(
                http_worker(url, answered_by=answered_by), [(path, {"q": q}) for q in qs], c, args.max_seconds
            )
            st["requests_per_worker"] = sorted(answered_by.values(), reverse=True)
            rows.append(row(scale, n, system, st, target, True, workers))
    return rows


def bench_scaled_http(
    scale: str,
    bundles_dir: Path,
    n: int,
    queries: list[str],
    args: argparse.Namespace,
    notes: list[str],
    extra: dict[str, Any],
) -> list[dict]:
    """The large catalog's search-only bundle served by ``uvicorn`` (1 worker): search and suggest
    over HTTP at 1 and 8 clients, the same load as the sample scale's."""
    pool = query_pool(queries, seed=2)  # a different order than the in-process rows: cold encoder cache
    sugg_pool = [p for p in query_pool(queries, seed=3) if len(p) <= 12]
    search_qs = tuple(slices(pool, [30, args.requests, args.requests]))
    suggest_qs = tuple(slices(sugg_pool, [30, args.requests, args.requests]))
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        t = time.perf_counter()
        with LiveServer(bundles_dir, Path(tmp) / "server", startup_timeout_s=900.0) as server:
            extra["server_start_s"] = time.perf_counter() - t  # checksums of every file, index load
            extra["server_rss_mb_by_workers"] = {"1": server.rss_mb()}
            return http_rows(server.url, scale, n, 1, search_qs, suggest_qs, args, notes)


def bench_scaled(
    scale: str,
    ix: Indexes,
    bundle: Path,
    queries: list[str],
    args: argparse.Namespace,
    settings: Settings,
    with_suggest: bool,
) -> tuple[list[dict], dict]:
    n = len(ix.products)
    engine, catalog_mb = engine_over(ix, bundle, settings)
    pool = query_pool(queries)
    warm, one = slices(pool, [20, args.requests])
    for q in warm:
        engine.search(q)
    rows = [
        row(
            scale,
            n,
            "hybrid SearchEngine.search",
            inproc(lambda q: engine.search(q, k=20), one, args.max_seconds),
            search_target(n),
            False,
        )
    ]
    for name, st in baselines(engine, bundle, one, args.max_seconds, settings):
        rows.append(row(scale, n, name, st, None, False))
    extra: dict[str, Any] = {
        "index_factory": ix.vectors.factory_,
        "hnsw_ef_construction": settings.hnsw_ef_construction,
        "hnsw_ef_search": ix.vectors.ef_search,
        "build": ix.seconds,
        "catalog_rss_mb": catalog_mb,
        "rss_mb_per_million": (ix.seconds["load_rss_mb"] + catalog_mb) * 1e6 / n,
    }
    if with_suggest:
        gc.collect()
        before = rss_mb()
        sugg, fit_s = suggester_for(ix.products, settings)
        extra["suggester_fit_s"], extra["suggester_rss_mb"] = fit_s, rss_mb() - before
        s_one = [p for p in query_pool(queries, seed=1) if len(p) <= 12][: args.requests]
        rows.append(
            row(
                scale,
                n,
                "Suggester.suggest",
                inproc(lambda q: sugg.suggest(q, 10), s_one, args.max_seconds),
                SUGGEST_P99_TARGET,
                False,
            )
        )
    return rows, extra


def served_over_http(
    scale: str,
    ix: Indexes,
    bundle: Path,
    queries: list[str],
    args: argparse.Namespace,
    settings: Settings,
    notes: list[str],
    extra: dict[str, Any],
) -> list[dict]:
    """HTTP rows for a large catalog. The in-process indexes are released first (``ix`` keeps only
    its cache directory), so they never sit in memory beside the server's own copy."""
    if not args.http_large:
        return []
    bundles_dir, extra["bundle_assembly"] = search_only_bundle(ix, bundle, settings)
    n = len(ix.products)
    ix.products = ix.bm25 = ix.vectors = ix.embeddings = None  # type: ignore[assignment]
    gc.collect()
    return bench_scaled_http(scale, bundles_dir, n, queries, args, notes, extra)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument(
        "--bundle", type=Path, default=None, help="bundles dir or version dir (default: settings bundles_dir)"
    )
    parser.add_argument(
        "--queries",
        type=Path,
        default=REPO / "data_samples" / "queries.parquet",
        help="labelled sample queries",
    )
    parser.add_argument(
        "--scales", default="sample,home_depot,generated", help="comma list of sample, home_depot, generated"
    )
    parser.add_argument(
        "--generated-sizes", default="100000,1000000", help="comma list of generated catalog sizes"
    )
    parser.add_argument("--requests", type=int, default=400, help="requests per measured run")
    parser.add_argument(
        "--workers",
        type=lambda v: sorted({int(x) for x in v.split(",") if x.strip()}),
        default=[1, 2],
        help="comma list of uvicorn worker counts for the sample-scale HTTP runs (default 1,2)",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="cap on each measured run (it stops early)"
    )
    parser.add_argument(
        "--home-depot", type=Path, default=HOME_DEPOT, help="dir with products.csv and queries.csv"
    )
    parser.add_argument(
        "--suggest-max-items",
        type=int,
        default=200_000,
        help="fit a Suggester on large catalogs up to this size (fit is minutes at 1M)",
    )
    parser.add_argument(
        "--no-http-large",
        dest="http_large",
        action="store_false",
        help="skip serving the large catalogs over HTTP (a search-only bundle each, built once and cached)",
    )
    parser.add_argument(
        "--ef-construction",
        type=int,
        default=None,
        help="HNSW efConstruction of the large catalogs' index (default: settings, 200; building 1M at 200 takes ~40 min on 2 shared cores)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results (default benchmarks/results/search.json)"
    )
    args = parser.parse_args()

    settings = Settings()
    if args.ef_construction:
        settings = settings.model_copy(update={"hnsw_ef_construction": args.ef_construction})
    machine = machine_info()
    bundle_root = args.bundle or settings.bundles_dir
    bundle = resolve_bundle_path(bundle_root)
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    rows: list[dict] = []
    extras: dict[str, Any] = {}
    notes = [
        "HTTP rows: 1 and 8 clients against a server with 1 and with more uvicorn worker processes (column workers); the load generator (httpx threads) shares the same cores as the server",
        "every request carries a distinct query (labelled queries + typing prefixes): the query-encoder LRU cache is cold",
        "large scales: real SearchEngine assembled in-process; QueryUnderstanding and query encoder from the sample bundle",
    ]
    if "sample" in scales:
        r, extras["sample"] = bench_sample(bundle_root, args, settings, notes)
        rows += r
    sample_queries = pd.read_parquet(args.queries)["query"].astype(str).tolist()
    if "home_depot" in scales:
        csv = args.home_depot / "products.csv"
        if not csv.exists():
            notes.append(f"home_depot skipped: {csv} not found")
        else:
            manifest = json.loads((bundle / "manifest.json").read_text())
            key = file_hash(
                csv,
                extra=json.dumps(
                    [settings.exact_index_max_items, settings.hnsw_m, settings.hnsw_ef_construction]
                ),
            )
            ix = build_or_load(
                "home_depot",
                key,
                lambda: home_depot_products(csv),
                lambda p: cached_title_embeddings(csv, bundle / A.ENCODER_DIR, A.MODEL_FILE),
                settings,
            )
            hd_queries = pd.read_csv(args.home_depot / "queries.csv")["query"].astype(str).tolist()
            r, extras["home_depot"] = bench_scaled(
                "home_depot",
                ix,
                bundle,
                hd_queries,
                args,
                settings,
                len(ix.products) <= args.suggest_max_items,
            )
            extras["home_depot"]["query_model"] = A.query_model_file(manifest)
            rows += r
            rows += served_over_http(
                "home_depot", ix, bundle, hd_queries, args, settings, notes, extras["home_depot"]
            )
            del ix
            gc.collect()
    if "generated" in scales:
        for size in [int(s) for s in args.generated_sizes.split(",") if s.strip()]:
            ix = generated_indexes(bundle, size, settings)
            r, extras[f"generated_{size}"] = bench_scaled(
                f"generated {size:,}",
                ix,
                bundle,
                sample_queries,
                args,
                settings,
                len(ix.products) <= args.suggest_max_items,
            )
            rows += r
            rows += served_over_http(
                f"generated {size:,}",
                ix,
                bundle,
                sample_queries,
                args,
                settings,
                notes,
                extras[f"generated_{size}"],
            )
            del ix
            gc.collect()
        notes.append(
            f"generated catalogs: titles recombined from sample titles; embeddings = source product embedding + N(0, {NOISE_SIGMA}^2) per dim, re-normalised (synthetic)"
        )

    print_table(
        f"search latency (load avg at start {machine['loadavg_start']})",
        [
            "scale",
            "items",
            "system",
            "via",
            "clients",
            "workers",
            "n",
            "p50 ms",
            "p99 ms",
            "req/s",
            "errors",
            "per worker",
            "target p99",
            "verdict",
        ],
        [
            [
                r["scale"],
                r["n_items"],
                r["system"],
                r["transport"],
                r["concurrency"],
                r["workers"],
                r["n"],
                r["p50_ms"],
                r["p99_ms"],
                r["per_s"],
                r["errors"],
                "/".join(map(str, r.get("requests_per_worker", []))) or "-",
                r["target_p99_ms"],
                r["verdict"],
            ]
            for r in rows
        ],
    )
    mem = [
        [
            k,
            v.get("index_factory", "-"),
            v.get("rss_mb_per_million"),
            ", ".join(f"{w} worker(s): {mb:,.0f}" for w, mb in v.get("server_rss_mb_by_workers", {}).items()),
        ]
        for k, v in extras.items()
    ]
    print_table(
        "memory (MiB; per million products = RSS delta of indexes + catalog, scaled)",
        ["scale", "faiss", "MiB / 1M items", "server RSS (all processes)"],
        mem,
    )
    if "sample" in extras:
        console.print(
            f"HTTP + JSON overhead at sample scale: p50 {extras['sample']['http_overhead_p50_ms']:.2f} ms, p99 {extras['sample']['http_overhead_p99_ms']:.2f} ms"
        )
    write_result(
        "search",
        {
            "machine": machine,
            "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "bundle": str(bundle),
            "rows": rows,
            "scales": extras,
            "notes": notes,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
