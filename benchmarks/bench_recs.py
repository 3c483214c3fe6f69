"""Recommendation serving latency and live event ingestion: fast enough for 1M customers?

* ``scale``: the real ``RecommendationEngine.for_customer`` (eligibility and exclusion rules, the
  blend of repeat-buy, popularity, item-kNN and ALS with fold-in of the history row, per-category
  diversification, reasons from co-purchase) over 1M customers x 100k items: the components are
  fitted on synthetic retail-shaped interactions (``scale_world.py``). As served, one request scores
  the blend on every item; compared in the same run with the two-stage path batch jobs use
  (candidates per component, the blend scored on those only; its recall@20 against the served
  lists) and the bare numpy lower bound, stored ALS vector . item factors + argpartition.
* ``http``: the trained sample bundle behind a live uvicorn on 127.0.0.1: customer recommendations
  (target p99 <= 10 ms), the associate's profile (target p99 <= 20 ms), and the trending endpoint
  as the HTTP floor baseline; 1 and 8 concurrent clients.
* ``sample``: ``for_customer`` on the sample bundle's customers with the learned ranker
  (``recs_ranker``: the bundle's, or a stand-in of the same shape when training kept none) vs the
  blend, same requests in the same run.
* ``events``: ``POST /v1/events`` with batches of 500 (target >= 5,000 events/s sustained), checked
  for loss (rows in the SQLite store == events accepted); baseline: one event per request.

Run: ``.venv/bin/python benchmarks/bench_recs.py --bundle BUNDLES`` (see --help).
"""

from __future__ import annotations

import argparse
import dataclasses
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    LiveServer,
    console,
    http_worker,
    latency_stats,
    machine_info,
    print_table,
    rss_mb,
    run_load,
    verdict,
    write_result,
)
from scale_world import World, WorldSpec, load_world  # noqa: E402

from models import artifacts as A  # noqa: E402
from models.bundle import resolve_bundle_path  # noqa: E402
from models.config import Settings  # noqa: E402
from models.history import Interaction  # noqa: E402
from models.recommend import Context  # noqa: E402
from models.recommenders.base import Recommender, top_n  # noqa: E402
from models.store import LiveStore  # noqa: E402

RECS_P99_TARGET = 10.0
PROFILE_P99_TARGET = 20.0
EVENTS_PER_S_TARGET = 5_000.0
EVENT_TYPES = ("view", "view", "view", "add_to_cart", "purchase", "search_click", "email_click")
CHANNELS = ("web", "app", "store", "email")
NOW = pd.Timestamp("2026-10-01", tz="UTC")
"""The requests' time: history is drawn back from it, so results never depend on today's date."""


# --- scale: 1M customers x 100k items ---------------------------------------------------------
def customer_requests(
    world: World, n: int, seed: int = 1
) -> list[tuple[int, sp.csr_matrix, list[Interaction]]]:
    """(user, history row, interactions) of ``n`` random customers of the world; each past item
    gets a type and an age (up to 120 days) so the exclusion rules have work to do."""
    rng = np.random.default_rng(seed)
    now = NOW
    out = []
    for uid in rng.integers(0, world.spec.users, n):
        row = world.user_items[int(uid)]
        items = row.indices
        types = rng.choice(["view", "view", "add_to_cart", "purchase"], len(items))
        ages = rng.integers(0, 120, len(items))
        inter = [
            Interaction(int(i), str(t), now - pd.Timedelta(days=int(d)), "web")
            for i, t, d in zip(items, types, ages, strict=True)
        ]
        out.append((int(uid), row, inter))
    return out


def bench_scale(args: argparse.Namespace, bundle: Path, settings: Settings) -> tuple[list[dict], dict]:
    sample = pd.read_parquet(bundle / A.CATALOG_DIR / "products.parquet")
    weights = Recommender.load(bundle / A.BLEND_DIR).weights
    world = load_world(WorldSpec(users=args.users, items=args.items), sample, weights)
    engine = world.engine
    console.print(
        f"[cyan]▶ real blend {', '.join(engine.model.components)}: {args.users:,} customers x {args.items:,} items[/]"
    )
    two_stage = dataclasses.replace(engine, two_stage_min_cells=1)
    reqs = customer_requests(world, args.requests)
    ctx = Context(channel="web", now=NOW)
    for r in reqs[:10]:
        engine.for_customer(r[1], r[2], ctx, 20)
        two_stage.for_customer(r[1], r[2], ctx, 20)
    als = engine.model.models_["als"]

    def bare(r: tuple) -> None:
        top_n((als.user_factors_[r[0]] @ als.item_factors_.T)[None, :], 20)

    rows = []
    for system, fn, target in (
        (
            "for_customer: blend scored on every item (as served)",
            lambda r: engine.for_customer(r[1], r[2], ctx, 20),
            RECS_P99_TARGET,
        ),
        (
            "for_customer: two-stage candidates (the batch path)",
            lambda r: two_stage.for_customer(r[1], r[2], ctx, 20),
            RECS_P99_TARGET,
        ),
        ("baseline: stored ALS vector . item factors + top-N, no rules", bare, None),
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
    overlap = [
        len(
            {x.item for x in two_stage.for_customer(r[1], r[2], ctx, 20)[0]}
            & {x.item for x in engine.for_customer(r[1], r[2], ctx, 20)[0]}
        )
        / 20
        for r in reqs[:200]
    ]
    info = {
        "users": args.users,
        "items": args.items,
        "components": list(engine.model.components),
        "weights": engine.model.weights,
        "nnz": world.timings["nnz"],
        "fit_seconds": {k: round(v, 1) for k, v in world.timings.items() if k.endswith("_s")},
        "candidates_per_model": engine.candidates_per_model,
        "two_stage_recall_at_20_vs_exact": float(np.mean(overlap)),
        "rss_mb": rss_mb(),
    }
    return rows, info


# --- sample: the learned ranker vs the blend, in-process -----------------------------------------
def sample_ranker(bundle: Path, engine, settings: Settings) -> tuple[Any, str]:
    """The bundle's ``recs_ranker`` when training kept one; else a latency stand-in of the same
    shape (``recs_ranker_*`` trees and leaves), learned on the bundle's customers' last 4 weeks
    with the served models (which saw those weeks: its quality means nothing, its cost is real)."""
    from models.history import load_history
    from models.recommenders.ranker import PurchaseHistory, RankerRecommender
    from models.recs_ranker import ServedRanker

    if (bundle / A.RECS_RANKER_DIR).exists():
        return ServedRanker.load(bundle / A.RECS_RANKER_DIR), "the bundle's (kept by training)"
    history = load_history(bundle / A.HISTORY)
    skus = engine.catalog.skus[: engine.n_trained].astype(str)
    rows = [
        (cid, str(skus[ev.item]), ev.timestamp, ev.channel, ev.price)
        for cid, events in history.items()
        for ev in events
        if ev.type == "purchase" and ev.item < engine.n_trained
    ]
    buys = pd.DataFrame(rows, columns=["user", "item", "timestamp", "channel", "price"]).assign(
        type="purchase"
    )
    cut = buys["timestamp"].max() - pd.Timedelta(days=28)
    users = np.array(sorted(engine.user_index, key=engine.user_index.get), dtype=object)
    codes, _ = pd.factorize(pd.Series(engine.catalog.column["category"][: engine.n_trained]).fillna(""))
    before = buys[buys["timestamp"] < cut]
    window = buys[buys["timestamp"] >= cut]
    truth_of = window.groupby("user")["item"].agg(lambda s: set(engine.catalog.sku_index[x] for x in s))
    picked = [u for u in truth_of.index if u in engine.user_index]
    uids = np.array([engine.user_index[u] for u in picked], dtype=np.int64)
    blend = engine.model
    ranker = RankerRecommender(
        blend.components,
        weights=blend.weights,
        candidates_per_model=settings.recs_ranker_candidates_per_model,
        trending_candidates=settings.recs_ranker_trending_candidates,
        n_estimators=settings.recs_ranker_trees,
        num_leaves=settings.recs_ranker_leaves,
        min_child_samples=settings.recs_ranker_min_child_samples,
        max_train_users=2_000,
    )
    ranker.use_fitted(blend.models_).use_history(PurchaseHistory.build(before, users, skus, cut, codes))
    ranker.fit_ranker(uids, engine.user_items[uids], [truth_of[u] for u in picked])
    latest = PurchaseHistory.build(buys, users, skus, buys["timestamp"].max(), codes)
    return ServedRanker.from_ranker(ranker, latest, {"kept": False, "why": "latency stand-in"}), (
        "a stand-in of the same shape (the bundle kept none)"
    )


def bench_sample(args: argparse.Namespace, bundle: Path, settings: Settings) -> tuple[list[dict], dict]:
    """``for_customer`` on the sample bundle's own customers, their trained history, the blend vs
    the learned ranker, same requests, same run."""
    from models.catalog import Catalog
    from models.history import load_history
    from models.recommend import RecommendationEngine
    from models.recommenders.interactions import type_weights_from_settings

    catalog = Catalog.load(bundle / A.CATALOG_DIR)
    engine = RecommendationEngine.load(bundle, catalog, settings)
    t = time.perf_counter()
    ranker, origin = sample_ranker(bundle, engine, settings)
    ranker_seconds = time.perf_counter() - t
    ranked = engine.with_ranker(ranker)
    blend = engine.with_ranker(None)
    history = load_history(bundle / A.HISTORY)
    weights = type_weights_from_settings(settings)
    rng = np.random.default_rng(3)
    customers = rng.choice(sorted(engine.user_index), args.requests)
    reqs = [(engine.history_row(c, [], weights), history.get(c, [])) for c in customers]
    ctx = Context(channel="web", now=NOW)
    for r in reqs[:20]:
        blend.for_customer(r[0], r[1], ctx, 20)
        ranked.for_customer(r[0], r[1], ctx, 20)
    rows = []
    for system, eng in (
        ("for_customer: blend (baseline)", blend),
        ("for_customer: learned ranker", ranked),
    ):
        st = run_load(
            lambda eng=eng: lambda r: eng.for_customer(r[0], r[1], ctx, 20), reqs, 1, args.max_seconds
        )
        rows.append(
            {
                "part": "sample",
                "system": system,
                "via": "in-process",
                **st,
                "target_p99_ms": RECS_P99_TARGET,
                "verdict": verdict(st.get("p99_ms"), RECS_P99_TARGET),
            }
        )
    same_first = np.mean(
        [
            [x.item for x in blend.for_customer(r[0], r[1], ctx, 20)[0][:1]]
            == [x.item for x in ranked.for_customer(r[0], r[1], ctx, 20)[0][:1]]
            for r in reqs[:100]
        ]
    )
    info = {
        "customers": len(engine.user_index),
        "items": engine.n_trained,
        "ranker": origin,
        "ranker_trees": int(ranker.booster.num_trees()),
        "ranker_decision": ranker.decision,
        "stand_in_fit_seconds": round(ranker_seconds, 1),
        "same_first_item_share": float(same_first),
    }
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
    store = LiveStore(state_dir / "events.sqlite3")
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
        "--parts",
        default="scale,http",
        help="comma list of scale, http (http includes event ingestion), sample (the learned ranker vs the "
        "blend on the sample bundle, in-process)",
    )
    parser.add_argument(
        "--users", type=int, default=1_000_000, help="customers of the synthetic world (scale part)"
    )
    parser.add_argument("--items", type=int, default=100_000, help="catalog size (scale part)")
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
    if "sample" in parts:
        r, info["sample"] = bench_sample(args, bundle, settings)
        rows += r
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
            f"two-stage recall@20 against the served (exact) blend: {info['scale']['two_stage_recall_at_20_vs_exact']:.3f}"
        )
    notes = [
        "one uvicorn worker; the load generator shares the same 2 cores as the server",
        "scale part: synthetic retail-shaped interactions (benchmarks/scale_world.py); the blend's real components fitted on them; the real engine code",
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
