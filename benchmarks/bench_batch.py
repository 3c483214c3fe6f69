"""Batch scoring at nightly-email scale: can one 2-core machine rank 100k items for 1M customers?

Synthetic ALS-like factors (64 dims, float32: items around latent topics with popularity-skewed
norms, customers mixing one or two topics) are scored three ways, in the same run:

* ``loop``: one Python iteration per customer (score all items, sort) -- the baseline, timed on a
  small sample and extrapolated to every customer;
* ``exact``: blocked matrix products + ``argpartition`` (``models.recommenders.ann.exact_top_k``),
  timed on a sample and extrapolated (or run in full with ``--full-exact``);
* ``ivf``: FAISS IVF-Flat batch search over every customer (``IVFScorer``), timed in full.

Recall@k of ``ivf`` against ``exact`` is measured on a random sample of customers with
``models.metrics.recall_at_k``. Peak RSS comes from ``resource.getrusage``.

Run: ``.venv/bin/python benchmarks/bench_batch.py`` (full scale: about 2-3 minutes) or smaller with
``--customers 100000 --items 20000``. Writes ``benchmarks/results/batch.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.metrics import recall_at_k  # noqa: E402
from models.recommenders.ann import IVFScorer, exact_top_k  # noqa: E402
from training.batch.scoring import loop_top_k  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def synthetic_factors(
    n_users: int, n_items: int, dims: int, topics: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """ALS-like factors: topic structure plus noise; item norms follow a popularity long tail."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dims)).astype(np.float32)
    item_topic = rng.integers(0, topics, n_items)
    items = 0.8 * centres[item_topic] + 0.6 * rng.standard_normal((n_items, dims)).astype(np.float32)
    items *= rng.lognormal(0.0, 0.35, n_items).astype(np.float32)[:, None] / np.sqrt(dims)
    users = np.empty((n_users, dims), dtype=np.float32)
    step = 100_000
    for start in tqdm(range(0, n_users, step), desc="synthetic customers", unit=" blocks"):
        n = min(step, n_users - start)
        a, b = rng.integers(0, topics, n), rng.integers(0, topics, n)
        mix = rng.uniform(0.5, 1.0, n).astype(np.float32)[:, None]
        users[start : start + n] = (
            mix * centres[a]
            + (1 - mix) * centres[b]
            + 0.5 * rng.standard_normal((n, dims)).astype(np.float32)
        )
    return users, items.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers to score")
    parser.add_argument("--items", type=int, default=100_000, help="catalog size")
    parser.add_argument("--dims", type=int, default=64, help="factor dimensions")
    parser.add_argument("--k", type=int, default=20, help="items per customer")
    parser.add_argument("--topics", type=int, default=500, help="latent topics of the synthetic factors")
    parser.add_argument("--nlist", type=int, default=1024, help="IVF clusters")
    parser.add_argument("--nprobe", type=int, default=24, help="IVF clusters scanned per customer")
    parser.add_argument(
        "--threads", type=int, default=2, help="BLAS/FAISS threads (the target machine has 2 cores)"
    )
    parser.add_argument(
        "--loop-sample", type=int, default=300, help="customers for the per-customer loop baseline"
    )
    parser.add_argument(
        "--exact-sample",
        type=int,
        default=20_000,
        help="customers for exact blocked scoring (timing + recall)",
    )
    parser.add_argument(
        "--recall-sample", type=int, default=5_000, help="customers for recall@k of IVF vs exact"
    )
    parser.add_argument(
        "--full-exact", action="store_true", help="also run exact blocked scoring over every customer"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "batch.json")
    args = parser.parse_args()

    import faiss

    faiss.omp_set_num_threads(args.threads)
    console = Console()
    users, items = synthetic_factors(args.customers, args.items, args.dims, args.topics, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    n, k = args.customers, args.k
    results: dict[str, dict] = {}

    loop_rows = rng.choice(n, min(args.loop_sample, n), replace=False)
    t = time.perf_counter()
    loop_top_k(users[loop_rows], items, k)
    per = (time.perf_counter() - t) / len(loop_rows)
    results["loop"] = {"seconds": per * n, "measured_customers": len(loop_rows), "extrapolated": True}

    exact_rows = np.sort(rng.choice(n, min(args.exact_sample, n), replace=False))
    t = time.perf_counter()
    exact_ids, _ = exact_top_k(users[exact_rows], items, k)
    per = (time.perf_counter() - t) / len(exact_rows)
    results["exact_blocked"] = {
        "seconds": per * n,
        "measured_customers": len(exact_rows),
        "extrapolated": True,
    }
    if args.full_exact:
        t = time.perf_counter()
        exact_top_k(users, items, k)
        results["exact_blocked"] = {
            "seconds": time.perf_counter() - t,
            "measured_customers": n,
            "extrapolated": False,
        }

    t = time.perf_counter()
    scorer = IVFScorer(nlist=args.nlist, nprobe=args.nprobe, threads=args.threads).fit(items)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    ids, _ = scorer.search(users, k)
    search_s = time.perf_counter() - t
    results["ivf"] = {
        "seconds": fit_s + search_s,
        "fit_seconds": fit_s,
        "measured_customers": n,
        "extrapolated": False,
    }

    sample = rng.choice(len(exact_rows), min(args.recall_sample, len(exact_rows)), replace=False)
    recall = float(
        np.mean(
            [
                recall_at_k([str(i) for i in ids[exact_rows[s]]], {str(i) for i in exact_ids[s]}, k)
                for s in sample
            ]
        )
    )
    results["ivf"]["recall_at_k_vs_exact"] = recall
    results["exact_blocked"]["recall_at_k_vs_exact"] = 1.0
    for r in results.values():
        r["customers_per_second"] = n / r["seconds"]
    report = {
        "customers": n,
        "items": args.items,
        "dims": args.dims,
        "k": k,
        "threads": args.threads,
        "nlist": args.nlist,
        "nprobe": args.nprobe,
        "recall_sample": len(sample),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "methods": {
            m: {key: (round(v, 4) if isinstance(v, float) else v) for key, v in r.items()}
            for m, r in results.items()
        },
        "speedup_ivf_vs_loop": round(results["loop"]["seconds"] / results["ivf"]["seconds"], 1),
        "target": {"seconds": 180, "peak_rss_mb": 4096, "recall": 0.95},
    }
    table = Table(title=f"batch top-{k}: {n:,} customers x {args.items:,} items, {args.threads} threads")
    for col in ("method", "seconds", "customers/s", "recall@k", "measured on"):
        table.add_column(col, justify="right")
    for m, r in results.items():
        table.add_row(
            m,
            f"{r['seconds']:.1f}{' (extrapolated)' if r['extrapolated'] else ''}",
            f"{r['customers_per_second']:,.0f}",
            f"{r.get('recall_at_k_vs_exact', float('nan')):.3f}",
            f"{r['measured_customers']:,}",
        )
    console.print(table)
    console.print(
        f"peak RSS {report['peak_rss_mb']:.0f} MB; IVF speed-up over the loop x{report['speedup_ivf_vs_loop']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
