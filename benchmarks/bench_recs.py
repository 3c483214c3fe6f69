"""Recommendation serving latency and live event ingestion: fast enough for 1M customers?

* ``scale``: the real ``RecommendationEngine.for_customer`` (eligibility and exclusion rules, ALS
  scoring with fold-in of the history row, per-category diversification, reasons from co-purchase)
  over a 100k-item catalog with synthetic ALS factors for 1M customers (the bundle's blend contains
  EASE, an items x items dense matrix that cannot exist at 100k items, so the ALS serving path is
  what scales). Baseline: the bare numpy lower bound, stored user vector . item factors + argpartition.
* ``http``: the trained sample bundle behind a live uvicorn on 127.0.0.1: customer recommendations
  (target p99 <= 10 ms), the associate's profile (target p99 <= 20 ms), and the trending endpoint
  as the HTTP floor baseline; 1 and 8 concurrent clients.
* ``events``: ``POST /v1/events`` with batches of 500 (target >= 5,000 events/s sustained), checked
  for loss (rows in the SQLite store == events accepted); baseline: one event per request.

Run: ``.venv/bin/python benchmarks/bench_recs.py --bundle BUNDLES`` (see --help).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    LiveServer,
    console,
    generated_products,
    http_worker,
    latency_stats,
    machine_info,
    print_table,
    rss_mb,
    run_load,
    verdict,
    write_result,
)

from models import artifacts as A  # noqa: E402
from models.bundle import resolve_bundle_path  # noqa: E402
from models.catalog import Catalog  # noqa: E402
from models.config import Settings  # noqa: E402
from models.copurchase import CoPurchase  # noqa: E402
from models.recommend import Context, Interaction, RecommendationEngine  # noqa: E402
from models.recommenders.base import top_n  # noqa: E402
from models.recommenders.factor import ALSRecommender  # noqa: E402
from models.trending import Trending  # noqa: E402
from service.event_store import EventStore  # noqa: E402

RECS_P99_TARGET = 10.0
PROFILE_P99_TARGET = 20.0
EVENTS_PER_S_TARGET = 5_000.0
EVENT_TYPES = ("view", "view", "view", "add_to_cart", "purchase", "search_click", "email_click")
CHANNELS = ("web", "app", "store", "email")


# --- scale: 1M customers x 100k items ---------------------------------------------------------
def synthetic_engine(
    n_items: int, n_users: int, factors: int, sample: pd.DataFrame, seed: int = 0
) -> tuple[RecommendationEngine, dict]:
    """A real RecommendationEngine over a generated catalog, with ALS-shaped synthetic factors.

    Factors: a few latent "tastes" plus noise, scaled like trained ALS factors (norm ~1), so
    scores have structure and top-N selection is not a tie-break on noise.
    """
    rng = np.random.default_rng(seed)
    info: dict[str, Any] = {}
    products, _ = generated_products(sample, np.zeros(len(sample)), n_items, seed=seed)
    products = products.drop(columns=["popularity"])
    for ch in ("store", "web", "app", "marketplace"):
        products[f"available_{ch}"] = rng.random(n_items) < 0.95
    catalog = Catalog(products, [], np.zeros((0, n_items), dtype=np.int32))
    gc.collect()
    before = rss_mb()
    tastes = rng.normal(0, 1, (32, factors)).astype(np.float32)
    item_f = (tastes[rng.integers(0, 32, n_items)] + 0.5 * rng.normal(0, 1, (n_items, factors))).astype(
        np.float32
    ) / np.sqrt(factors)
    user_f = np.empty((n_users, factors), dtype=np.float32)
    for start in range(0, n_users, 200_000):
        m = min(200_000, n_users - start)
        user_f[start : start + m] = (
            tastes[rng.integers(0, 32, m)] + 0.5 * rng.normal(0, 1, (m, factors))
        ) / np.sqrt(factors)
    model = ALSRecommender(factors=factors)
    model.user_factors_, model.item_factors_ = user_f, item_f
    model.n_users_, model.n_items_ = n_users, n_items
    gc.collect()
    info["factors_rss_mb"] = rss_mb() - before
    # Co-purchase from synthetic baskets (2-4 items from one taste), trending from synthetic events.
    t = time.perf_counter()
    n_baskets = 3 * n_items
    sizes = rng.integers(2, 5, n_baskets)
    rows = np.repeat(np.arange(n_baskets), sizes)
    cols = rng.integers(0, n_items, len(rows))
    baskets = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_baskets, n_items))
    copurchase = CoPurchase().fit(baskets)
    ev = pd.DataFrame(
        {
            "item": rng.integers(0, n_items, 200_000),
            "timestamp": pd.Timestamp("2026-09-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 30 * 86400, 200_000), unit="s"),
            "channel": rng.choice(list(CHANNELS), 200_000),
            "store_id": None,
            "weight": 1.0,
        }
    )
    trending = Trending().fit(ev)
    info["copurchase_trending_fit_s"] = time.perf_counter() - t
    engine = RecommendationEngine(
        catalog=catalog,
        model=model,
        user_items=sp.csr_matrix((0, n_items), dtype=np.float32),  # rows come per request, see below
        user_index={},
        copurchase=copurchase,
        trending=trending,
    )
    return engine, info


class CachedGramALS(ALSRecommender):
    """Proposed fix, measured here only: ``_fold_in`` with Y'Y computed once, not per request.

    The served ``_fold_in`` converts all item factors to float64 and forms the k x k Gram matrix on
    every call, O(items x k^2); with it cached a request costs O(history x k^2 + k^3).
    """

    def _fold_in(self, user_items: sp.csr_matrix) -> np.ndarray:
        if not hasattr(self, "gram_"):
            y = self.item_factors_.astype(np.float64)
            self.gram_ = y.T @ y
        reg = self.fold_in_regularization * np.eye(self.gram_.shape[0])
        out = np.zeros((user_items.shape[0], self.gram_.shape[0]), dtype=np.float32)
        for row in range(user_items.shape[0]):
            lo, hi = user_items.indptr[row], user_items.indptr[row + 1]
            if lo == hi:
                continue
            yu = self.item_factors_[user_items.indices[lo:hi]].astype(np.float64)
            conf = self.fold_in_alpha * user_items.data[lo:hi].astype(np.float64)
            out[row] = np.linalg.solve(self.gram_ + (yu.T * (conf - 1.0)) @ yu + reg, yu.T @ conf)
        return out


def customer_requests(
    n_users: int, n_items: int, n: int, history: int, seed: int = 1
) -> list[tuple[int, sp.csr_matrix, list[Interaction]]]:
    """(user row, history row, interactions) per request: ``history`` events of mixed types."""
    rng = np.random.default_rng(seed)
    now = pd.Timestamp.now(tz="UTC")
    out = []
    for _ in range(n):
        items = rng.integers(0, n_items, history)
        types = rng.choice(["view", "view", "add_to_cart", "purchase"], history)
        inter = [
            Interaction(int(i), str(t), now - pd.Timedelta(days=int(d)), "web")
            for i, t, d in zip(items, types, rng.integers(0, 120, history), strict=True)
        ]
        row = sp.csr_matrix(
            (np.ones(history, np.float32), (np.zeros(history, np.int64), items)), shape=(1, n_items)
        )
        row.sum_duplicates()
        out.append((int(rng.integers(0, n_users)), row, inter))
    return out


def _one_thread(fn, *args: Any) -> Any:
    with threadpool_limits(1, "blas"):
        return fn(*args)


def bench_scale(args: argparse.Namespace, bundle: Path, settings: Settings) -> tuple[list[dict], dict]:
    console.print(
        f"[cyan]▶ synthetic ALS engine: {args.users:,} customers x {args.items:,} items x {settings.als_factors} factors[/]"
    )
    sample = pd.read_parquet(bundle / A.CATALOG_DIR / "products.parquet")
    engine, info = synthetic_engine(args.items, args.users, settings.als_factors, sample)
    reqs = customer_requests(args.users, args.items, args.requests, args.history)
    ctx = Context(channel="web")
    model = engine.model
    for r in reqs[:10]:
        engine.for_customer(r[1], r[2], ctx, 20)

    def known_user(r: tuple) -> None:
        uid, row, hist = r
        allowed = np.flatnonzero(engine.eligible(ctx) & ~engine._excluded(hist, ctx))
        ids, scores = model.recommend(
            np.array([uid]), row, N=80, filter_already_liked_items=False, items=allowed
        )
        engine._diversify(ids[0][ids[0] >= 0], scores[0][ids[0] >= 0], 20)

    cached = CachedGramALS(factors=model.factors)
    cached.user_factors_, cached.item_factors_ = model.user_factors_, model.item_factors_
    cached.n_users_, cached.n_items_ = model.n_users_, model.n_items_
    fixed = dataclasses.replace(engine, model=cached)
    probe = reqs[0][1]
    info["cached_gram_max_abs_diff"] = float(np.abs(model._fold_in(probe) - cached._fold_in(probe)).max())

    def bare(r: tuple) -> None:
        top_n((model.user_factors_[r[0]] @ model.item_factors_.T)[None, :], 20)

    rows = []
    for system, fn, target in (
        (
            "RecommendationEngine.for_customer (fold-in, as served)",
            lambda r: engine.for_customer(r[1], r[2], ctx, 20),
            RECS_P99_TARGET,
        ),
        (
            "for_customer, BLAS limited to 1 thread",
            lambda r: _one_thread(engine.for_customer, r[1], r[2], ctx, 20),
            RECS_P99_TARGET,
        ),
        (
            "for_customer, Y'Y cached (proposed fix)",
            lambda r: fixed.for_customer(r[1], r[2], ctx, 20),
            RECS_P99_TARGET,
        ),
        ("same rules + ALS with stored user vector (no fold-in)", known_user, RECS_P99_TARGET),
        ("baseline: numpy dot + top-N, no rules", bare, None),
    ):
        st = run_load(lambda fn=fn: fn, reqs, 1, args.max_seconds)
        rows.append(
            {
                "part": "scale",
                "system": system,
                "via": "in-process",
                **st,
                "target_p99_ms": target,
                "verdict": verdict(st.get("p99_ms"), target),
            }
        )
    # Where the fold-in time goes: the Gram matrix Y'Y is recomputed on every request.
    y = model.item_factors_.astype(np.float64)
    t = time.perf_counter()
    for _ in range(5):
        _ = y.T @ y
    info["gram_matrix_ms_per_request"] = (time.perf_counter() - t) / 5 * 1e3
    info["blas"] = [
        (p["internal_api"], p["num_threads"]) for p in __import__("threadpoolctl").threadpool_info()
    ]
    info["rss_mb_factors_per_million_customers"] = info["factors_rss_mb"] * 1e6 / args.users
    info.update(
        {
            "users": args.users,
            "items": args.items,
            "factors": settings.als_factors,
            "history_events": args.history,
        }
    )
    return rows, info


# --- http at sample scale ---------------------------------------------------------------------
def make_events(
    skus: list[str], customers: list[str], stores: list[str], n: int, prefix: str, seed: int
) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        channel = rng.choice(CHANNELS)
        out.append(
            {
                "event_id": f"{prefix}-{i:09d}-{rng.getrandbits(48):012x}",
                "type": rng.choice(EVENT_TYPES),
                "timestamp": f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                "channel": channel,
                "sku": rng.choice(skus),
                "customer_id": rng.choice(customers),
                "store_id": rng.choice(stores) if channel == "store" and stores else None,
            }
        )
    return out


def bench_http(args: argparse.Namespace, bundle_root: Path, bundle: Path) -> tuple[list[dict], dict]:
    import httpx

    customers = json.loads((bundle / A.USER_IDS).read_text())
    products = pd.read_parquet(bundle / A.CATALOG_DIR / "products.parquet", columns=["sku"])
    stores = pd.read_parquet(bundle / A.STORES)["store_id"].astype(str).tolist()
    rng = random.Random(0)
    rows: list[dict] = []
    info: dict[str, Any] = {}
    tmp = tempfile.TemporaryDirectory(prefix="bench-recs-")
    state_dir = Path(tmp.name) / "server"
    with LiveServer(bundle_root, state_dir) as server:
        info["server_rss_mb"] = server.rss_mb()
        work = http_worker(server.url)
        picks = [rng.choice(customers) for _ in range(3 * args.http_requests + 40)]
        run_load(work, [(f"/v1/recommendations/customers/{c}", {}) for c in picks[:20]], 1)
        run_load(work, [(f"/v1/customers/{c}/profile", {}) for c in picks[20:40]], 1)
        for system, path, target in (
            ("GET /v1/recommendations/customers/{id}", "/v1/recommendations/customers/{}", RECS_P99_TARGET),
            ("GET /v1/customers/{id}/profile", "/v1/customers/{}/profile", PROFILE_P99_TARGET),
            ("baseline: GET /v1/recommendations/trending", "/v1/recommendations/trending", None),
        ):
            for c in (1, 8):
                items = [(path.format(cid), {}) for cid in rng.sample(picks, args.http_requests)]
                st = run_load(work, items, c, args.max_seconds)
                rows.append(
                    {
                        "part": "http",
                        "system": system,
                        "via": "http",
                        **st,
                        "target_p99_ms": target,
                        "verdict": verdict(st.get("p99_ms"), target),
                    }
                )

        # --- ingestion ---
        skus = products["sku"].astype(str).tolist()
        batches = make_events(skus, customers, stores, args.events, "b", 1)
        singles = make_events(skus, customers, stores, args.single_events, "s", 2)
        client = httpx.Client(base_url=server.url, timeout=60)
        accepted, dupes, rejected = 0, 0, 0

        def post(body: list[dict]) -> None:
            nonlocal accepted, dupes, rejected
            r = client.post("/v1/events", json={"events": body})
            if r.status_code != 202:
                raise RuntimeError(f"POST /v1/events -> {r.status_code}: {r.text[:200]}")
            j = r.json()
            accepted, dupes, rejected = (
                accepted + j["accepted"],
                dupes + j["duplicates"],
                rejected + len(j["rejected"]),
            )

        for name, events, size in (
            ("POST /v1/events, 500 per batch", batches, args.batch_size),
            ("baseline: POST /v1/events, 1 per request", singles, 1),
        ):
            before = accepted
            chunks = [events[i : i + size] for i in range(0, len(events), size)]
            lat = []
            start = time.perf_counter()
            for chunk in chunks:
                t = time.perf_counter()
                post(chunk)
                lat.append(time.perf_counter() - t)
                if time.perf_counter() - start > args.max_seconds:
                    break
            wall = time.perf_counter() - start
            got = accepted - before
            st = latency_stats(lat, wall)
            st.update({"events": got, "events_per_s": got / wall, "concurrency": 1, "errors": 0})
            target = EVENTS_PER_S_TARGET if size > 1 else None
            rows.append(
                {
                    "part": "events",
                    "system": name,
                    "via": "http",
                    **st,
                    "target_events_per_s": target,
                    "verdict": verdict(st["events_per_s"], target, higher_is_better=True),
                }
            )
        client.close()
    # The server has stopped: count what reached the disk, through the store's own reader.
    store = EventStore(state_dir / "events.sqlite3")
    stored = store.count()
    store.close()
    tmp.cleanup()
    info["events_ingest"] = {
        "accepted": accepted,
        "duplicates": dupes,
        "rejected": rejected,
        "stored_rows": stored,
        "lost": accepted - stored,
    }
    return rows, info


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
        "--parts", default="scale,http", help="comma list of scale, http (http includes event ingestion)"
    )
    parser.add_argument(
        "--users", type=int, default=1_000_000, help="customers with ALS factors (scale part)"
    )
    parser.add_argument("--items", type=int, default=100_000, help="catalog size (scale part)")
    parser.add_argument(
        "--history", type=int, default=30, help="past events per customer request (scale part)"
    )
    parser.add_argument("--requests", type=int, default=300, help="in-process requests per measured run")
    parser.add_argument("--http-requests", type=int, default=300, help="HTTP requests per measured run")
    parser.add_argument("--events", type=int, default=50_000, help="events sent in batches")
    parser.add_argument("--batch-size", type=int, default=500, help="events per POST")
    parser.add_argument(
        "--single-events", type=int, default=1_000, help="events sent one per request (baseline)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="cap on each measured run (it stops early)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results (default benchmarks/results/recs.json)"
    )
    args = parser.parse_args()

    settings = Settings()
    machine = machine_info()
    bundle_root = args.bundle or settings.bundles_dir
    bundle = resolve_bundle_path(bundle_root)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    rows: list[dict] = []
    info: dict[str, Any] = {}
    if "http" in parts:
        r, info["http"] = bench_http(args, bundle_root, bundle)
        rows += r
    if "scale" in parts:
        r, info["scale"] = bench_scale(args, bundle, settings)
        rows += r
    print_table(
        f"recommendations latency (load avg at start {machine['loadavg_start']})",
        [
            "part",
            "system",
            "via",
            "clients",
            "n",
            "p50 ms",
            "p99 ms",
            "req/s",
            "errors",
            "target p99",
            "verdict",
        ],
        [
            [
                r["part"],
                r["system"],
                r["via"],
                r["concurrency"],
                r["n"],
                r["p50_ms"],
                r["p99_ms"],
                r["per_s"],
                r["errors"],
                r["target_p99_ms"],
                r["verdict"],
            ]
            for r in rows
            if r["part"] != "events"
        ],
    )
    ev = [r for r in rows if r["part"] == "events"]
    if ev:
        print_table(
            "event ingestion over HTTP",
            ["system", "events", "events/s", "req p50 ms", "req p99 ms", "target ev/s", "verdict"],
            [
                [
                    r["system"],
                    r["events"],
                    r["events_per_s"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r.get("target_events_per_s"),
                    r["verdict"],
                ]
                for r in ev
            ],
        )
        e = info["http"]["events_ingest"]
        console.print(
            f"accepted {e['accepted']:,}, stored rows {e['stored_rows']:,}, lost {e['lost']:,}, rejected {e['rejected']:,}"
        )
    if "scale" in info:
        console.print(
            f"Y'Y Gram matrix recomputed per fold-in request: {info['scale']['gram_matrix_ms_per_request']:.2f} ms"
        )
    notes = [
        "one uvicorn worker; the load generator shares the same 2 cores as the server",
        "scale part: synthetic ALS factors (32 latent tastes + noise) and synthetic baskets/events; the real engine code",
        "for_customer always folds the customer in from the history row (userid -1), as the service calls it",
    ]
    write_result(
        "recs",
        {
            "machine": machine,
            "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "bundle": str(bundle),
            "rows": rows,
            "info": info,
            "notes": notes,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
