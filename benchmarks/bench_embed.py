"""Catalog embedding throughput: one process (baseline) vs Ray workers, and are the vectors identical?

The sample bundle's exported ONNX encoder embeds the first ``--products`` sample products (3,200 is
the whole sample catalog) three ways in the same run:

The products are cut into ``--rounds`` slices and every path embeds each slice, in alternating order
(A B C, then C B A), so a shared machine's drifting load does not favour the path that ran first.

* **1 process, 1 ONNX thread** (the baseline): ``OnnxEncoder.encode``;
* **1 process, 2 ONNX threads**: what ``omnirank train`` does without Ray;
* **Ray, N workers** (``training/embed_ray.py``, what ``--embed-workers N`` / ``--ray-address`` run):
  a local Ray cluster of ``--workers`` CPUs, or the cluster at ``--ray-address``. Its time counts
  shipping the encoder to the workers and starting their encoders, not starting the cluster itself
  (``ray_init_s``, reported apart: a standing cluster pays it once).

Every path must give ``np.array_equal`` vectors in catalog order (the JSON records it).

Run: ``.venv/bin/python benchmarks/bench_embed.py --bundle /tmp/b15 [--products 3200] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import REPO, machine_info, print_table, write_result  # noqa: E402

from models.config import Settings  # noqa: E402
from models.encoder import OnnxEncoder  # noqa: E402
from training.embed import product_texts  # noqa: E402
from training.embed_ray import embed_texts_ray  # noqa: E402
from training.ray_cluster import ray_session  # noqa: E402


def encoder_dir_of(bundle: Path) -> Path:
    """``bundle`` is a bundles dir (its ``latest``) or one bundle version."""
    for candidate in (bundle / "latest" / "encoder", bundle / "encoder"):
        if (candidate / "model.onnx").exists():
            return candidate
    raise SystemExit(f"no exported encoder under {bundle} (train the sample first: omnirank train)")


def single_process(encoder_dir: Path, texts: list[str], batch_size: int, max_length: int, threads: int):
    encoder = OnnxEncoder(encoder_dir, max_length=max_length, threads=threads)
    start = time.perf_counter()
    vectors = encoder.encode(texts, batch_size=batch_size)
    return vectors, time.perf_counter() - start


def run(args: argparse.Namespace) -> dict:
    settings = Settings()
    encoder_dir = encoder_dir_of(args.bundle)
    products = pd.read_parquet(args.data / "products.parquet").head(args.products)
    texts = product_texts(products)
    batch_size, max_length = settings.encoder_batch_size, settings.encoder_max_seq_length
    machine = machine_info()
    paths = ["1 process, 1 ONNX thread (baseline)", "1 process, 2 ONNX threads", "ray"]
    seconds = dict.fromkeys(paths, 0.0)
    identical = dict.fromkeys(paths, True)
    info: dict = {}
    start = time.perf_counter()
    with ray_session(args.ray_address, num_cpus=None if args.ray_address else args.workers):
        ray_init_s = time.perf_counter() - start
        # the shared machine's load drifts: alternate the order (A B C, C B A, ...) over slices
        for r, idx in enumerate(np.array_split(np.arange(len(texts)), args.rounds)):
            part = [texts[i] for i in idx]
            vectors: dict[str, np.ndarray] = {}
            for path in paths if r % 2 == 0 else paths[::-1]:
                if path == "ray":
                    vectors[path], info = embed_texts_ray(
                        encoder_dir,
                        part,
                        batch_size,
                        max_length,
                        address=args.ray_address,
                        workers=args.workers,
                    )
                    seconds[path] += info["seconds"]
                else:
                    threads = 1 if "1 ONNX thread" in path else 2
                    vectors[path], took = single_process(encoder_dir, part, batch_size, max_length, threads)
                    seconds[path] += took
            for path in paths:
                identical[path] &= bool(np.array_equal(vectors[path], vectors[paths[0]]))
    rows = [
        {
            "path": f"Ray {info['address']}, {info['workers']} workers" if path == "ray" else path,
            "seconds": seconds[path],
            "identical": identical[path],
            **({"ray": info} if path == "ray" else {}),
        }
        for path in paths
    ]
    base_s = rows[0]["seconds"]
    for row in rows:
        row["products_per_s"] = round(len(texts) / row["seconds"], 1)
        row["speedup_vs_baseline"] = round(base_s / row["seconds"], 2)
        row["seconds"] = round(row["seconds"], 2)
    print_table(
        f"catalog embedding, {len(texts):,} sample products (batch {batch_size}, {max_length} tokens)",
        ["path", "seconds", "products/s", "x baseline", "vectors identical"],
        [
            [
                r["path"],
                r["seconds"],
                r["products_per_s"],
                r["speedup_vs_baseline"],
                "yes" if r["identical"] else "NO",
            ]
            for r in rows
        ],
    )
    return {
        "products": len(texts),
        "batch_size": batch_size,
        "max_seq_length": max_length,
        "encoder_dir": str(encoder_dir),
        "rounds": args.rounds,
        "ray_init_s": round(ray_init_s, 2),
        "rows": rows,
        "all_identical": all(r["identical"] for r in rows),
        "machine": machine,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", type=Path, required=True, help="bundles dir or bundle version dir")
    parser.add_argument("--data", type=Path, default=REPO / "data_samples")
    parser.add_argument("--products", type=int, default=3200, help="first N sample products (3200: all)")
    parser.add_argument(
        "--workers", type=int, default=2, help="Ray workers (a local cluster of this many CPUs)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="slices, each path in alternating order")
    parser.add_argument("--ray-address", default=None, help="an existing Ray cluster instead of a local one")
    parser.add_argument("--name", default="embed")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run(args)
    write_result(args.name, result, args.out)
    if not result["all_identical"]:
        raise SystemExit("vectors differ between paths")


if __name__ == "__main__":
    main()
