"""Nightly newsletter at scale: can the batch job email 1M customers from 100k items on 2 cores?

The world (``scale_world.py``): 1M customers x 100k items, synthetic retail-shaped interactions,
the blend's real components (repeat-buy, popularity, item-kNN, ALS) fitted on them, the sample
bundle's tuned blend weights, and per-customer exclusions (returns / recent purchases) for about
10% of each customer's items. Three ways to produce every customer's top-k, in the same run:

* ``job``: the real job runner (``training.batch.job.run_local``: partitions of
  ``batch_chunk_customers``, the engine's rules and category diversity, reasons, Parquet parts and
  checkpoints) with the large-scale first stage the job switches on by itself above
  ``batch_ann_min_customers``: ALS candidates from a FAISS IVF index, item-kNN / repeat-buy /
  popularity candidates from their own non-zeros, the blend scored on those only. Timed in full.
* ``exact``: the same engine and rules scoring the blend on every item
  (``RecommendationEngine.for_customers`` in blocks), timed on a sample and extrapolated.
* ``loop``: one ``for_customer`` call per customer (the service's path), timed on a sample and
  extrapolated: the baseline the issue names.

Recall@k of ``job`` against ``exact`` is measured on the sampled customers with
``models.metrics.recall_at_k``. Peak RSS is the process's (world loaded, job run).

Run: ``.venv/bin/python benchmarks/bench_batch.py --bundle BUNDLES`` (full scale: ~5 minutes once
the world is cached; building it takes ~10 more) or smaller with ``--customers 100000``. Writes
``benchmarks/results/batch.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import console, machine_info, peak_rss_mb, print_table, write_result  # noqa: E402
from scale_world import World, WorldSpec, load_world  # noqa: E402

from models import artifacts as A  # noqa: E402
from models.bundle import resolve_bundle_path  # noqa: E402
from models.config import Settings  # noqa: E402
from models.metrics import recall_at_k  # noqa: E402
from models.recommend import Context  # noqa: E402
from models.recommenders.ann import IVFScorer  # noqa: E402
from models.recommenders.base import Recommender  # noqa: E402
from training.batch.job import run_local  # noqa: E402
from training.batch.partition import CHANNEL, BatchJob  # noqa: E402
from training.batch.writer import PartWriter  # noqa: E402


def exclusions(user_items: sp.csr_matrix, share: float, seed: int) -> pd.DataFrame:
    """(customer_id, item) pairs the rules forbid: ``share`` of each customer's past items."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(user_items.shape[0]), np.diff(user_items.indptr))
    pick = rng.random(len(rows)) < share
    return pd.DataFrame({"customer_id": customer_ids(rows[pick]), "item": user_items.indices[pick]})


def customer_ids(rows: np.ndarray) -> np.ndarray:
    return np.char.add("C", np.char.zfill(rows.astype(str), 7)).astype(object)


def newsletter_job(
    world: World, ids: np.ndarray, excluded: pd.DataFrame, k: int, settings: Settings
) -> BatchJob:
    """The BatchJob ``prepare`` would build for a newsletter to every customer of the world, with
    the first stage it would choose."""
    engine, n = world.engine, len(ids)
    engine.user_index = {c: i for i, c in enumerate(ids)}
    first_stage = "exact"
    if (
        n >= settings.batch_ann_min_customers
        and min(n, settings.batch_chunk_customers) * len(engine.catalog) >= settings.recs_two_stage_min_cells
    ):
        engine.approximate_first_stage(
            lambda: IVFScorer(
                nlist=settings.batch_ivf_nlist, nprobe=settings.batch_ivf_nprobe, seed=settings.random_seed
            )
        )
        first_stage = "ivf"
    recipients = pd.DataFrame(
        {"customer_id": ids, "email_hash": np.char.add("h", ids.astype(str)).astype(object)}
    )
    n_partitions = max(1, -(-n // settings.batch_chunk_customers))
    recipients["partition"] = np.arange(n) % n_partitions
    empty = pd.DataFrame({"customer_id": pd.Series(dtype=object), "item": pd.Series(dtype=np.int64)})
    return BatchJob(
        campaign="newsletter",
        k=k,
        now=pd.Timestamp("2026-10-01", tz="UTC"),
        engine=engine,
        recipients=recipients,
        seeds=empty.assign(at=pd.Series(dtype="datetime64[ns, UTC]"), channel=pd.Series(dtype=object)),
        delta=empty.assign(weight=pd.Series(dtype=np.float32)),
        excluded=excluded,
        n_partitions=n_partitions,
        fingerprint={"bundle": "scale-world", "fingerprint": world.spec.key()},
        stats={"audience": n, "recipients": n, "new_events": 0, "first_stage": first_stage},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=None, help="bundle (sample catalog and blend weights)")
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers to email")
    parser.add_argument("--items", type=int, default=100_000, help="catalog size")
    parser.add_argument("--k", type=int, default=20, help="items per email")
    parser.add_argument("--loop-sample", type=int, default=300, help="customers for the per-customer loop")
    parser.add_argument(
        "--exact-sample", type=int, default=3_000, help="customers for exact scoring and recall"
    )
    parser.add_argument(
        "--excluded-share", type=float, default=0.1, help="share of past items the rules forbid"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results (default benchmarks/results/batch.json)"
    )
    args = parser.parse_args()

    settings = Settings()
    machine = machine_info()
    bundle = resolve_bundle_path(args.bundle or settings.bundles_dir)
    sample = pd.read_parquet(bundle / A.CATALOG_DIR / "products.parquet")
    weights = Recommender.load(bundle / A.BLEND_DIR).weights
    world = load_world(WorldSpec(users=args.customers, items=args.items), sample, weights)
    engine = world.engine
    n, k = args.customers, args.k
    ids = customer_ids(np.arange(n))
    excluded = exclusions(world.user_items, args.excluded_share, args.seed)
    job = newsletter_job(world, ids, excluded, k, settings)
    first_stage, now, n_partitions = job.stats["first_stage"], job.now, job.n_partitions
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        out = Path(tmp) / "newsletter"
        t = time.perf_counter()
        summary = run_local(
            job, PartWriter(out, job.job_record(), overwrite=True), threads=settings.batch_threads
        )
        seconds = time.perf_counter() - t
        emails = pd.read_parquet(out, columns=["customer_id", "rank", "sku"])
    results["job"] = {
        "seconds": seconds,
        "measured_customers": n,
        "extrapolated": False,
        "rows": summary["rows"],
    }

    rng = np.random.default_rng(args.seed + 1)
    ctx = Context(channel=CHANNEL, now=now)
    exact_engine = dataclasses.replace(engine, two_stage_min_cells=10**15)
    rows = np.sort(rng.choice(n, min(args.exact_sample, n), replace=False))
    sample_excluded = excluded[excluded["customer_id"].isin(set(ids[rows]))]
    position = pd.Series(np.arange(len(rows)), index=ids[rows])
    banned = sp.csr_matrix(
        (
            np.ones(len(sample_excluded), bool),
            (position[sample_excluded["customer_id"]].to_numpy(), sample_excluded["item"]),
        ),
        shape=(len(rows), args.items),
    )
    t = time.perf_counter()
    exact_ids, _ = exact_engine.for_customers(rows, world.user_items[rows], banned, ctx, k)
    per = (time.perf_counter() - t) / len(rows)
    results["exact"] = {"seconds": per * n, "measured_customers": len(rows), "extrapolated": True}

    loop_rows = rows[: min(args.loop_sample, len(rows))]
    t = time.perf_counter()
    for r in loop_rows:
        exact_engine.for_customer(world.user_items[r], [], ctx, k)
    per = (time.perf_counter() - t) / len(loop_rows)
    results["loop"] = {"seconds": per * n, "measured_customers": len(loop_rows), "extrapolated": True}

    skus = engine.catalog.skus
    got = emails[emails["customer_id"].isin(set(ids[rows]))].sort_values(["customer_id", "rank"])
    lists = got.groupby("customer_id")["sku"].agg(list)
    recall = float(
        np.mean(
            [
                recall_at_k(lists.get(ids[r], []), {skus[i] for i in exact_ids[j] if i >= 0}, k)
                for j, r in enumerate(rows)
                if (exact_ids[j] >= 0).any()
            ]
        )
    )
    results["job"]["recall_at_k_vs_exact"] = recall
    results["exact"]["recall_at_k_vs_exact"] = 1.0
    for r in results.values():
        r["customers_per_second"] = n / r["seconds"]
    report = {
        "machine": machine,
        "customers": n,
        "items": args.items,
        "k": k,
        "nnz": world.timings["nnz"],
        "blend": {"components": list(engine.model.components), "weights": engine.model.weights},
        "first_stage": first_stage,
        "ivf": {"nlist": settings.batch_ivf_nlist, "nprobe": settings.batch_ivf_nprobe},
        "candidates_per_model": engine.candidates_per_model,
        "partitions": n_partitions,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "methods": {
            m: {key: (round(v, 4) if isinstance(v, float) else v) for key, v in r.items()}
            for m, r in results.items()
        },
        "speedup_job_vs_loop": round(results["loop"]["seconds"] / results["job"]["seconds"], 1),
        "target": {"seconds": 180, "peak_rss_mb": 4096, "recall": 0.95},
        "notes": [
            "world: synthetic interactions, real fitted blend components (benchmarks/scale_world.py); fitting is cached and not timed",
            "job = training.batch.job.run_local on a BatchJob built in-process (prepare() reads import-format files: not part of this timing)",
        ],
    }
    print_table(
        f"newsletter top-{k}: {n:,} customers x {args.items:,} items (load avg {machine['loadavg_start']})",
        ["method", "seconds", "customers/s", "recall@k vs exact", "measured on"],
        [
            [
                m,
                f"{r['seconds']:.1f}{' (extrapolated)' if r['extrapolated'] else ''}",
                f"{r['customers_per_second']:,.0f}",
                f"{r.get('recall_at_k_vs_exact', float('nan')):.3f}",
                f"{r['measured_customers']:,}",
            ]
            for m, r in results.items()
        ],
    )
    console.print(
        f"peak RSS {report['peak_rss_mb']:.0f} MB; first stage {first_stage}; job speed-up over the loop x{report['speedup_job_vs_loop']}"
    )
    write_result("batch", report, args.out)


if __name__ == "__main__":
    main()
