"""Micro benchmark of the live event store: can ``POST /v1/events`` keep up with a retailer's peak?

Measures, on a real file on disk (not tmpfs, so fsync costs what it costs):

* batched appends (one transaction per batch) from 1 and 4 threads, synchronous NORMAL and FULL;
* the baseline of one transaction per event, which is what a naive handler would do;
* ``recent_for_customer`` latency (the recommendation hot path) from 4 threads, for the store's
  connection-per-thread design and for a single shared connection behind one lock.

Run: ``.venv/bin/python benchmarks/bench_event_store.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.store import LiveStore, StoredEvent  # noqa: E402

TYPES = ("view", "view", "view", "add_to_cart", "purchase", "search_click", "email_click")
CHANNELS = ("web", "app", "store", "email")


def make_events(n: int, n_customers: int, seed: int, prefix: str) -> list[StoredEvent]:
    """Synthetic but realistic shapes: uuid-sized ids, skewed customers, mixed types and channels."""
    rng = random.Random(seed)
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return [
        StoredEvent(
            event_id=f"{prefix}-{i:012d}-{rng.getrandbits(64):016x}",
            customer_key=f"{rng.getrandbits(128) % n_customers:032x}",
            type=rng.choice(TYPES),
            timestamp=t0 + timedelta(seconds=i),
            channel=rng.choice(CHANNELS),
            sku=f"SKU-{rng.randrange(20_000):06d}",
            store_id=f"S{rng.randrange(50):03d}",
            quantity=1 + rng.randrange(3),
            price=round(rng.uniform(1, 200), 2),
            # the analytics fields (store v4): every event carries them, as a storefront posts them
            session_id=f"S-{rng.getrandbits(48):012x}",
            basket_id=f"B-{i // 3:010d}",
            query=rng.choice(("running shoes", "coffee maker", "gift for dad under 50", None)),
            request_id=f"{rng.getrandbits(128):032x}",
            position=1 + rng.randrange(20),
            identifiers={
                "email": f"{rng.getrandbits(128):032x}",
                "loyalty_id": f"{rng.getrandbits(128):032x}",
            },
        )
        for i in range(n)
    ]


def _run_threads(target, args) -> float:
    """Start one thread per argument, wait for all, return the wall time in seconds."""
    workers = [threading.Thread(target=target, args=(a,)) for a in args]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - start


def bench_batched(path: Path, events: list[StoredEvent], batch_size: int, threads: int, sync: str) -> dict:
    """Each thread appends its own slice in batches; returns sustained events/s and batch latency."""
    store = LiveStore(path, synchronous=sync)  # type: ignore[arg-type]
    slices = [events[t::threads] for t in range(threads)]
    latencies: list[float] = []
    lock = threading.Lock()
    bar = tqdm(total=len(events), desc=f"batched {threads}t {sync}", unit="ev", leave=False)

    def work(chunk: list[StoredEvent]) -> None:
        mine = []
        for start in range(0, len(chunk), batch_size):
            t = time.perf_counter()
            store.append(chunk[start : start + batch_size])
            mine.append(time.perf_counter() - t)
            bar.update(min(batch_size, len(chunk) - start))
        with lock:
            latencies.extend(mine)

    elapsed = _run_threads(work, slices)
    bar.close()
    count = store.count()
    store.close()
    assert count == len(events), f"stored {count} of {len(events)}"
    return {
        "mode": f"batch={batch_size}",
        "threads": threads,
        "synchronous": sync,
        "events": len(events),
        "seconds": elapsed,
        "events_per_s": len(events) / elapsed,
        "batch_p50_ms": 1e3 * statistics.median(latencies),
        "batch_p99_ms": 1e3 * statistics.quantiles(latencies, n=100)[98],
    }


def bench_per_event(path: Path, events: list[StoredEvent], sync: str) -> dict:
    """Baseline: one transaction (one commit) per event."""
    store = LiveStore(path, synchronous=sync)  # type: ignore[arg-type]
    latencies = []
    start = time.perf_counter()
    for event in tqdm(events, desc=f"per-event {sync}", unit="ev", leave=False):
        t = time.perf_counter()
        store.append([event])
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    store.close()
    return {
        "mode": "1 txn/event",
        "threads": 1,
        "synchronous": sync,
        "events": len(events),
        "seconds": elapsed,
        "events_per_s": len(events) / elapsed,
        "batch_p50_ms": 1e3 * statistics.median(latencies),
        "batch_p99_ms": 1e3 * statistics.quantiles(latencies, n=100)[98],
    }


class _SingleConnectionStore(LiveStore):
    """The alternative design: one connection shared by all threads, every call behind one lock."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._shared = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._shared.execute("PRAGMA synchronous=NORMAL")

    def _conn(self) -> sqlite3.Connection:
        return getattr(self, "_shared", None) or super()._conn()

    def recent_for_customer(self, customer_key, since=None, limit=200):  # type: ignore[override]
        with self._write_lock:
            return super().recent_for_customer(customer_key, since=since, limit=limit)

    def close(self) -> None:
        self._shared.close()
        super().close()


def bench_reads(
    store: LiveStore,
    keys: list[str],
    threads: int,
    per_thread: int,
    design: str,
    writing: list[StoredEvent] | None = None,
) -> dict:
    """Reader threads hit random customers; with ``writing``, a writer appends batches meanwhile.

    Reads during writes is where the designs differ: behind one lock a read waits for a whole
    batch commit, with a connection per thread WAL lets it read the last committed snapshot.
    """
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def write() -> None:
        assert writing is not None
        for start in range(0, len(writing), 500):
            if done.is_set():
                return
            store.append(writing[start : start + 500])

    def work(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        for _ in range(per_thread):
            key = rng.choice(keys)
            t = time.perf_counter()
            store.recent_for_customer(key, limit=200)
            mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)

    writer = threading.Thread(target=write) if writing else None
    if writer:
        writer.start()
    elapsed = _run_threads(work, range(threads))
    done.set()
    if writer:
        writer.join()
    return {
        "design": design,
        "threads": threads,
        "concurrent_writer": bool(writing),
        "queries": len(latencies),
        "queries_per_s": len(latencies) / elapsed,
        "p50_ms": 1e3 * statistics.median(latencies),
        "p99_ms": 1e3 * statistics.quantiles(latencies, n=100)[98],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per batched run")
    parser.add_argument("--batch-size", type=int, default=500, help="events per append (one transaction)")
    parser.add_argument(
        "--baseline-events", type=int, default=5_000, help="events for the 1-txn/event baseline"
    )
    parser.add_argument("--customers", type=int, default=10_000, help="distinct customer keys")
    parser.add_argument(
        "--reads", type=int, default=2_000, help="recent_for_customer calls per reader thread"
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the scratch DBs go (default: a temp dir)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "results" / "event_store.json",
        help="JSON results",
    )
    args = parser.parse_args()

    events = make_events(args.events, args.customers, seed=0, prefix="e")
    baseline = make_events(args.baseline_events, args.customers, seed=1, prefix="b")
    console = Console()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-events-") as tmp:
        root = Path(tmp)
        writes = []
        for sync in ("NORMAL", "FULL"):
            writes.append(bench_per_event(root / f"base-{sync}.db", baseline, sync))
            for threads in (1, 4):
                writes.append(
                    bench_batched(root / f"b{threads}-{sync}.db", events, args.batch_size, threads, sync)
                )

        reads = []
        loaded = root / "b4-NORMAL.db"  # 100k events over 10k customers, written above
        keys = sorted({e.customer_key for e in events})
        for design, factory in (("conn per thread", LiveStore), ("1 conn + lock", _SingleConnectionStore)):
            store = factory(loaded)
            for threads in (1, 4):
                reads.append(bench_reads(store, keys, threads, args.reads // threads, design))
            extra = make_events(50_000, args.customers, seed=len(reads), prefix=f"w{len(reads)}")
            reads.append(bench_reads(store, keys, 4, args.reads // 4, design, writing=extra))
            store.close()

    table = Table(title=f"event store appends (sqlite {sqlite3.sqlite_version}, {args.batch_size}/batch)")
    for col in ("mode", "sync", "threads", "events", "events/s", "txn p50 ms", "txn p99 ms"):
        table.add_column(col, justify="right")
    for r in writes:
        table.add_row(
            r["mode"],
            r["synchronous"],
            str(r["threads"]),
            f"{r['events']:,}",
            f"{r['events_per_s']:,.0f}",
            f"{r['batch_p50_ms']:.2f}",
            f"{r['batch_p99_ms']:.2f}",
        )
    console.print(table)
    rtable = Table(title="recent_for_customer(limit=200), ~10 events/customer")
    for col in ("design", "threads", "writer", "queries/s", "p50 ms", "p99 ms"):
        rtable.add_column(col, justify="right")
    for r in reads:
        rtable.add_row(
            r["design"],
            str(r["threads"]),
            "yes" if r["concurrent_writer"] else "no",
            f"{r['queries_per_s']:,.0f}",
            f"{r['p50_ms']:.3f}",
            f"{r['p99_ms']:.3f}",
        )
    console.print(rtable)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "event_store",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sqlite_version": sqlite3.sqlite_version,
        "python": platform.python_version(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "appends": writes,
        "reads": reads,
    }
    args.out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
