"""Memory of ``omnirank serve --workers N``: do N workers share one copy of the bundle?

Starts the CLI itself (``omnirank serve --bundle B --workers N``) for each N (1 first: the baseline of
the same run), sends every worker search and recommendation requests (new connections, so the kernel
spreads them) until each has answered some, then sums over the supervisor and its workers:

- PSS (``/proc/PID/smaps_rollup``): each shared page counted once in total, split between the
  processes mapping it -- the memory the box actually spends; the right measure for mmap'd arrays;
- RSS: what ``top`` shows, counting a shared page once per process (overstates N workers).

Target: PSS of 4 workers <= 1.5x one worker's. The bundle's large arrays (product embeddings, the
recommenders' factor and item-item matrices, user_items, FAISS indexes) are memory-mapped read-only
(models/files.py ``load_arrays``), so workers share them through the page cache.

    .venv/bin/python benchmarks/bench_serve_memory.py --bundles var/bundles [--workers 1 4]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import WORKER_HEADER, LiveServer, _children, print_table, write_result  # noqa: E402

TARGET_RATIO = 1.5


def smaps_rollup(pid: int) -> dict[str, float]:
    """Rss, Pss, Pss_Anon, Pss_File of one process in MiB (Linux >= 4.14)."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem"):
                out[key] = int(rest.split()[0]) / 1024
    return out


def server_memory(root_pid: int) -> dict[str, Any]:
    """Sums over the supervisor and its worker processes (and theirs: uvicorn's process spawner)."""
    pids, frontier = [root_pid], [root_pid]
    while frontier:
        frontier = [c for p in frontier for c in _children(p)]
        pids += frontier
    totals: dict[str, float] = {"Rss": 0.0, "Pss": 0.0, "Pss_Anon": 0.0, "Pss_File": 0.0, "Pss_Shmem": 0.0}
    per_process = []
    for pid in pids:
        with contextlib.suppress(OSError):
            one = smaps_rollup(pid)
            per_process.append({"pid": pid, **{k: round(v, 1) for k, v in one.items()}})
            for k in totals:
                totals[k] += one.get(k, 0.0)
    return {"processes": len(per_process), **{k: round(v, 1) for k, v in totals.items()}, "each": per_process}


def warm(
    server: LiveServer, workers: int, paths: list[tuple[str, dict[str, Any]]], per_worker: int = 6
) -> dict:
    """Requests on fresh connections until every worker answered ``per_worker`` of them (or 60 s)."""
    import httpx

    answered: dict[str, int] = {}
    deadline = time.monotonic() + 60
    i = 0
    while time.monotonic() < deadline:
        path, params = paths[i % len(paths)]
        i += 1
        r = httpx.get(server.url + path, params=params, timeout=30)
        r.raise_for_status()
        pid = r.headers.get(WORKER_HEADER, "?")
        answered[pid] = answered.get(pid, 0) + 1
        if len(answered) >= workers and min(answered.values()) >= per_worker:
            break
    return answered


def request_paths(bundles: Path) -> list[tuple[str, dict[str, Any]]]:
    """Searches, and on a bundle with recommendations (not a search-only one) every kind of list."""
    latest = bundles / "latest"
    customers_file = latest / "identity" / "customers.parquet"
    customers = (
        pd.read_parquet(customers_file)["customer_id"].astype(str) if customers_file.exists() else None
    )
    skus = pd.read_parquet(latest / "catalog" / "products.parquet")["sku"].astype(str)
    paths: list[tuple[str, dict[str, Any]]] = []
    for i, q in enumerate(["shoes", "red dress", "rice 5kg", "জুতা", "kids jacket", "coffee"]):
        paths.append(("/v1/search", {"q": q}))
        if customers is not None:
            paths.append((f"/v1/recommendations/customers/{customers.iloc[i * 7]}", {}))
            paths.append((f"/v1/recommendations/items/{skus.iloc[i * 11]}/similar", {}))
            paths.append((f"/v1/recommendations/items/{skus.iloc[i * 11]}/bought-together", {}))
    if customers is not None:
        paths.append(("/v1/recommendations/trending", {}))
    return paths


def measure(bundles: Path, workers: int, state: Path, settle_s: float) -> dict[str, Any]:
    cli = Path(sys.executable).with_name("omnirank")
    command = [str(cli), "serve", "--bundle", str(bundles)] if cli.exists() else None
    with LiveServer(bundles, state / f"w{workers}", workers=workers, command=command) as server:
        answered = warm(server, workers, request_paths(bundles))
        time.sleep(settle_s)
        memory = server_memory(server.proc.pid)
    return {"workers": workers, "answered_by": answered, **memory}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=Path, default=Path("var/bundles"), help="bundles dir (latest)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between warm-up and measuring")
    parser.add_argument(
        "--out", type=Path, default=None, help="result JSON (default results/serve_memory.json)"
    )
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-memory-") as tmp:
        for n in sorted(set(args.workers)):
            runs.append(measure(args.bundles.resolve(), n, Path(tmp), args.settle))
    base = runs[0]
    rows = []
    for run in runs:
        run["pss_vs_baseline"] = round(run["Pss"] / base["Pss"], 2)
        run["rss_vs_baseline"] = round(run["Rss"] / base["Rss"], 2)
        rows.append(
            [
                run["workers"],
                run["processes"],
                run["Pss"],
                run["Pss_Anon"],
                run["Pss_File"],
                run["Rss"],
                f"{run['pss_vs_baseline']:.2f}x",
                f"{run['rss_vs_baseline']:.2f}x",
            ]
        )
    print_table(
        f"omnirank serve memory ({args.bundles}), MiB summed over supervisor + workers",
        ["workers", "procs", "PSS", "PSS anon", "PSS file", "RSS", "PSS vs 1", "RSS vs 1"],
        rows,
    )
    top = runs[-1]
    payload = {
        "bundles": str(args.bundles),
        "target": f"PSS of {top['workers']} workers <= {TARGET_RATIO}x one worker's",
        "met": bool(top["pss_vs_baseline"] <= TARGET_RATIO),
        "runs": runs,
    }
    write_result("serve_memory", payload, args.out)
    return payload


if __name__ == "__main__":
    main()
