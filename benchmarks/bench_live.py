"""Live catalog: how soon does the service serve a stock, price or product change, and what do bundle
swaps and live overrides cost the searches around them?

Five figures, each against a live ``uvicorn`` on 127.0.0.1 (``--workers 2`` unless stated, as
``omnirank serve --workers 2`` runs it), each with a baseline measured in the same run:

1. ``staleness``: sell out the top hit of a store-filtered search with ``PUT /v1/inventory`` on one
   worker while a client searches continuously on the *other* worker (each worker is reached through
   its own keep-alive connection, told apart by the ``X-Omnirank-Worker`` pid); the staleness is the
   time from sending the PUT to the first answer from the other worker without that hit. Repeated,
   alternating sell-out and restock over different skus, swapping writer and reader. Target p99 <= 1 s.
2. ``bulk``: ``PUT /v1/inventory`` and ``PUT /v1/prices`` in batches of 10,000 valid rows (real skus
   and stores), back to back from one client, until a search on the other worker shows the last
   batch's last row. Target >= 10,000 rows/s.
3. ``new_product``: ``PUT /v1/products`` of a product with a unique title, then
   ``GET /v1/search?q=<title>`` on the other worker until it is the first hit, and the time until it
   is the first hit on every worker (the writing one searched too, once its PUT answered: what
   ``tests/e2e/test_live_catalog.py`` checks without timing it); at the sample scale, the 54,667
   Home Depot titles and the generated 100k catalog (search-only bundles built and cached by
   ``bench_search.py``'s functions). Target <= 5 s.
4. ``swaps``: 50 bundle swaps (``latest`` alternated between two copies of the sample bundle with
   ``models.bundle.point_latest``, then ``POST /v1/admin/reload`` on each worker) under a steady
   closed-loop search load; failed requests (target 0) and search p99 during the swaps against the
   same load without swaps. Then corrupt copies (a flipped byte, a missing file, a half-written
   directory, a directory without a manifest): each must be refused while the old bundle serves.
5. ``overrides``: search p99 at 1 client with 10,000 live price overrides and 10,000 stock levels
   applied against none (the same queries, a fresh 1-worker server each, alternated over rounds).
   Target: within 10%.

Baseline of 1-3: what the change costs without the live catalog, a full retrain and a restart:
``omnirank train --data data_samples`` timed in this run (``--skip-retrain`` reads the last value
from ``results/train.json`` instead; the JSON says which), plus the measured restart of the server
until every worker is healthy.

Run: ``.venv/bin/python benchmarks/bench_live.py --bundle var/cache/bench/sample_bundles`` (see --help).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_search  # noqa: E402
from common import (  # noqa: E402
    CACHE,
    REPO,
    RESULTS,
    WORKER_HEADER,
    LiveServer,
    console,
    file_hash,
    latency_stats,
    machine_info,
    print_table,
    verdict,
    write_result,
)

from models import artifacts as A  # noqa: E402
from models.bundle import LATEST, MANIFEST, TMP_PREFIX, point_latest, resolve_bundle_path  # noqa: E402
from models.catalog import Catalog  # noqa: E402
from models.config import Settings  # noqa: E402

STALENESS_P99_TARGET_MS = 1_000.0
BULK_ROWS_PER_S_TARGET = 10_000.0
NEW_PRODUCT_TARGET_S = 5.0
SWAP_FAILED_TARGET = 0
OVERRIDES_P99_RATIO_TARGET = 1.10
BATCH_ROWS = 10_000
PRICE_CHANNELS = ("store", "web", "app", "marketplace")
PARTS = ("staleness", "new_product", "bulk", "swaps", "overrides")
JSON_HEADERS = {"content-type": "application/json"}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- one connection per worker ---------------------------------------------------------------
class WorkerClients:
    """One keep-alive connection to each worker process of a server, keyed by the worker's pid.

    uvicorn's workers accept from one shared socket, so which worker answers is decided per
    connection: a client that should talk to a given worker opens connections until one lands there
    and keeps it. A connection the server closed (keep-alive timeout) reconnects wherever the kernel
    sends it, so every call checks the pid of the answer and re-pins when it moved.
    """

    def __init__(self, url: str, workers: int, attempts: int = 200, timeout_s: float = 120.0) -> None:
        self.url, self.workers, self.attempts, self.timeout_s = url, workers, attempts, timeout_s
        self.clients: dict[str, httpx.Client] = {}
        self.moved = 0  # answers from another worker than asked (a connection the server had closed), resent
        self._pin()

    @property
    def pids(self) -> list[str]:
        return sorted(self.clients)

    def _open(self) -> tuple[str, httpx.Client]:
        client = httpx.Client(
            base_url=self.url,
            timeout=self.timeout_s,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        r = client.get("/health")
        r.raise_for_status()
        return r.headers.get(WORKER_HEADER, "?"), client

    def _pin(self, want: str | None = None) -> None:
        spare: list[httpx.Client] = []
        try:
            for _ in range(self.attempts):
                if (want is None and len(self.clients) >= self.workers) or (
                    want is not None and want in self.clients
                ):
                    return
                pid, client = self._open()
                if pid in self.clients:
                    spare.append(client)  # kept open meanwhile, so the next connection goes elsewhere
                else:
                    self.clients[pid] = client
            raise RuntimeError(
                f"reached workers {sorted(self.clients)} after {self.attempts} connections; wanted {want or self.workers}"
            )
        finally:
            for c in spare:
                c.close()

    def call(self, pid: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method path`` answered by worker ``pid`` (re-pinning and resending if another answered)."""
        for _ in range(5):
            r = self.clients[pid].request(method, path, **kwargs)
            if r.headers.get(WORKER_HEADER) == pid:
                return r
            self.moved += 1
            self.clients.pop(pid).close()
            self._pin(pid)
        raise RuntimeError(f"worker {pid} did not answer {method} {path} after 5 connections")

    def other(self, pid: str) -> str:
        """A worker other than ``pid`` (``pid`` itself with one worker)."""
        return next((p for p in self.pids if p != pid), pid)

    def close(self) -> None:
        for c in self.clients.values():
            c.close()


# --- time until a change shows ---------------------------------------------------------------
@dataclass
class Visibility:
    seconds: float | None  # from the start of ``action`` to the first answer showing the change
    action_s: float  # how long ``action`` itself took (the PUTs)
    polls: int  # answers the reader got after the action started
    reader: str
    error: str | None = None


def time_until_visible(
    action: Callable[[], None],
    poll: Callable[[], tuple[str, Any]],
    shows: Callable[[Any], bool],
    reader: str,
    timeout_s: float,
) -> Visibility:
    """Run ``action`` while another thread polls continuously; seconds until a poll answered by
    worker ``reader`` ``shows`` the change.

    The poller starts before the action (as live traffic would be there already) and its answers
    count from the moment the action starts: an answer that arrives after that and shows the change
    ends the wait, even if its request was sent a little earlier. The precondition (no poll shows
    the change before the action) is checked, so a change that was already there is not timed.
    """
    started = threading.Event()
    state: dict[str, Any] = {"t0": None, "seen": None, "polls": 0, "error": None, "early": False}
    deadline = time.perf_counter() + timeout_s

    def poller() -> None:
        while time.perf_counter() < deadline:
            try:
                pid, body = poll()
            except Exception as exc:  # reported: a benchmark must not hide failures
                state["error"] = f"{type(exc).__name__}: {exc}"[:300]
                started.set()
                return
            t = time.perf_counter()
            started.set()
            t0 = state["t0"]
            if t0 is None:
                if pid == reader and shows(body):
                    state["early"] = True
                continue
            state["polls"] += 1
            if pid == reader and shows(body):
                state["seen"] = t
                return

    thread = threading.Thread(target=poller, daemon=True)
    thread.start()
    started.wait(timeout_s)
    t0 = time.perf_counter()
    state["t0"] = t0
    error = None
    try:
        action()
    except Exception as exc:
        error = f"action failed: {type(exc).__name__}: {exc}"[:300]
    action_s = time.perf_counter() - t0
    thread.join(max(0.0, deadline - time.perf_counter()) + 1.0)
    if state["early"]:
        error = error or "the change showed before the action"
    error = error or state["error"] or (None if state["seen"] else f"not visible within {timeout_s:.0f}s")
    seconds = None if state["seen"] is None or error else state["seen"] - t0
    return Visibility(seconds, action_s, state["polls"], reader, error)


def search_poll(workers: WorkerClients, pid: str, params: dict[str, Any]) -> Callable[[], tuple[str, Any]]:
    def poll() -> tuple[str, Any]:
        r = workers.call(pid, "GET", "/v1/search", params=params)  # re-pinned if the connection moved
        r.raise_for_status()
        return r.headers.get(WORKER_HEADER, "?"), r.json()

    return poll


def hit_skus(body: dict) -> list[str]:
    return [h["product"]["sku"] for h in body.get("hits", [])]


def put_json(workers: WorkerClients, pid: str, path: str, rows: list[dict] | bytes) -> dict:
    """PUT a pre-encoded JSON body on worker ``pid``; every row must be applied."""
    content = rows if isinstance(rows, bytes) else json.dumps(rows).encode()
    r = workers.call(pid, "PUT", path, content=content, headers=JSON_HEADERS)
    if r.status_code != 200:
        raise RuntimeError(f"PUT {path} -> {r.status_code}: {r.text[:300]}")
    body = r.json()
    if body["rejected"]:
        raise RuntimeError(f"PUT {path}: {len(body['rejected'])} rows rejected, first {body['rejected'][0]}")
    return body


# --- rows of real skus and stores ------------------------------------------------------------
@dataclass
class CatalogFacts:
    skus: list[str]
    prices: dict[str, float]
    stores: list[str]
    titles: pd.DataFrame = field(repr=False)  # sku, title, category, brand, color, size, target, price

    @classmethod
    def of(cls, bundle: Path) -> CatalogFacts:
        catalog = Catalog.load(bundle / A.CATALOG_DIR)
        p = catalog.products
        cols = [
            c
            for c in ("sku", "title", "category", "brand", "color", "size", "target", "price")
            if c in p.columns
        ]
        return cls(
            skus=p["sku"].astype(str).tolist(),
            prices=dict(zip(p["sku"].astype(str), p["price"].astype(float), strict=True)),
            stores=list(catalog.store_ids),
            titles=p[cols].reset_index(drop=True),
        )


def inventory_rows(
    skus: Sequence[str], locations: Sequence[str], n: int, rng: np.random.Generator
) -> list[dict]:
    """``n`` stock levels over distinct (location, sku) cells (cycling when there are fewer cells)."""
    cells = len(skus) * len(locations)
    picks = rng.permutation(cells)[: min(n, cells)]
    picks = np.resize(picks, n)
    quantity = rng.integers(0, 60, n)
    return [
        {"store_id": locations[c // len(skus)], "sku": skus[c % len(skus)], "quantity": int(q)}
        for c, q in zip(picks, quantity, strict=True)
    ]


def price_scopes(stores: Sequence[str], base: bool = True) -> list[dict]:
    """Where a price can apply: everywhere (base), one channel, one store, or a timed web sale."""
    scopes: list[dict] = [{}] if base else []
    scopes += [{"channel": ch} for ch in PRICE_CHANNELS]
    scopes += [{"store_id": s} for s in stores]
    scopes.append({"channel": "web", "sale": True})
    return scopes


def price_rows(
    skus: Sequence[str],
    prices: dict[str, float],
    stores: Sequence[str],
    n: int,
    rng: np.random.Generator,
    now: datetime,
    base: bool = True,
) -> list[dict]:
    """``n`` valid prices over distinct (sku, scope) keys: base prices (if ``base``), channel and
    store overrides, and web sales running from yesterday to next week (with their list price)."""
    scopes = price_scopes(stores, base)
    keys = len(skus) * len(scopes)
    picks = np.resize(rng.permutation(keys)[: min(n, keys)], n)
    factor = rng.uniform(0.7, 1.2, n)
    start = (now - timedelta(days=1)).isoformat()
    end = (now + timedelta(days=7)).isoformat()
    rows = []
    for k, f in zip(picks, factor, strict=True):
        sku, scope = skus[k % len(skus)], scopes[k // len(skus)]
        regular = max(0.5, float(prices.get(sku, 20.0)))
        row: dict[str, Any] = {"sku": sku, "price": round(regular * float(f), 2)}
        if scope.get("sale"):
            row.update(
                channel="web",
                valid_from=start,
                valid_to=end,
                price=round(regular * 0.8, 2),
                list_price=round(regular, 2),
            )
        else:
            row.update({k2: v for k2, v in scope.items()})
        rows.append(row)
    return rows


# --- retrain + restart baseline --------------------------------------------------------------
def retrain_seconds(
    data: Path, skip: bool, train_json: Path, log_dir: Path, timeout_s: float
) -> dict[str, Any]:
    """Wall seconds of ``omnirank train --data <data> --out <tmp>`` (or the last measured value)."""
    if skip:
        saved = json.loads(train_json.read_text())
        return {
            "source": f"{train_json.relative_to(REPO)} ({saved.get('date')}; training.pipeline.train in a child process)",
            "train_s": float(saved["train"]["wall_s"]),
            "loadavg": saved.get("machine", {}).get("loadavg_start"),
        }
    omnirank = Path(sys.executable).with_name("omnirank")
    cmd = [str(omnirank)] if omnirank.exists() else [sys.executable, "-m", "training.cli"]
    with tempfile.TemporaryDirectory(prefix="bench-live-train-", dir=log_dir) as tmp:
        log = Path(tmp) / "train.log"
        start_load = loadavg()
        t = time.perf_counter()
        with open(log, "wb") as fh:
            proc = subprocess.run(
                [*cmd, "train", "--data", str(data), "--out", str(Path(tmp) / "bundles")],
                cwd=REPO,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
                timeout=timeout_s,
                check=False,
            )
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(
                f"omnirank train failed ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}"
            )
    return {
        "source": "measured in this run (omnirank train)",
        "train_s": wall,
        "loadavg": [start_load, loadavg()],
    }


# --- part 1: staleness -----------------------------------------------------------------------
def store_queries(facts: CatalogFacts, queries: Sequence[str]) -> list[tuple[str, str]]:
    """(query, store) pairs, every store in turn."""
    return [(q, facts.stores[i % len(facts.stores)]) for i, q in enumerate(queries)]


def bench_staleness(
    workers: WorkerClients, facts: CatalogFacts, queries: Sequence[str], reps: int, timeout_s: float
) -> dict[str, Any]:
    """Sell-out / restock pairs of the top hit of store-filtered searches (distinct skus), the
    writer and reader workers swapped every change."""
    used: set[str] = set()
    changes: list[dict] = []
    candidates = iter(store_queries(facts, queries))
    while len(changes) < reps:
        pair = next(candidates, None)
        if pair is None:
            break
        q, store = pair
        writer = workers.pids[(len(changes) // 2) % len(workers.pids)]
        reader = workers.other(writer)
        params = {"q": q, "store_id": store, "k": 20}
        r = workers.call(reader, "GET", "/v1/search", params=params)
        hits = r.json().get("hits", []) if r.status_code == 200 else []
        if not hits or hits[0]["product"]["sku"] in used or not hits[0]["product"].get("stock_in_store"):
            continue
        sku, qty = hits[0]["product"]["sku"], int(hits[0]["product"]["stock_in_store"])
        used.add(sku)
        for kind, quantity in (("sell out", 0), ("restock", qty)):
            if len(changes) >= reps:
                break
            change = [{"store_id": store, "sku": sku, "quantity": quantity}]
            gone = kind == "sell out"
            vis = time_until_visible(
                lambda w=writer, change=change: put_json(workers, w, "/v1/inventory", change),
                search_poll(workers, reader, params),
                lambda body, gone=gone, sku=sku: (
                    (sku not in hit_skus(body)) if gone else (sku in hit_skus(body))
                ),
                reader,
                timeout_s,
            )
            changes.append(
                {"kind": kind, "sku": sku, "store_id": store, "query": q, "writer": writer, "reader": reader}
                | {
                    "staleness_ms": None if vis.seconds is None else vis.seconds * 1e3,
                    "put_ms": vis.action_s * 1e3,
                }
                | {"polls": vis.polls, "error": vis.error}
            )
            if gone:  # the next pair's writer is this one's reader: swap roles for the restock too
                writer, reader = reader, writer
    seen = [c["staleness_ms"] / 1e3 for c in changes if c["staleness_ms"] is not None]
    return {
        "stats": latency_stats(seen),
        "put": latency_stats([c["put_ms"] / 1e3 for c in changes]),
        "errors": sum(c["error"] is not None for c in changes),
        "cross_worker": sum(c["writer"] != c["reader"] for c in changes),
        "changes": changes,
    }


# --- part 2: bulk ----------------------------------------------------------------------------
def bench_bulk(
    workers: WorkerClients,
    facts: CatalogFacts,
    queries: Sequence[str],
    kind: str,
    batches: int,
    batch_rows: int,
    rng: np.random.Generator,
    timeout_s: float,
) -> dict[str, Any]:
    """``batches`` PUTs of ``batch_rows`` rows from one client to one worker, back to back, while the
    other worker serves a search continuously; done when that search shows the last batch's last row
    (a marker: the top hit of a store-filtered search sold out, or a web search's top hit repriced)."""
    writer = workers.pids[0]
    reader = workers.other(writer)
    marker_q, marker_store = next(
        (q, s)
        for q, s in store_queries(facts, queries)
        if (
            hits := workers.call(reader, "GET", "/v1/search", params={"q": q, "store_id": s})
            .json()
            .get("hits")
        )
    )
    params: dict[str, Any] = {"q": marker_q, "k": 100}
    if kind == "inventory":
        params["store_id"] = marker_store
    top = workers.call(reader, "GET", "/v1/search", params=params).json()["hits"][0]["product"]
    marker_sku = top["sku"]
    skus = [s for s in facts.skus if s != marker_sku]
    now = datetime.now(timezone.utc)
    if kind == "inventory":
        locations = [*facts.stores, "web"]
        bodies = [inventory_rows(skus, locations, batch_rows, rng) for _ in range(batches)]
        bodies[-1][-1] = {"store_id": marker_store, "sku": marker_sku, "quantity": 0}

        def shows(body: dict) -> bool:
            return marker_sku not in hit_skus(body)

        path = "/v1/inventory"
    else:
        bodies = [price_rows(skus, facts.prices, facts.stores, batch_rows, rng, now) for _ in range(batches)]
        marker_price = round(float(top["price"]) + 0.37, 2)  # close to its price: the ranking barely moves
        bodies[-1][-1] = {"sku": marker_sku, "price": marker_price}

        def shows(body: dict) -> bool:
            return any(
                h["product"]["sku"] == marker_sku and abs(h["product"]["price"] - marker_price) < 1e-6
                for h in body.get("hits", [])
            )

        path = "/v1/prices"
    encoded = [json.dumps(b).encode() for b in bodies]  # what a feed would send; not the client's CPU
    put_seconds: list[float] = []

    def action() -> None:
        for content in encoded:
            t = time.perf_counter()
            put_json(workers, writer, path, content)
            put_seconds.append(time.perf_counter() - t)

    vis = time_until_visible(action, search_poll(workers, reader, params), shows, reader, timeout_s)
    rows = batches * batch_rows
    return {
        "kind": kind,
        "rows": rows,
        "batches": batches,
        "batch_rows": batch_rows,
        "body_mb": sum(map(len, encoded)) / len(encoded) / 2**20,
        "seconds_to_visible": vis.seconds,
        "rows_per_s": None if vis.seconds is None else rows / vis.seconds,
        "put_only_rows_per_s": rows / vis.action_s,
        "put": latency_stats(put_seconds),
        "visible_after_last_put_ms": None if vis.seconds is None else (vis.seconds - vis.action_s) * 1e3,
        "marker": {"sku": marker_sku, "query": marker_q, "store_id": params.get("store_id")},
        "writer": writer,
        "reader": reader,
        "error": vis.error,
    }


# --- part 3: new product ---------------------------------------------------------------------
def new_products(facts: CatalogFacts, n: int, rng: np.random.Generator, tag: str) -> list[dict]:
    """Products a merchant adds: a made-up model name before a real product's title, that product's
    category and attributes. The made-up word is in no indexed title, so the exact title can rank
    first only if the new product is indexed."""
    letters = np.array(list("bcdfghjklmnprstvwxz"))
    vowels = np.array(list("aeiou"))
    out = []
    short = np.flatnonzero(
        facts.titles["title"].astype(str).str.len().between(10, 200).to_numpy()
    )  # q is capped at 256 chars
    for i, src in enumerate(rng.choice(short, size=n, replace=False)):
        source = facts.titles.iloc[int(src)]
        word = "".join(
            f"{c}{v}" for c, v in zip(rng.choice(letters, 4), rng.choice(vowels, 4), strict=True)
        ).capitalize()
        product = {
            "sku": f"LIVE-{tag}-{i:03d}",
            "title": f"{word} {source['title']}",
            "category": str(source.get("category") or "") or "Home Improvement",
            "price": round(float(source["price"]) if float(source.get("price") or 0) > 0 else 19.99, 2),
        }
        for col in ("brand", "color", "size", "target"):
            value = source.get(col)
            if isinstance(value, str) and value:
                product[col] = value
        out.append(product)
    return out


def put_then_writer(
    workers: WorkerClients,
    writer: str,
    reader: str,
    product: dict,
    shows: Callable[[Any], bool],
    timeout_s: float,
    timing: dict[str, float],
) -> None:
    """``PUT /v1/products`` on ``writer``, then its search polled until ``shows``; seconds of each
    from the start in ``timing`` (``put_s``, ``writer_s``)."""
    start = time.perf_counter()
    put_json(workers, writer, "/v1/products", [product])
    timing["put_s"] = time.perf_counter() - start
    if writer == reader:  # one worker: the reader's poll is every worker's (and holds its connection)
        return
    poll = search_poll(workers, writer, {"q": product["title"]})
    while not shows(poll()[1]):
        if time.perf_counter() - start > timeout_s:
            raise RuntimeError(f"not first on the writing worker {writer} within {timeout_s:.0f}s")
    timing["writer_s"] = time.perf_counter() - start


def bench_new_product(workers: WorkerClients, products: list[dict], timeout_s: float) -> dict[str, Any]:
    """Per product: seconds from the PUT's start until the *other* worker's search has it first
    (``seconds``) and until every worker's has (``every_worker_seconds``: the writer is searched
    too, from the moment the PUT answered, while the other worker is polled)."""
    results = []
    for i, product in enumerate(products):
        writer = workers.pids[i % len(workers.pids)]
        reader = workers.other(writer)
        shows = lambda body, sku=product["sku"]: hit_skus(body)[:1] == [sku]  # noqa: E731
        timing: dict[str, float] = {}
        vis = time_until_visible(
            functools.partial(put_then_writer, workers, writer, reader, product, shows, timeout_s, timing),
            search_poll(workers, reader, {"q": product["title"]}),
            shows,
            reader,
            timeout_s,
        )
        every = (
            None
            if vis.seconds is None or ("writer_s" not in timing and writer != reader)
            else max(vis.seconds, timing.get("writer_s", 0.0))
        )
        results.append(
            {"sku": product["sku"], "title": product["title"], "writer": writer, "reader": reader}
            | {"seconds": vis.seconds, "put_ms": timing.get("put_s", vis.action_s) * 1e3, "polls": vis.polls}
            | {"every_worker_seconds": every, "error": vis.error}
        )
    seen = [r["seconds"] for r in results if r["seconds"] is not None]
    everywhere = [r["every_worker_seconds"] for r in results if r["every_worker_seconds"] is not None]
    return {
        "stats": latency_stats(seen),
        "every_worker": latency_stats(everywhere),
        "put": latency_stats([r["put_ms"] / 1e3 for r in results]),
        "errors": sum(r["error"] is not None for r in results),
        "products": results,
    }


# --- part 4: swaps under load ----------------------------------------------------------------
@dataclass
class LoadRecord:
    start: float
    seconds: float
    ok: bool
    error: str | None = None


def steady_load(
    url: str,
    items: Sequence[dict],
    clients: int,
    stop: threading.Event,
    max_seconds: float,
    duration: float | None = None,
) -> list[LoadRecord]:
    """Closed loop until ``stop`` is set (or ``duration`` / ``max_seconds`` have passed):
    ``clients`` threads, each with its own keep-alive client, search one item after another.

    Every request is kept with its start time, so a phase (the swaps, the corrupt bundles) can be
    cut out afterwards. ``common.run_load`` stops after a fixed list; this one runs as long as the
    swaps take. The clients are created before the clock starts (an httpx client costs ~0.1 s).
    """
    records: list[LoadRecord] = []
    lock = threading.Lock()
    pool = [httpx.Client(base_url=url, timeout=60) for _ in range(clients)]
    deadline = time.perf_counter() + max_seconds
    if duration is not None:
        deadline = min(deadline, time.perf_counter() + duration)

    def loop(offset: int) -> None:
        mine: list[LoadRecord] = []
        client, i = pool[offset], offset
        while not stop.is_set() and time.perf_counter() < deadline:
            t = time.perf_counter()
            try:
                r = client.get("/v1/search", params=items[i % len(items)])
                ok = r.status_code < 300
                err = None if ok else f"HTTP {r.status_code}: {r.text[:200]}"
            except Exception as exc:  # counted: a failed request is the figure of this part
                ok, err = False, f"{type(exc).__name__}: {exc}"[:300]
            mine.append(LoadRecord(t, time.perf_counter() - t, ok, err))
            i += clients
        with lock:
            records.extend(mine)

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(clients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for c in pool:
            c.close()
    return records


def span(records: Sequence[LoadRecord]) -> tuple[float, float]:
    """From the first request's start to the last one's end."""
    if not records:
        return 0.0, 0.0
    return min(r.start for r in records), max(r.start + r.seconds for r in records) + 1e-9


def window_stats(records: Sequence[LoadRecord], start: float, end: float) -> dict[str, Any]:
    inside = [r for r in records if start <= r.start < end]
    ok = [r.seconds for r in inside if r.ok]
    failed = [r for r in inside if not r.ok]
    stats = latency_stats(ok, end - start)
    stats.update(
        {"requests": len(inside), "failed": len(failed), "first_error": failed[0].error if failed else None}
    )
    return stats


def copy_bundle(src: Path, bundles: Path, name: str) -> Path:
    """A copy of a published bundle as version ``name``: every file hard-linked (never written), the
    manifest written anew with the version renamed, so /health tells the copies apart."""
    dst = bundles / name
    for f in src.rglob("*"):
        if f.is_file() and f.name != MANIFEST:
            target = dst / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(f, target)
    manifest = json.loads((src / MANIFEST).read_text())
    manifest["version"] = name
    (dst / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return dst


def _own_copy(path: Path) -> None:
    """Replace a hard link by a private copy before altering it (the source bundle must stay intact)."""
    tmp = path.with_name(path.name + ".own")
    shutil.copyfile(path, tmp)
    os.replace(tmp, path)


def corrupt_copies(src: Path, bundles: Path) -> dict[str, Path]:
    """The ways a bundle arrives broken; each is a version directory ``latest`` can be pointed at."""
    manifest = json.loads((src / MANIFEST).read_text())
    files = sorted(manifest["files"], key=lambda f: (-manifest["files"][f]["bytes"], f))
    out: dict[str, Path] = {}
    # one byte flipped in the middle of the largest file
    d = copy_bundle(src, bundles, "corrupt-flipped-byte")
    _own_copy(d / files[0])
    with open(d / files[0], "r+b") as fh:
        fh.seek(manifest["files"][files[0]]["bytes"] // 2)
        b = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([b[0] ^ 0xFF]))
    out["flipped byte"] = d
    # one listed file missing (the query encoder's ONNX model if there is one, else the largest file)
    d = copy_bundle(src, bundles, "corrupt-missing-file")
    missing = next((f for f in files if f.endswith(".onnx")), files[0])
    (d / missing).unlink()
    out["missing file"] = d
    # half-written: the manifest and half the files copied, the last of them cut short
    d = bundles / "corrupt-half-written"
    ordered = sorted(manifest["files"])
    half = ordered[: max(1, len(ordered) // 2)]
    for f in half:
        (d / f).parent.mkdir(parents=True, exist_ok=True)
        os.link(src / f, d / f)
    _own_copy(d / half[-1])
    with open(d / half[-1], "r+b") as fh:
        fh.truncate(manifest["files"][half[-1]]["bytes"] // 2)
    manifest_half = dict(manifest, version="corrupt-half-written")
    (d / MANIFEST).write_text(json.dumps(manifest_half))
    out["half-written directory"] = d
    # a directory still being copied, manifest not there yet (latest pointed at it by hand)
    d = bundles / "corrupt-no-manifest"
    for f in half:
        (d / f).parent.mkdir(parents=True, exist_ok=True)
        os.link(src / f, d / f)
    out["no manifest yet"] = d
    return out


def point_latest_anyway(bundles: Path, version: str) -> None:
    """``latest`` -> ``version`` without ``point_latest``'s manifest check (a hand-made symlink)."""
    tmp = bundles / f"{TMP_PREFIX}latest-bench"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(version, tmp)
    os.replace(tmp, bundles / LATEST)


def reload_all(workers: WorkerClients) -> dict[str, dict]:
    """``POST /v1/admin/reload`` on every worker at once; each answer by worker pid."""
    out: dict[str, dict] = {}

    def one(pid: str) -> None:
        try:
            r = workers.call(pid, "POST", "/v1/admin/reload")
            out[pid] = r.json() | {"http": r.status_code}
        except Exception as exc:
            out[pid] = {"status": "error", "detail": f"{type(exc).__name__}: {exc}"[:300], "http": None}

    threads = [threading.Thread(target=one, args=(pid,)) for pid in workers.pids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def bench_swaps(
    bundle: Path, work: Path, search_items: list[dict], args: argparse.Namespace, notes: list[str]
) -> dict[str, Any]:
    bundles = work / "bundles"
    bundles.mkdir(parents=True)
    names = ["swap-a", "swap-b"]
    for name in names:
        copy_bundle(bundle, bundles, name)
    point_latest(bundles, names[0])
    broken = corrupt_copies(bundle, bundles)
    out: dict[str, Any] = {"loadavg_start": loadavg()}
    t = time.perf_counter()
    with LiveServer(
        bundles, work / "state", workers=args.workers, startup_timeout_s=args.startup_timeout
    ) as server:
        out["server_start_s"] = time.perf_counter() - t
        workers = WorkerClients(server.url, args.workers)
        try:
            steady_load(
                server.url, search_items[-50:], args.swap_clients, threading.Event(), 10, duration=3.0
            )
            out["rss_mb_before"] = server.rss_mb()
            # baseline: the same load, no swap
            records = steady_load(
                server.url,
                search_items,
                args.swap_clients,
                threading.Event(),
                args.max_seconds,
                duration=args.swap_baseline_seconds,
            )
            out["without_swaps"] = window_stats(records, *span(records))
            # swaps, then corrupt bundles, under the same load
            stop = threading.Event()
            holder: dict[str, list[LoadRecord]] = {}
            loader = threading.Thread(
                target=lambda: holder.setdefault(
                    "r",
                    steady_load(
                        server.url, search_items, args.swap_clients, stop, args.swap_max_seconds + 600
                    ),
                ),
                daemon=True,
            )
            loader.start()
            time.sleep(1.0)
            swaps: list[dict] = []
            t_swaps = time.perf_counter()
            for i in range(args.swaps):
                if time.perf_counter() - t_swaps > args.swap_max_seconds:
                    notes.append(f"swaps stopped after {i} of {args.swaps}: --swap-max-seconds reached")
                    break
                target = names[(i + 1) % 2]
                t = time.perf_counter()
                point_latest(bundles, target)
                answers = reload_all(workers)
                swaps.append(
                    {
                        "target": target,
                        "seconds": time.perf_counter() - t,
                        "server_rss_mb": server.rss_mb(),
                        "ok": all(
                            a.get("bundle_version") == target and a.get("status") in ("loaded", "unchanged")
                            for a in answers.values()
                        ),
                        "answers": {
                            pid: {k: a.get(k) for k in ("status", "bundle_version", "detail")}
                            for pid, a in answers.items()
                        },
                    }
                )
            t_corrupt = time.perf_counter()
            served = swaps[-1]["target"] if swaps else names[0]
            refusals = []
            for label, directory in broken.items():
                if (directory / MANIFEST).exists():
                    point_latest(bundles, directory.name)
                else:
                    point_latest_anyway(bundles, directory.name)
                answers = reload_all(workers)
                health = {pid: workers.call(pid, "GET", "/health").json() for pid in workers.pids}
                probe = {
                    pid: workers.call(pid, "GET", "/v1/search", params={"q": "shoes"}).status_code
                    for pid in workers.pids
                }
                refusals.append(
                    {
                        "case": label,
                        "refused": all(a.get("status") == "refused" for a in answers.values()),
                        "still_serving": all(h["bundle_version"] == served for h in health.values())
                        and all(s == 200 for s in probe.values()),
                        "listed_in_health": all(
                            bool(h["refused_bundles"])
                            and h["refused_bundles"][-1]["path"] in (str(directory.resolve()), str(bundles))
                            for h in health.values()
                        ),
                        "reason": next(iter(answers.values())).get("detail", "")[:300],
                    }
                )
                point_latest(bundles, served)
                reload_all(workers)
            t_end = time.perf_counter()
            stop.set()
            loader.join(120)
            records = holder.get("r", [])
            out["rss_mb_after"] = server.rss_mb()
        finally:
            workers.close()
    out |= {
        "swaps": len(swaps),
        "swaps_ok": sum(s["ok"] for s in swaps),
        "swap_seconds": latency_stats([s["seconds"] for s in swaps]),
        "during_swaps": window_stats(records, t_swaps, t_corrupt),
        "during_corrupt": window_stats(records, t_corrupt, t_end),
        "corrupt": refusals,
        "swap_log": swaps,
        "clients": args.swap_clients,
        "loadavg_end": loadavg(),
    }
    return out


# --- part 5: overrides -----------------------------------------------------------------------
def search_items(queries: Sequence[str], stores: Sequence[str]) -> list[dict]:
    """Search requests as shoppers send them: a third plain (web), a third in the app, a third
    filtered to a store, so channel, store and web prices and stock are all read."""
    items = []
    for i, q in enumerate(queries):
        params: dict[str, Any] = {"q": q}
        if i % 3 == 1:
            params["channel"] = "app"
        elif i % 3 == 2:
            params["store_id"] = stores[i % len(stores)]
        items.append(params)
    return items


def one_client(url: str, items: Sequence[dict], max_seconds: float) -> dict[str, Any]:
    seconds, errors = [], []
    deadline = time.perf_counter() + max_seconds
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60) as client:
        for params in items:
            if time.perf_counter() > deadline:
                break
            t = time.perf_counter()
            r = client.get("/v1/search", params=params)
            if r.status_code >= 300:
                errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
                continue
            seconds.append(time.perf_counter() - t)
    stats = latency_stats(seconds, time.perf_counter() - t0)
    stats.update({"errors": len(errors), "first_error": errors[0] if errors else None})
    return stats


def bench_overrides(
    bundle_root: Path,
    facts: CatalogFacts,
    warm: list[dict],
    measured: list[dict],
    work: Path,
    args: argparse.Namespace,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """A fresh 1-worker server per condition and round (same process type), the same queries each."""
    now = datetime.now(timezone.utc)
    prices = price_rows(facts.skus, facts.prices, facts.stores, args.overrides, rng, now, base=False)
    stock = inventory_rows(facts.skus, [*facts.stores, "web"], args.overrides, rng)
    by_condition: dict[str, list[dict]] = {"none": [], "overrides": []}
    health: dict[str, Any] = {}
    for rnd in range(args.override_rounds):
        for condition in ("none", "overrides") if rnd % 2 == 0 else ("overrides", "none"):
            with LiveServer(
                bundle_root, work / f"overrides-{rnd}-{condition}", startup_timeout_s=args.startup_timeout
            ) as server:
                with httpx.Client(base_url=server.url, timeout=120) as c:
                    if condition == "overrides":
                        for path, rows in (("/v1/prices", prices), ("/v1/inventory", stock)):
                            r = c.put(path, content=json.dumps(rows).encode(), headers=JSON_HEADERS)
                            if r.status_code != 200 or r.json()["rejected"]:
                                raise RuntimeError(f"PUT {path} -> {r.status_code}: {r.text[:300]}")
                    for params in warm:  # applies the live rows, warms the price views
                        c.get("/v1/search", params=params).raise_for_status()
                    health[condition] = c.get("/health").json()["live"]
                st = one_client(server.url, measured, args.max_seconds)
                st["round"], st["loadavg"] = rnd, loadavg()
                by_condition[condition].append(st)
    out: dict[str, Any] = {
        "rounds": by_condition,
        "live": health,
        "price_overrides": len(prices),
        "stock_levels": len(stock),
    }
    for condition, runs in by_condition.items():
        out[condition] = {
            "p50_ms": float(np.median([r["p50_ms"] for r in runs])),
            "p99_ms": float(np.median([r["p99_ms"] for r in runs])),
            "n": int(sum(r["n"] for r in runs)),
            "errors": int(sum(r["errors"] for r in runs)),
        }
    out["p99_ratio"] = out["overrides"]["p99_ms"] / out["none"]["p99_ms"]
    return out


# --- large catalogs (new products only) ------------------------------------------------------
def large_bundle(
    scale: str, bundle: Path, args: argparse.Namespace, settings: Settings
) -> tuple[Path, dict[str, Any]] | None:
    """The search-only bundle of Home Depot or the generated catalog, built and cached by
    ``bench_search``'s own functions (the same cache entries its HTTP rows serve)."""
    if scale == "home_depot":
        csv = args.home_depot / "products.csv"
        if not csv.exists():
            return None
        key = file_hash(
            csv,
            extra=json.dumps(
                [settings.exact_index_max_items, settings.hnsw_m, settings.hnsw_ef_construction]
            ),
        )
        ix = bench_search.build_or_load(
            "home_depot",
            key,
            lambda: bench_search.home_depot_products(csv),
            lambda p: bench_search.cached_title_embeddings(csv, bundle / A.ENCODER_DIR, A.MODEL_FILE),
            settings,
        )
    else:
        ix = bench_search.generated_indexes(bundle, args.generated_size, settings)
    root, assembly = bench_search.search_only_bundle(ix, bundle, settings)
    info = {
        "items": len(ix.products),
        "build": ix.seconds,
        "bundle_assembly": assembly,
        "bundles_dir": str(root),
    }
    del ix
    gc.collect()
    return root, info


# --- table -----------------------------------------------------------------------------------
def row(
    part: str,
    scale: str,
    measure: str,
    *,
    n: int | None = None,
    p50: float | None = None,
    p99: float | None = None,
    value: float | None = None,
    unit: str = "",
    target: float | None = None,
    higher_is_better: bool = False,
    baseline: float | None = None,
    baseline_label: str | None = None,
    load: list[float] | None = None,
    errors: int = 0,
    extra: dict | None = None,
) -> dict[str, Any]:
    """One result row. ``errors`` (changes never seen, failed runs) make the verdict FAIL whatever the value."""
    return {
        "part": part,
        "scale": scale,
        "measure": measure,
        "n": n,
        "p50": p50,
        "p99": p99,
        "value": value,
        "unit": unit,
        "target": target,
        "verdict": "FAIL" if errors and target is not None else verdict(value, target, higher_is_better),
        "errors": errors,
        "baseline": baseline,
        "baseline_label": baseline_label,
        "loadavg": load,
        **(extra or {}),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="bundles dir holding the sample bundle's `latest` (default: settings bundles_dir)",
    )
    parser.add_argument(
        "--data", type=Path, default=REPO / "data_samples", help="data the retrain baseline trains on"
    )
    parser.add_argument(
        "--queries",
        type=Path,
        default=REPO / "data_samples" / "queries.parquet",
        help="labelled sample queries",
    )
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    parser.add_argument(
        "--scales",
        default="sample,home_depot,generated",
        help="new_product scales: sample, home_depot, generated",
    )
    parser.add_argument(
        "--generated-size", type=int, default=100_000, help="products in the generated catalog (new_product)"
    )
    parser.add_argument(
        "--home-depot",
        type=Path,
        default=bench_search.HOME_DEPOT,
        help="dir with products.csv (new_product at 54,667 real titles)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="uvicorn worker processes (staleness, bulk, new_product, swaps)",
    )
    parser.add_argument(
        "--staleness-reps",
        type=int,
        default=40,
        help="stock changes timed (alternating sell-out and restock)",
    )
    parser.add_argument(
        "--bulk-batches", type=int, default=5, help="batches per bulk run (inventory and prices each)"
    )
    parser.add_argument("--batch-rows", type=int, default=BATCH_ROWS, help="rows per bulk batch")
    parser.add_argument("--new-products", type=int, default=10, help="products added per scale")
    parser.add_argument("--swaps", type=int, default=50, help="bundle swaps under load")
    parser.add_argument(
        "--swap-clients", type=int, default=2, help="closed-loop search clients during the swaps"
    )
    parser.add_argument(
        "--swap-max-seconds", type=float, default=900.0, help="stop swapping after this many seconds"
    )
    parser.add_argument(
        "--swap-baseline-seconds", type=float, default=60.0, help="the same load without swaps, seconds"
    )
    parser.add_argument(
        "--overrides", type=int, default=10_000, help="live price overrides and stock levels applied (each)"
    )
    parser.add_argument(
        "--override-requests", type=int, default=600, help="searches per overrides run (1 client)"
    )
    parser.add_argument(
        "--override-rounds", type=int, default=2, help="rounds of (none, overrides) servers, order alternated"
    )
    parser.add_argument(
        "--visible-timeout",
        type=float,
        default=30.0,
        help="give up waiting for one change after this many seconds",
    )
    parser.add_argument("--max-seconds", type=float, default=120.0, help="cap on each measured run")
    parser.add_argument(
        "--startup-timeout", type=float, default=900.0, help="seconds a server may take to become healthy"
    )
    parser.add_argument(
        "--skip-retrain",
        action="store_true",
        help="baseline: read the last training time from results/train.json instead of training",
    )
    parser.add_argument(
        "--train-timeout", type=float, default=3600.0, help="cap on the retrain baseline, seconds"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results (default benchmarks/results/live.json)"
    )
    args = parser.parse_args()
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; known: {PARTS}")
    args.scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    return args


@dataclass
class Run:
    """What every part reads (the sample bundle, its catalog, the queries) and writes (rows, details)."""

    args: argparse.Namespace
    settings: Settings
    bundle_root: Path
    bundle: Path
    facts: CatalogFacts
    rng: np.random.Generator
    queries: list[str]  # labelled queries and typing prefixes, shuffled (bench_search.query_pool)
    full_queries: list[str]  # the labelled queries, in file order
    work: Path = Path()
    retrain: dict[str, Any] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def warm(workers: WorkerClients, queries: Sequence[str]) -> None:
    """Every worker answers a few searches first (encoder session, price views, live overlay)."""
    for q in queries:
        for pid in workers.pids:
            workers.call(pid, "GET", "/v1/search", params={"q": q})


def run_sample_server(run: Run) -> None:
    """Staleness, new products at the sample scale and bulk updates: one ``--workers`` server."""
    args, parts = run.args, run.args.parts
    t = time.perf_counter()
    with LiveServer(
        run.bundle_root, run.work / "sample", workers=args.workers, startup_timeout_s=args.startup_timeout
    ) as server:
        restart_s = time.perf_counter() - t
        run.retrain |= {"restart_s": restart_s, "total_s": run.retrain["train_s"] + restart_s}
        baseline_s = run.retrain["total_s"]
        label = f"retrain {run.retrain['train_s']:.0f} s + restart {restart_s:.0f} s"
        workers = WorkerClients(server.url, args.workers)
        try:
            if len(workers.pids) < 2:
                run.notes.append("one worker only: each change is read back from the worker that wrote it")
            warm(workers, run.queries[:20])
            if "staleness" in parts:
                console.print("[cyan]▶ staleness[/]")
                load = loadavg()
                st = bench_staleness(
                    workers, run.facts, run.full_queries, args.staleness_reps, args.visible_timeout
                )
                run.details["staleness"] = st
                s = st["stats"]
                run.rows.append(
                    row(
                        "staleness",
                        "sample",
                        "stock PUT -> the other worker's search shows it",
                        n=s.get("n"),
                        p50=s.get("p50_ms"),
                        p99=s.get("p99_ms"),
                        value=s.get("p99_ms"),
                        unit="ms (p99)",
                        target=STALENESS_P99_TARGET_MS,
                        baseline=baseline_s * 1e3,
                        baseline_label=label,
                        load=load,
                        errors=st["errors"],
                    )
                )
                run.rows.append(
                    row(
                        "staleness",
                        "sample",
                        "  the PUT itself (1 row)",
                        n=st["put"].get("n"),
                        p50=st["put"].get("p50_ms"),
                        p99=st["put"].get("p99_ms"),
                        unit="ms",
                        load=load,
                    )
                )
            if "new_product" in parts and "sample" in args.scales:
                console.print("[cyan]▶ new product, sample[/]")
                load = loadavg()
                npd = bench_new_product(
                    workers,
                    new_products(run.facts, args.new_products, run.rng, "sample"),
                    args.visible_timeout,
                )
                npd["restart_s"] = restart_s
                run.details.setdefault("new_product", {})["sample"] = npd
                run.rows.extend(
                    new_product_row(
                        "sample", len(run.facts.skus), npd, run.retrain["train_s"], restart_s, load, every
                    )
                    for every in (False, True)
                )
            if "bulk" in parts:
                for kind in ("inventory", "prices"):
                    console.print(f"[cyan]▶ bulk {kind}[/]")
                    load = loadavg()
                    b = bench_bulk(
                        workers,
                        run.facts,
                        run.full_queries,
                        kind,
                        args.bulk_batches,
                        args.batch_rows,
                        run.rng,
                        max(args.visible_timeout, args.max_seconds),
                    )
                    run.details.setdefault("bulk", {})[kind] = b
                    equivalent = _retrain_rows(args.data, kind)
                    run.rows.append(
                        row(
                            "bulk",
                            "sample",
                            f"PUT /v1/{kind}, {args.batch_rows:,}-row batches, until a search shows the last",
                            n=b["rows"],
                            p50=b["put"].get("p50_ms"),
                            p99=b["put"].get("p99_ms"),
                            value=b["rows_per_s"],
                            unit="rows/s (p50/p99: ms per batch)",
                            target=BULK_ROWS_PER_S_TARGET,
                            higher_is_better=True,
                            baseline=equivalent / baseline_s,
                            baseline_label=f"{equivalent:,} rows / ({label})",
                            load=load,
                            errors=int(b["error"] is not None),
                            extra={"put_only_rows_per_s": b["put_only_rows_per_s"]},
                        )
                    )
            run.details["sample_server_rss_mb"] = server.rss_mb()
            run.details["sample_connections_moved"] = workers.moved
        finally:
            workers.close()


def run_large_new_products(run: Run) -> None:
    """New products at the Home Depot and generated scales, each from its cached search-only bundle."""
    args = run.args
    for scale in [s for s in args.scales if s in ("home_depot", "generated")]:
        console.print(f"[cyan]▶ new product, {scale} (building / loading the cached search-only bundle)[/]")
        t = time.perf_counter()
        built = large_bundle(scale, run.bundle, args, run.settings)
        if built is None:
            run.notes.append(f"new_product {scale} skipped: {args.home_depot / 'products.csv'} not found")
            continue
        root, info = built
        info["prepare_s"] = time.perf_counter() - t
        facts = CatalogFacts.of(resolve_bundle_path(root))
        t = time.perf_counter()
        with LiveServer(
            root, run.work / f"new-{scale}", workers=args.workers, startup_timeout_s=args.startup_timeout
        ) as server:
            restart_s = time.perf_counter() - t
            workers = WorkerClients(server.url, args.workers)
            try:
                warm(workers, run.queries[:10])
                load = loadavg()
                npd = bench_new_product(
                    workers, new_products(facts, args.new_products, run.rng, scale), args.visible_timeout
                )
                npd |= {"restart_s": restart_s, "server_rss_mb": server.rss_mb(), **info}
                run.details.setdefault("new_product", {})[scale] = npd
                run.rows.extend(
                    new_product_row(
                        scale,
                        info["items"],
                        npd,
                        run.retrain.get("train_s", float("nan")),
                        restart_s,
                        load,
                        every,
                    )
                    for every in (False, True)
                )
            finally:
                workers.close()
    run.notes.append(
        "new product at the Home Depot / generated scale: the baseline is the sample's retrain time plus that catalog's own "
        "restart (a lower bound: training a 55k or 100k catalog takes longer)"
    )


def run_swaps(run: Run) -> None:
    args = run.args
    console.print(f"[cyan]▶ {args.swaps} bundle swaps under load[/]")
    sw = bench_swaps(
        run.bundle, run.work / "swaps", search_items(run.queries, run.facts.stores), args, run.notes
    )
    run.details["swaps"] = sw
    base, during, bad = sw["without_swaps"], sw["during_swaps"], sw["during_corrupt"]
    run.rows.append(
        row(
            "swaps",
            "sample",
            f"failed searches during {sw['swaps']} swaps ({sw['swaps_ok']} ok), {args.swap_clients} clients",
            n=during["requests"],
            p50=during.get("p50_ms"),
            p99=during.get("p99_ms"),
            value=float(during["failed"]),
            unit="failed (p50/p99: search ms)",
            target=SWAP_FAILED_TARGET,
            load=sw["loadavg_start"],
            errors=sw["swaps"] - sw["swaps_ok"],
        )
    )
    run.rows.append(
        row(
            "swaps",
            "sample",
            f"  baseline: the same load, no swaps ({args.swap_baseline_seconds:.0f} s)",
            n=base["requests"],
            p50=base.get("p50_ms"),
            p99=base.get("p99_ms"),
            value=float(base["failed"]),
            unit="failed (p50/p99: search ms)",
            load=sw["loadavg_start"],
        )
    )
    for case in sw["corrupt"]:
        ok = case["refused"] and case["still_serving"] and case["listed_in_health"]
        run.rows.append(
            row(
                "swaps",
                "sample",
                f"  corrupt: {case['case']}",
                unit="refused, old one serving" if ok else "NOT refused or not serving",
            )
        )
        run.rows[-1]["verdict"] = "PASS" if ok else "FAIL"
    run.rows.append(
        row(
            "swaps",
            "sample",
            "  failed searches while the corrupt bundles were refused",
            n=bad["requests"],
            p50=bad.get("p50_ms"),
            p99=bad.get("p99_ms"),
            value=float(bad["failed"]),
            unit="failed (p50/p99: search ms)",
            target=SWAP_FAILED_TARGET,
        )
    )


def run_overrides(run: Run) -> None:
    args = run.args
    console.print(
        f"[cyan]▶ search with {args.overrides:,} live price overrides + {args.overrides:,} stock levels vs none[/]"
    )
    warm_qs, measured = bench_search.slices(run.queries, [40, args.override_requests])
    load = loadavg()
    stores = run.facts.stores
    ov = bench_overrides(
        run.bundle_root,
        run.facts,
        search_items(warm_qs, stores),
        search_items(measured, stores),
        run.work,
        args,
        run.rng,
    )
    run.details["overrides"] = ov
    run.rows.append(
        row(
            "overrides",
            "sample",
            f"search, 1 client, {args.overrides:,} price overrides + {args.overrides:,} stock levels",
            n=ov["overrides"]["n"],
            p50=ov["overrides"]["p50_ms"],
            p99=ov["overrides"]["p99_ms"],
            value=ov["p99_ratio"],
            unit="p99 / baseline p99 (p50/p99: ms)",
            target=OVERRIDES_P99_RATIO_TARGET,
            baseline=ov["none"]["p99_ms"],
            baseline_label="p99 ms with no live rows",
            load=load,
            errors=ov["overrides"]["errors"],
        )
    )
    run.rows.append(
        row(
            "overrides",
            "sample",
            "  baseline: no live rows",
            n=ov["none"]["n"],
            p50=ov["none"]["p50_ms"],
            p99=ov["none"]["p99_ms"],
            unit="ms",
            load=load,
            errors=ov["none"]["errors"],
        )
    )


def main() -> None:
    args = parse_args()
    settings = Settings()
    machine = machine_info()
    machine["code"] = code_state()
    bundle_root = args.bundle or settings.bundles_dir
    bundle = resolve_bundle_path(bundle_root)
    labelled = pd.read_parquet(args.queries)["query"].astype(str).tolist()
    run = Run(
        args=args,
        settings=settings,
        bundle_root=bundle_root,
        bundle=bundle,
        facts=CatalogFacts.of(bundle),
        rng=np.random.default_rng(args.seed),
        queries=bench_search.query_pool(labelled, seed=args.seed),
        full_queries=list(dict.fromkeys(labelled)),
        notes=[
            "every server is a uvicorn child process on 127.0.0.1 started as `omnirank serve` starts it; the HTTP clients run on the same 2 cores",
            "staleness / bulk / new product: written through one worker's connection, read through the other worker's (pid header checked on every answer)",
            "bulk bodies are JSON-encoded before the clock starts (the feed's own CPU is not counted); the reader searches continuously meanwhile, so it applies every batch as live traffic would",
        ],
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    if {"staleness", "bulk", "new_product"} & set(args.parts):
        console.print(
            "[cyan]▶ baseline: retrain (omnirank train)[/]"
            + (" skipped: results/train.json" if args.skip_retrain else "")
        )
        run.retrain = retrain_seconds(
            args.data, args.skip_retrain, RESULTS / "train.json", CACHE, args.train_timeout
        )
        console.print(f"  train {run.retrain['train_s']:.1f}s ({run.retrain['source']})")
    with tempfile.TemporaryDirectory(prefix="bench-live-", dir=CACHE) as tmp:  # same filesystem: hard links
        run.work = Path(tmp)
        if {"staleness", "bulk", "new_product"} & set(args.parts):
            run_sample_server(run)
        if "new_product" in args.parts:
            run_large_new_products(run)
        if "swaps" in args.parts:
            run_swaps(run)
        if "overrides" in args.parts:
            run_overrides(run)
    report(run, machine)


def code_state() -> dict[str, Any]:
    """The commit measured, and the service code files that differed from it (a shared working tree)."""

    def git(*cmd: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            return subprocess.run(
                ["git", *cmd], cwd=REPO, capture_output=True, text=True, timeout=30
            ).stdout.rstrip("\n")
        return ""

    changed = git("status", "--porcelain", "--", "models", "service", "training")
    return {"head": git("rev-parse", "HEAD"), "uncommitted_service_code": changed.splitlines()}


def report(run: Run, machine: dict[str, Any]) -> None:
    columns = [
        "part",
        "scale",
        "measure",
        "n",
        "p50",
        "p99",
        "value",
        "unit",
        "target",
        "verdict",
        "baseline",
        "load avg (1 min)",
    ]
    keys = ["part", "scale", "measure", "n", "p50", "p99", "value", "unit", "target", "verdict", "baseline"]
    print_table(
        f"live catalog (load avg at start {machine['loadavg_start']}, now {loadavg()})",
        columns,
        [[r[k] for k in keys] + [None if not r["loadavg"] else r["loadavg"][0]] for r in run.rows],
    )
    if run.retrain:
        console.print(
            f"baseline: {run.retrain['source']}: train {run.retrain['train_s']:.1f} s"
            f" + restart {run.retrain.get('restart_s', float('nan')):.1f} s"
        )
    write_result(
        "live",
        {
            "machine": machine,
            "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(run.args).items()},
            "bundle": str(run.bundle),
            "baseline_retrain_restart": run.retrain,
            "rows": run.rows,
            "details": run.details,
            "notes": run.notes,
        },
        run.args.out,
    )


def new_product_row(
    scale: str,
    items: int,
    npd: dict,
    train_s: float,
    restart_s: float,
    load: list[float],
    every_worker: bool = False,
) -> dict[str, Any]:
    """The other worker's time (``every_worker``: the slower of the writer's and the other's)."""
    s = npd["every_worker"] if every_worker else npd["stats"]
    worst = s.get("max_ms")
    where = "every worker" if every_worker else "the other worker"
    return row(
        "new_product",
        scale,
        f"PUT product -> first hit for its exact title on {where} ({items:,} products)",
        n=s.get("n"),
        p50=None if s.get("p50_ms") is None else s["p50_ms"] / 1e3,
        p99=None if s.get("p99_ms") is None else s["p99_ms"] / 1e3,
        value=None if worst is None or npd["errors"] else worst / 1e3,
        unit="s (worst)",
        target=NEW_PRODUCT_TARGET_S,
        baseline=train_s + restart_s,
        baseline_label=f"retrain {train_s:.0f} s + restart {restart_s:.0f} s",
        load=load,
        errors=npd["errors"],
        extra={"put_p50_ms": npd["put"].get("p50_ms")},
    )


def _retrain_rows(data: Path, kind: str) -> int:
    """Rows a retrain takes in for this kind of change: the inventory table, or one price per product."""
    name = "inventory.parquet" if kind == "inventory" else "products.parquet"
    with contextlib.suppress(OSError, ValueError):
        return len(pd.read_parquet(data / name, columns=["sku"]))
    return 0


if __name__ == "__main__":
    main()
