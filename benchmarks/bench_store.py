"""The live store on SQLite vs PostgreSQL: is PostgreSQL fast enough to scale the service out?

Measures, in one run, with SQLite as the baseline:

* event ingestion through the store's batch insert (``LiveStore.append``, batches of 500, one
  transaction each) from 1 writer and from 4 writers (threads: four workers or replicas);
* the per-request version check (``LiveStore.versions``) and the recommendation hot path
  (``recent_for_customer``) latency;
* with ``--bundles`` (a bundles dir trained on the sample), event ingestion through the HTTP API:
  ``POST /v1/events`` in batches of 500 to ``omnirank serve`` on each backend, from 1 worker and 1
  client connection (the baseline) to 2 workers (pre-fork) and 2 or 4 client connections. The bodies
  are encoded before the clock starts, so the client's CPU goes to sending, not to building JSON.
  Target: >= 5,000 events/s through the API.

PostgreSQL is a throwaway server started from Debian's ``postgresql`` package (initdb + pg_ctl in a
temp dir, as the tests do) with its durable defaults (fsync on, ``synchronous_commit=on``: every
acknowledged batch is flushed to disk), or the server ``--url`` names. SQLite runs in WAL mode with
``synchronous=NORMAL`` (the default) and ``FULL`` (fsync per batch) on a real file, not tmpfs.

Run: ``.venv/bin/python benchmarks/bench_store.py [--bundles bundles]`` (about 1-3 minutes on 2 cores).
Writes ``benchmarks/results/store.json``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_event_store import make_events  # noqa: E402
from common import REPO, LiveServer, print_table, run_load, write_result  # noqa: E402

from models.store import LiveStore  # noqa: E402

TARGET_API_EVENTS_S = 5_000.0


def ingest(open_store: Callable[[], LiveStore], n: int, batch: int, threads: int, seed: int) -> float:
    """Events per second stored by ``threads`` writers, each appending its share in batches."""
    per_thread = [make_events(n // threads, 20_000, seed + t, f"w{t}-{seed}") for t in range(threads)]
    with open_store() as store:
        errors: list[BaseException] = []

        def write(events: list) -> None:
            try:
                for start in range(0, len(events), batch):
                    assert len(store.append(events[start : start + batch]).accepted) == len(
                        events[start : start + batch]
                    )
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=write, args=(events,)) for events in per_thread]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        took = time.perf_counter() - t0
        if errors:
            raise errors[0]
    return sum(len(e) for e in per_thread) / took


def latency_us(fn: Callable[[], Any], n: int) -> dict[str, float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e6)
    samples.sort()
    return {
        "p50_us": round(statistics.median(samples), 1),
        "p99_us": round(samples[int(len(samples) * 0.99) - 1], 1),
    }


def reads(open_store: Callable[[], LiveStore], n: int) -> dict[str, dict[str, float]]:
    with open_store() as store:
        keys = [e.customer_key for e in store.iter_since(0.0, page_size=5_000)][:5_000]
        rng = random.Random(7)
        return {
            "versions": latency_us(store.versions, n),  # the table, exactly (health, metrics)
            # what every request pays: on PostgreSQL the LISTEN feed, no round trip
            "request_check": latency_us(lambda: (store.live_version(), store.keys_version()), n),
            "recent_for_customer": latency_us(
                lambda: store.recent_for_customer(rng.choice(keys), limit=50), n
            ),
        }


def event_bodies(sku: str, n: int, batch: int = 500) -> list[bytes]:
    """``POST /v1/events`` bodies of ``batch`` view events with fresh ids and 5,000 distinct shoppers,
    encoded before the clock starts: the load generator's own CPU is not the server's throughput."""
    run = uuid.uuid4().hex[:6]
    return [
        orjson.dumps(
            {
                "events": [
                    {
                        "event_id": f"{run}-{i}",
                        "type": "view",
                        "timestamp": "2026-09-30T10:00:00Z",
                        "channel": "web",
                        "sku": sku,
                        "email": f"shopper{i % 5000}@example.com",
                    }  # fmt: skip
                    for i in range(start, min(n, start + batch))
                ]
            }
        )
        for start in range(0, n, batch)
    ]


def post_all(url: str, bodies: list[bytes], clients: int) -> float:
    """Events per second posting ``bodies`` from ``clients`` connections at once (each its own thread
    and keep-alive connection); every batch must be acknowledged (202, all accepted)."""
    import httpx

    per_body = len(orjson.loads(bodies[0])["events"])

    def make_client() -> Callable[[bytes], None]:
        http = httpx.Client(base_url=url, timeout=60, headers={"content-type": "application/json"})

        def post(body: bytes) -> None:
            r = http.post("/v1/events", content=body)
            if r.status_code != 202 or r.json()["accepted"] != per_body:
                raise RuntimeError(r.text[:200])

        return post

    stats = run_load(make_client, bodies, clients)
    if stats["errors"]:
        raise RuntimeError(f"{stats['errors']} batches not acknowledged, e.g. {stats['first_error']}")
    return len(bodies) * per_body / stats["wall_s"]


def api_ingest(
    bundles: Path, state: Path, env: dict[str, str], n: int, workers: int, clients: int
) -> tuple[float, float]:
    """(events/s, server CPU ms per 1,000 events) through ``omnirank serve --workers N``."""
    import pandas as pd

    sku = str(pd.read_parquet(bundles / "latest" / "catalog" / "products.parquet")["sku"].iat[0])
    warm, bodies = event_bodies(sku, 2_000), event_bodies(sku, n)
    with LiveServer(bundles, state, env=env, workers=workers) as server:
        post_all(server.url, warm, clients)  # connections, first prepared statements, every worker
        cpu0 = server.cpu_seconds()
        rate = post_all(server.url, bodies, clients)
        return rate, (server.cpu_seconds() - cpu0) * 1e6 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000, help="events per ingestion measurement")
    parser.add_argument("--batch", type=int, default=500, help="events per append (one transaction)")
    parser.add_argument("--reads", type=int, default=2_000, help="calls per latency measurement")
    parser.add_argument("--url", help="an existing PostgreSQL database (default: a throwaway server)")
    parser.add_argument(
        "--bundles", type=Path, help="bundles dir trained on the sample: also measure the API"
    )
    parser.add_argument("--api-events", type=int, default=20_000, help="events per API measurement")
    parser.add_argument(
        "--out", type=Path, default=None, help="result JSON (default benchmarks/results/store.json)"
    )
    args = parser.parse_args()

    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-store-", dir=REPO / "var")))
        if args.url:
            base_url = args.url
        else:
            from postgres_fixture import TempPostgres

            server = stack.enter_context(TempPostgres(durable=True))
            base_url = server.url
        schemas = iter(range(1, 1_000))

        def pg_location() -> str:
            import psycopg

            schema = f"bench_{int(time.time())}_{next(schemas)}"
            with psycopg.connect(base_url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            return f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"

        backends: dict[str, Callable[[], Callable[[], LiveStore]]] = {
            "sqlite NORMAL": lambda: (lambda p=work / f"n{next(schemas)}.db": lambda: LiveStore(p))(),
            "sqlite FULL": lambda: (
                lambda p=work / f"f{next(schemas)}.db": lambda: LiveStore(p, synchronous="FULL")
            )(),
            "postgresql": lambda: (lambda u=pg_location(): lambda: LiveStore(u))(),
        }
        rows, results = [], {}
        for name, make in backends.items():
            opener = make()  # one store per backend: the reads run over what was ingested
            one = ingest(opener, args.events, args.batch, 1, seed=1)
            four = ingest(opener, args.events, args.batch, 4, seed=2)
            lat = reads(opener, args.reads)
            results[name] = {
                "append_events_s_1_writer": round(one),
                "append_events_s_4_writers": round(four),
                **{f"{k}_{m}": v for k, d in lat.items() for m, v in d.items()},
            }
            rows.append(
                [
                    name,
                    f"{one:,.0f}",
                    f"{four:,.0f}",
                    f"{lat['versions']['p50_us']:.0f} / {lat['versions']['p99_us']:.0f}",
                    f"{lat['request_check']['p50_us']:.0f} / {lat['request_check']['p99_us']:.0f}",
                    f"{lat['recent_for_customer']['p50_us']:.0f} / {lat['recent_for_customer']['p99_us']:.0f}",
                ]
            )
        print_table(
            f"live store: batch insert ({args.batch} per transaction, {args.events:,} events) and reads",
            [
                "backend",
                "events/s 1 writer",
                "events/s 4 writers",
                "versions() p50/p99 µs",
                "per-request check p50/p99 µs",
                "recent p50/p99 µs",
            ],
            rows,
        )

        api: dict[str, Any] = {}
        if args.bundles:
            for name, env in (
                ("sqlite NORMAL", {}),
                ("postgresql", {"OMNIRANK_STORE_URL": pg_location()}),
            ):
                for workers, clients in ((1, 1), (2, 2), (2, 4)):
                    rate, cpu_ms = api_ingest(
                        args.bundles.resolve(),
                        work / f"api-{len(api)}",
                        env,
                        args.api_events,
                        workers,
                        clients,
                    )
                    api[f"{name}, {workers} workers, {clients} clients"] = {
                        "backend": name,
                        "workers": workers,
                        "clients": clients,
                        "events_s": round(rate),
                        "server_cpu_ms_per_1000_events": round(cpu_ms, 1),
                        "events_s_per_server_core": round(1e6 / cpu_ms) if cpu_ms else None,
                        "meets_target": rate >= TARGET_API_EVENTS_S,
                    }
            print_table(
                f"POST /v1/events through omnirank serve (batches of 500 encoded ahead, {args.api_events:,} "
                f"events; target >= {TARGET_API_EVENTS_S:,.0f}/s)",
                [
                    "backend",
                    "workers",
                    "clients",
                    "events/s",
                    "server CPU ms / 1k events",
                    "events/s per server core",
                    "target met",
                ],
                [
                    [
                        v["backend"],
                        v["workers"],
                        v["clients"],
                        f"{v['events_s']:,}",
                        v["server_cpu_ms_per_1000_events"],
                        f"{v['events_s_per_server_core']:,}",
                        "yes" if v["meets_target"] else "NO",
                    ]
                    for v in api.values()
                ],
            )
        path = write_result(
            "store",
            {
                "baseline": "sqlite NORMAL",
                "postgresql": "throwaway server, fsync on, synchronous_commit on"
                if not args.url
                else "--url",
                "params": {
                    k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "url"
                },
                "store": results,
                "api": api,
                "api_target_events_s": TARGET_API_EVENTS_S,
            },
            args.out,
        )
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
