"""Safety: acknowledged events survive ``kill -9``, overload is refused rather than failed, and
generated requests never break the service or its schema.

Three figures against a real ``omnirank serve --workers 2`` on 127.0.0.1, secured as in production
(``OMNIRANK_ADMIN_KEY`` set, no development mode, scoped keys from ``omnirank keys create``), each
with a baseline measured in the same run:

1. ``durability``: ``--cycles`` (20) crash cycles of ``--events`` (10,000) events posted in batches
   of 500 by two clients. In each cycle every process of the server (parent and workers) gets
   ``SIGKILL`` at a random moment mid-load; the server restarts on the same store and the clients
   retry the batches that got no answer, then post the rest. After the last cycle, with the server
   stopped, every event id acknowledged with 202 must be in the SQLite store (lost: target 0); then
   a replay of every acknowledged event must be answered "duplicate" and store nothing (stored twice:
   target 0). Baseline: the same posting without a kill (events/s).
2. ``overload``: ``GET /v1/search`` with Debian's ``wrk`` (a Lua script counts every status and
   times each 200). The capacity is the highest throughput of a connection sweep whose p99 stays
   within ``--p99-bound-ms``; then ``--steady-seconds`` (60) at that capacity (errors: target 0) and
   ``--overload-seconds`` (30) at ``--overload-factor`` (4) x its connections: statuses other than
   200 / 429 / 503 (target 0), p99 of the 200s, server RSS before and after, and the recovery: the
   seconds until 1-second windows at capacity are back within 1.5x the steady p99 (target <= 5 s).
   Baseline: one connection, and the steady run.
3. ``fuzz``: ``schemathesis run`` against the server's ``/openapi.json`` with the admin key,
   ``--cases`` (1,000) generated cases per operation (a top-up run for an operation that got fewer),
   counted apart for positive cases (schema-valid requests, the baseline: what clients are promised
   works) and negative ones (schema-violating requests): 5xx answers and response-schema violations,
   targets 0.

Each part is written to ``--out`` as soon as it is done, with its own load average; ``--parts X
--update`` reruns one part and keeps the others. Run: ``.venv/bin/python benchmarks/bench_safety.py
--bundle var/cache/bench/sample_bundles`` (see --help; about 30 minutes on 2 cores at the
defaults). Quick: ``--cycles 2 --events 2000 --sweep-seconds 3 --steady-seconds 5
--overload-seconds 5 --cases 20``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    REPO,
    RESULTS,
    WORKER_HEADER,
    WRK_LUA_PRELUDE,
    console,
    free_port,
    machine_info,
    print_table,
    verdict,
    write_result,
)

ADMIN_KEY = "bench-safety-admin-key-0123456789"
OMNIRANK = Path(sys.executable).with_name("omnirank")
CHANNELS = ("web", "app", "store")
EVENT_TYPES = ("view", "add_to_cart", "purchase", "search_click", "email_click")


# --- the server -------------------------------------------------------------------------------
@dataclass
class SecuredServer:
    """``omnirank serve --workers N`` in its own session (process group), with an admin key and no
    development mode, its events and live rules under ``state``, its output appended to
    ``state/server.log``. Restartable on the same store; :meth:`kill9` is a crash of every process."""

    bundles: Path
    state: Path
    workers: int = 2
    startup_s: float = 300.0
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None
    starts: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store_path(self) -> Path:
        return self.state / "events.sqlite3"

    def env(self) -> dict[str, str]:
        return (
            os.environ
            | {
                "OMNIRANK_ADMIN_KEY": ADMIN_KEY,
                "OMNIRANK_DEV_MODE": "0",
                "OMNIRANK_EVENT_STORE_PATH": str(self.store_path),
                "OMNIRANK_RULES_PATH": str(self.state / "rules.json"),
                "HF_HUB_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false",
            }
            | self.extra_env
        )

    def create_key(self, scope: str, name: str, *stores: str) -> str:
        """``omnirank keys create`` on this server's store: the key it prints."""
        cmd = [str(OMNIRANK), "keys", "create", "--scope", scope, "--name", name]
        for store in stores:
            cmd += ["--store", store]
        out = subprocess.run(
            cmd, cwd=REPO, env=self.env(), capture_output=True, text=True, check=True, timeout=120
        )
        return out.stdout.strip().splitlines()[-1]

    def start(self) -> float:
        """Start and wait until every worker answers the readiness probe; returns the seconds it took."""
        self.port = self.port or free_port()
        self.state.mkdir(parents=True, exist_ok=True)
        cmd = [str(OMNIRANK), "serve", "--bundle", str(self.bundles), "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--workers", str(self.workers)]
        t0 = time.perf_counter()
        with open(self.state / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        seen: set[str] = set()
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{self.url}/health/ready", timeout=5)  # a new connection: any worker
                if r.status_code == 200:
                    seen.add(r.headers.get(WORKER_HEADER, "?"))
                    if len(seen) >= self.workers:
                        self.starts.append(time.perf_counter() - t0)
                        return self.starts[-1]
                    continue
            time.sleep(0.3)
        self.kill9()
        raise TimeoutError(
            f"server not ready after {self.startup_s:.0f} s ({len(seen)} workers): {self.log_tail()}"
        )

    def group(self) -> list[int]:
        """Pids of the server's process group still running (not zombies)."""
        if self.proc is None:
            return []
        return [pid for pid, state, pgrp in _processes() if pgrp == self.proc.pid and state != "Z"]

    def kill9(self, timeout_s: float = 60) -> None:
        """``kill -9`` of the parent and every worker at once; returns when none of them runs."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        while self.group() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.group():
            raise RuntimeError(f"server processes {self.group()} survived SIGKILL")

    def stop(self) -> None:
        """A clean stop (SIGTERM: uvicorn's parent stops its workers), SIGKILL after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None and self.group():
                self.kill9()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        if self.group() or self.proc.poll() is None:
            self.kill9()

    def rss_mb(self) -> float:
        """Resident memory of every process of the server, summed, in MiB."""
        total = 0.0
        for pid in self.group():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as fh:
                total += next((int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS:")), 0.0)
        return round(total, 1)

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return (self.state / "server.log").read_text(errors="replace")[-chars:]
        return ""

    def __enter__(self) -> SecuredServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _processes() -> Iterator[tuple[int, str, int]]:
    """(pid, state, process group) of every process (Linux /proc)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
        yield int(stat.parent.name), fields[0], int(fields[2])


# --- 1. durability ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CatalogFacts:
    skus: list[str]
    stores: list[str]
    customers: list[str]
    queries: list[str]


def catalog_facts(bundles: Path) -> CatalogFacts:
    bundle = (bundles / "latest").resolve() if (bundles / "latest").exists() else bundles
    products = pd.read_parquet(bundle / "catalog" / "products.parquet", columns=["sku", "title"])
    stores = pd.read_parquet(bundle / "catalog" / "stores.parquet", columns=["store_id"])["store_id"].tolist()
    users = bundle / "recs" / "user_ids.json"
    customers = (
        json.loads(users.read_text())[:2000] if users.exists() else [f"c_safety_{i}" for i in range(2000)]
    )
    queries_file = REPO / "data_samples" / "queries.parquet"
    if queries_file.exists():
        queries = pd.read_parquet(queries_file, columns=["query"])["query"].astype(str).tolist()
    else:
        queries = [" ".join(t.split()[:2]) for t in products["title"].astype(str).head(400)]
    return CatalogFacts(products["sku"].astype(str).tolist(), stores, customers, queries)


def make_events(facts: CatalogFacts, n: int, prefix: str, seed: int) -> list[dict]:
    """``n`` valid events with unique ids (real skus, stores and customers of the bundle)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        channel = rng.choice(CHANNELS)
        out.append(
            {
                "event_id": f"{prefix}-{i:07d}-{rng.getrandbits(40):010x}",
                "type": rng.choice(EVENT_TYPES),
                "timestamp": f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                "channel": channel,
                "sku": rng.choice(facts.skus),
                "customer_id": rng.choice(facts.customers),
                "store_id": rng.choice(facts.stores) if channel == "store" and facts.stores else None,
            }
        )
    return out


def batches_of(events: list[dict], size: int) -> list[list[dict]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


@dataclass
class Ledger:
    """What the clients were told: ids acknowledged (202, accepted or duplicate) and batches that got
    no answer (in doubt: the server may or may not have stored them before it died)."""

    acked: set[str] = field(default_factory=set)
    accepted: int = 0
    duplicates: int = 0
    in_doubt_ids: set[str] = field(default_factory=set)
    in_doubt_stored: int = 0  # of the in-doubt ids, those a retry found stored already
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post_batches(
    url: str,
    key: str,
    batches: deque,
    ledger: Ledger,
    clients: int = 2,
    on_ack: Any = None,
    stop: threading.Event | None = None,
) -> deque:
    """``clients`` threads post the batches (each its own keep-alive connection) until none is left or
    the server stops answering; returns the batches that got no answer (to retry)."""
    failed: deque = deque()

    def worker() -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
            while not (stop is not None and stop.is_set()):
                try:
                    batch = batches.popleft()
                except IndexError:
                    return
                ids = [e["event_id"] for e in batch]
                try:
                    r = client.post("/v1/events", json={"events": batch})
                except httpx.HTTPError:
                    failed.append(batch)
                    with ledger.lock:
                        ledger.in_doubt_ids.update(ids)
                    return  # the server is gone: stop this client
                if r.status_code != 202:
                    failed.append(batch)
                    with ledger.lock:
                        ledger.unexpected.append(f"HTTP {r.status_code}: {r.text[:200]}")
                    if r.status_code >= 500 or r.status_code == 429:
                        time.sleep(0.2)
                        continue
                    return
                body = r.json()
                with ledger.lock:
                    if body["accepted"] + body["duplicates"] != len(batch) or body.get("rejected"):
                        ledger.unexpected.append(
                            f"202 but {body['accepted']}+{body['duplicates']} of {len(batch)}"
                        )
                    ledger.acked.update(ids)
                    ledger.accepted += body["accepted"]
                    ledger.duplicates += body["duplicates"]
                    retried = ledger.in_doubt_ids.intersection(ids)
                    if retried:
                        # the ids this retry found stored are what the dead server had committed
                        ledger.in_doubt_stored += min(body["duplicates"], len(retried))
                if on_ack is not None:
                    on_ack(len(batch))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failed


def stored_ids(store: Path, ids: set[str]) -> set[str]:
    """Which of ``ids`` the SQLite store holds, read through a read-only connection (server stopped)."""
    found: set[str] = set()
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        wanted = list(ids)
        for i in range(0, len(wanted), 900):
            chunk = wanted[i : i + 900]
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0] for r in conn.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk)
            )
    finally:
        conn.close()
    return found


def store_rows(store: Path) -> tuple[int, str]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0], conn.execute(
            "PRAGMA integrity_check"
        ).fetchone()[0]
    finally:
        conn.close()


class KillTrigger(threading.Thread):
    """``kill -9`` of the server once ``threshold`` events are acknowledged, ``delay`` seconds later
    (so the kill lands inside a batch rather than between two)."""

    def __init__(self, server: SecuredServer, threshold: int, delay: float) -> None:
        super().__init__(daemon=True)
        self.server, self.threshold, self.delay = server, threshold, delay
        self.count = 0
        self.killed_at = 0.0
        self._fire = threading.Event()
        self._lock = threading.Lock()

    def acked(self, n: int) -> None:
        with self._lock:
            self.count += n
            if self.count >= self.threshold:
                self._fire.set()

    def run(self) -> None:
        self._fire.wait(timeout=120)
        time.sleep(self.delay)
        self.killed_at = time.perf_counter()
        self.server.kill9()


def durability(args: argparse.Namespace, facts: CatalogFacts, work: Path) -> dict[str, Any]:
    server = SecuredServer(args.bundle, work / "durability", workers=args.workers)
    server.state.mkdir(parents=True, exist_ok=True)
    key = server.create_key("personalize", "bench-safety events")
    rng = random.Random(args.seed)
    ledger = Ledger()
    all_events: dict[str, dict] = {}
    cycles: list[dict] = []
    try:
        first_start = server.start()
        # baseline: the same posting, no kill
        events = make_events(facts, args.events, "base", args.seed)
        all_events.update((e["event_id"], e) for e in events)
        t0 = time.perf_counter()
        left = post_batches(server.url, key, deque(batches_of(events, args.batch)), ledger)
        base_s = time.perf_counter() - t0
        if left:
            raise RuntimeError(f"baseline posting failed: {ledger.unexpected[:3]}")
        baseline = {
            "events": len(events),
            "seconds": round(base_s, 2),
            "events_per_s": round(len(events) / base_s, 1),
        }
        console.print(f"  baseline: {len(events):,} events in {base_s:.1f} s, no kill")
        for cycle in range(args.cycles):
            events = make_events(facts, args.events, f"c{cycle:03d}", args.seed + 1 + cycle)
            all_events.update((e["event_id"], e) for e in events)
            queue = deque(batches_of(events, args.batch))
            trigger = KillTrigger(server, int(rng.uniform(0.1, 0.9) * len(events)), rng.uniform(0, 0.03))
            t0 = time.perf_counter()
            trigger.start()
            failed = post_batches(server.url, key, queue, ledger, on_ack=trigger.acked)
            trigger.join(timeout=180)
            before_kill = trigger.count
            in_doubt = sum(len(b) for b in failed)
            restart_s = server.start()
            retry = deque([*failed, *queue])
            left = post_batches(server.url, key, retry, ledger)
            if left:
                raise RuntimeError(
                    f"cycle {cycle}: posting after the restart failed: {ledger.unexpected[-3:]}"
                )
            cycles.append(
                {
                    "cycle": cycle,
                    "acked_before_kill": before_kill,
                    "events_per_s_before_kill": round(before_kill / max(trigger.killed_at - t0, 1e-3), 1),
                    "in_doubt_at_kill": in_doubt,
                    "restart_s": round(restart_s, 2),
                    "seconds": round(time.perf_counter() - t0, 2),
                }
            )
            console.print(
                f"  cycle {cycle + 1}/{args.cycles}: killed after {before_kill:,} acked, {in_doubt} in doubt, "
                f"restart {restart_s:.1f} s"
            )
        server.kill9()  # the last crash, with nothing in flight
        rows_before, integrity = store_rows(server.store_path)
        present = stored_ids(server.store_path, ledger.acked)
        lost = sorted(ledger.acked - present)
        # replay every acknowledged event: each must come back as a duplicate, nothing stored again
        server.start()
        replay_ledger = Ledger()
        replay = deque(batches_of([all_events[i] for i in sorted(ledger.acked)], args.batch))
        left = post_batches(server.url, key, replay, replay_ledger)
        server.stop()
        rows_after, integrity_after = store_rows(server.store_path)
    finally:
        server.stop()
    restarts = [c["restart_s"] for c in cycles]
    return {
        "cycles": args.cycles,
        "events_per_cycle": args.events,
        "batch": args.batch,
        "baseline": baseline,
        "first_start_s": round(first_start, 2),
        "restart_s_median": float(np.median(restarts)) if restarts else None,
        "events_per_s_before_kill_median": float(np.median([c["events_per_s_before_kill"] for c in cycles]))
        if cycles
        else None,
        "acked": len(ledger.acked),
        "in_doubt": len(ledger.in_doubt_ids),
        "in_doubt_found_stored_on_retry": ledger.in_doubt_stored,
        "lost": len(lost),
        "lost_examples": lost[:10],
        "replay_batches_unanswered": sum(len(b) for b in left),
        "replay_answered_duplicate": replay_ledger.duplicates,
        "replay_accepted": replay_ledger.accepted,
        "stored_twice": rows_after - rows_before,
        "rows": rows_after,
        "integrity_check": [integrity, integrity_after],
        "unexpected_answers": ledger.unexpected[:10] + replay_ledger.unexpected[:10],
        "per_cycle": cycles,
    }


# --- 2. overload --------------------------------------------------------------------------------
WRK_LUA = r"""
-- GET /v1/search over a list of queries with an API key. Counts every status and keeps the latency
-- of each 200: one connection per thread, so request() and response() strictly alternate.
"""
WRK_LUA += (
    WRK_LUA_PRELUDE
    + r"""
function init(args)
  key = os.getenv("WRK_KEY")
  queries = {}
  for line in io.lines(os.getenv("WRK_QUERIES")) do queries[#queries + 1] = line end
  statuses = {}
  lat = {}
  i = tid * 7919
  sent = nil
end

function request()
  i = i + 1
  sent = now_us()
  return wrk.format("GET", "/v1/search?k=10&q=" .. queries[(i % #queries) + 1], {["X-API-Key"] = key})
end


function done(summary, latency, requests)
  write_result(summary, string.format('"non_2xx": %d', summary.errors.status))
end
"""
)


def have_wrk() -> str | None:
    return shutil.which("wrk")


class Wrk:
    """Runs ``wrk`` against one server with the Lua script above; each run returns its statuses and
    the latency percentiles of its 200s."""

    def __init__(self, url: str, key: str, queries: list[str], work: Path) -> None:
        self.url, self.key, self.work = url, key, work
        work.mkdir(parents=True, exist_ok=True)
        self.script = work / "search.lua"
        self.script.write_text(WRK_LUA)
        self.queries = work / "queries.txt"
        self.queries.write_text(
            "\n".join(urllib.parse.quote(q, safe="") for q in queries if q.strip()) + "\n"
        )
        self.n = 0

    def run(self, connections: int, seconds: float, label: str = "") -> dict[str, Any]:
        self.n += 1
        out = self.work / f"wrk-{self.n}.json"
        env = os.environ | {"WRK_KEY": self.key, "WRK_QUERIES": str(self.queries), "WRK_OUT": str(out)}
        cmd = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{max(1, round(seconds))}s"]
        cmd += ["--timeout", "10s", "-s", str(self.script), self.url]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr[-500:]} {proc.stdout[-500:]}")
        raw = json.loads(out.read_text())
        lat_ms = np.asarray(raw["lat200_us"], dtype=np.float64) / 1e3
        duration = raw["duration_us"] / 1e6
        statuses = {int(k): v for k, v in raw["statuses"].items()}
        socket_errors = sum(raw["socket_errors"].values())
        return {
            "label": label,
            "connections": connections,
            "seconds": round(duration, 2),
            "requests": raw["requests"],
            "req_per_s": round(raw["requests"] / duration, 1) if duration else 0.0,
            "ok_per_s": round(statuses.get(200, 0) / duration, 1) if duration else 0.0,
            "statuses": statuses,
            "socket_errors": raw["socket_errors"],
            "errors": socket_errors + sum(v for s, v in statuses.items() if s != 200),
            "unexpected_statuses": sum(v for s, v in statuses.items() if s not in (200, 429, 503)),
            **_percentiles(lat_ms),
        }


def _percentiles(ms: np.ndarray) -> dict[str, float | None]:
    if ms.size == 0:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def pick_capacity(sweep: list[dict], bound_ms: float) -> dict | None:
    """The smallest connection count reaching 95% of the best throughput among runs without errors
    and with p99 within the bound."""
    ok = [r for r in sweep if r["errors"] == 0 and r["p99_ms"] is not None and r["p99_ms"] <= bound_ms]
    if not ok:
        return None
    best = max(r["ok_per_s"] for r in ok)
    return min((r for r in ok if r["ok_per_s"] >= 0.95 * best), key=lambda r: r["connections"])


def overload(args: argparse.Namespace, facts: CatalogFacts, work: Path) -> dict[str, Any]:
    if not have_wrk():
        msg = "wrk is not installed: `apt-get install -y wrk` (Debian) to run the overload part"
        console.print(f"[red]{msg}[/]")
        return {"skipped": msg}
    extra = {"OMNIRANK_MAX_IN_FLIGHT": str(args.max_in_flight)} if args.max_in_flight else {}
    server = SecuredServer(args.bundle, work / "overload", workers=args.workers, extra_env=extra)
    server.state.mkdir(parents=True, exist_ok=True)
    key = server.create_key("search", "bench-safety storefront")
    with server:
        wrk = Wrk(server.url, key, facts.queries, work / "wrk")
        wrk.run(2, 2, "warm-up")
        sweep = []
        for c in args.sweep:
            row = wrk.run(c, args.sweep_seconds, f"sweep c={c}")
            sweep.append(row)
            console.print(
                f"  sweep {c:>3} connections: {row['ok_per_s']:.0f} req/s, p99 {row['p99_ms']} ms, errors {row['errors']}"
            )
        cap = pick_capacity(sweep, args.p99_bound_ms)
        if cap is None:
            return {"sweep": sweep, "error": f"no connection count kept p99 within {args.p99_bound_ms} ms"}
        c = cap["connections"]
        rss_before = server.rss_mb()
        steady = wrk.run(c, args.steady_seconds, f"steady c={c}")
        console.print(
            f"  steady {c} connections {args.steady_seconds:.0f} s: {steady['ok_per_s']:.0f} req/s, p99 {steady['p99_ms']} ms, errors {steady['errors']}"
        )
        rss_mid = server.rss_mb()
        over = wrk.run(
            c * args.overload_factor, args.overload_seconds, f"overload c={c * args.overload_factor}"
        )
        ended = time.perf_counter()
        console.print(
            f"  overload {c * args.overload_factor} connections: statuses {over['statuses']}, p99(200) {over['p99_ms']} ms"
        )
        target = 1.5 * steady["p99_ms"] if steady["p99_ms"] else None
        windows, recovery_s = [], None
        while time.perf_counter() - ended < args.recovery_max_seconds:
            w = wrk.run(c, 1, "recovery window")
            w["at_s"] = round(time.perf_counter() - ended, 2)
            windows.append({k: w[k] for k in ("at_s", "ok_per_s", "p99_ms", "statuses")})
            if target is not None and w["p99_ms"] is not None and w["p99_ms"] <= target and w["errors"] == 0:
                recovery_s = w["at_s"]
                break
        rss_after = server.rss_mb()
    return {
        "workers": args.workers,
        "max_in_flight": args.max_in_flight or "service default",
        "p99_bound_ms": args.p99_bound_ms,
        "sweep": sweep,
        "capacity": {"connections": c, "req_per_s": cap["ok_per_s"], "p99_ms": cap["p99_ms"]},
        "baseline_one_connection": next((r for r in sweep if r["connections"] == 1), None),
        "steady": steady,
        "overload": over,
        "recovery_target_p99_ms": round(target, 2) if target else None,
        "recovery_s": recovery_s,
        "recovery_windows": windows,
        "rss_mb": {"before": rss_before, "after_steady": rss_mid, "after_overload_and_recovery": rss_after},
    }


# --- 3. fuzz ------------------------------------------------------------------------------------
FUZZ_CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "negative_data_rejection",
)
TARGET_CHECKS = {"not_a_server_error": "server_errors", "response_schema_conformance": "schema_violations"}


def fuzz(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One ``schemathesis run`` in mode ``all`` (each operation gets ``--cases`` cases, positive and
    negative mixed), then a top-up run for each operation with parameters or a body that got fewer:
    schemathesis draws some path parameters from values other operations returned (real skus, say),
    and Hypothesis stops an operation early once it has drawn every one of them. The NDJSON reports
    are read case by case, split by the mode each case was generated in."""
    exe = Path(sys.executable).with_name("schemathesis")
    if not exe.exists():
        msg = "schemathesis is not installed in this environment (pip install -e '.[test]')"
        console.print(f"[red]{msg}[/]")
        return {"skipped": msg}
    server = SecuredServer(args.bundle, work / "fuzz", workers=args.workers)
    t0 = time.perf_counter()
    with server:
        spec = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
        inputs = {
            f"{method.upper()} {path}"
            for path, item in spec["paths"].items()
            for method, op in item.items()
            if isinstance(op, dict) and (op.get("parameters") or op.get("requestBody"))
        }
        runs = [run_schemathesis(exe, server.url, args, work / "fuzz-all", [], args.fuzz_max_seconds)]
        first = read_schemathesis_report([runs[0]["report"]]) if runs[0]["report"] else {"per_operation": {}}
        short = sorted(
            label for label in inputs if first["per_operation"].get(label, {}).get("cases", 0) < args.cases
        )
        for i, label in enumerate(short):
            budget = args.fuzz_max_seconds - (time.perf_counter() - t0)
            if budget < 30:
                break
            method, path = label.split(" ", 1)
            console.print(
                f"  top-up: {label} had {first['per_operation'].get(label, {}).get('cases', 0)} cases"
            )
            extra = ["--include-method", method, "--include-path", path]
            runs.append(
                run_schemathesis(exe, server.url, args, work / f"fuzz-top-up-{i}", extra, budget, "fuzzing")
            )
        rss = server.rss_mb()
    reports = [r["report"] for r in runs if r["report"]]
    if not reports:
        raise RuntimeError(f"schemathesis wrote no report: {runs[0]['log'][-2000:]}")
    out = read_schemathesis_report(reports)
    with_input = [label for label in out["per_operation"] if label in inputs]
    out["operations_with_input"] = len(with_input)
    out["min_cases_per_operation_with_input"] = min(
        (out["per_operation"][x]["cases"] for x in with_input), default=0
    )
    out["topped_up"] = short
    out["runs"] = [{k: v for k, v in r.items() if k not in ("log", "report")} for r in runs]
    out.update(
        {
            "cases_per_operation_asked": args.cases,
            "seconds": round(time.perf_counter() - t0, 1),
            "server_rss_mb": rss,
        }
    )
    out["log_tail"] = runs[0]["log"][-1500:]
    found = [tool_errors(r["log"]) for r in runs]
    out["tool_errors"] = sum(f["tool_errors"] for f in found)
    out["tool_error_operations"] = [op for f in found for op in f["tool_error_operations"]]
    out["tool_errors_text"] = next((f["tool_errors_text"] for f in found if f.get("tool_errors_text")), "")
    return out


def run_schemathesis(
    exe: Path,
    url: str,
    args: argparse.Namespace,
    out: Path,
    extra: list[str],
    budget_s: float,
    phases: str = "examples,coverage,fuzzing",
) -> dict[str, Any]:
    """``schemathesis run`` with the admin key; returns its exit code, seconds, log and NDJSON report."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [str(exe), "run", f"{url}/openapi.json", "-H", f"X-API-Key: {ADMIN_KEY}", *extra]
    cmd += ["--max-examples", str(args.cases), "--mode", "all", "--phases", phases]
    cmd += ["--checks", ",".join(FUZZ_CHECKS), "--continue-on-failure", "--no-shrink"]
    # one worker: as fast as two on 2 cores, and Hypothesis' lambda-source cache is not thread-safe
    # (two workers raised "AST constructor recursion depth mismatch" in a few operations)
    cmd += ["--generation-database", "none", "--seed", str(args.seed), "--workers", "1", "--no-color"]
    cmd += ["--request-timeout", "30", "--report", "ndjson", "--report-dir", str(out / "report")]
    t0 = time.perf_counter()
    exit_code: int | str
    with open(out / "schemathesis.log", "w") as log:
        try:  # not --max-time: with it schemathesis keeps fuzzing until the budget is spent
            exit_code = subprocess.run(
                cmd, cwd=out, stdout=log, stderr=subprocess.STDOUT, timeout=budget_s
            ).returncode
        except subprocess.TimeoutExpired:
            exit_code = f"stopped after {budget_s:.0f} s"
    reports = sorted((out / "report").glob("*.ndjson"))
    return {
        "filter": " ".join(extra) or "all operations",
        "exit_code": exit_code,
        "seconds": round(time.perf_counter() - t0, 1),
        "log": (out / "schemathesis.log").read_text(errors="replace"),
        "report": reports[-1] if reports else None,
    }


def tool_errors(log: str) -> dict[str, Any]:
    """Errors schemathesis met itself (not answers of the service): the operations of its ERRORS
    section, each of which ended that operation's test early."""
    start = log.find("= ERRORS =")
    if start < 0:
        return {"tool_errors": 0, "tool_error_operations": []}
    end = min(
        (i for i in (log.find("= WARNINGS =", start), log.find("= SUMMARY =", start)) if i > 0),
        default=len(log),
    )
    section = log[start:end]
    ops = re.findall(r"^_{3,} (.+?) _{3,}$", section, flags=re.MULTILINE)
    return {"tool_errors": len(ops), "tool_error_operations": ops, "tool_errors_text": section[:1500]}


def _report_events(paths: list[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:  # the last line of a report cut short by the time budget
                    continue


def read_schemathesis_report(paths: list[Path]) -> dict[str, Any]:
    """Cases per operation and per generation mode, statuses, and every failed check counted per case
    (schemathesis's own summary counts unique failures only), over one or more NDJSON reports."""
    per_op: dict[str, dict[str, Any]] = {}
    modes: dict[str, dict[str, Any]] = {}
    examples: dict[str, list[str]] = {}
    for event in _report_events(paths):
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        rec = finished.get("recorder") or {}
        label = rec.get("label", "?")
        op = per_op.setdefault(label, {"cases": 0, "statuses": {}, "failures": {}})
        checks, interactions = rec.get("checks") or {}, rec.get("interactions") or {}
        for case_id, case in (rec.get("cases") or {}).items():
            meta = (case.get("value") or {}).get("meta") or {}
            mode = (meta.get("generation") or {}).get("mode", "?")
            m = modes.setdefault(mode, {"cases": 0, "statuses": {}, "failures": {}, "per_operation": {}})
            op["cases"] += 1
            m["cases"] += 1
            m["per_operation"][label] = m["per_operation"].get(label, 0) + 1
            response = (interactions.get(case_id) or {}).get("response") or {}
            status = str(response.get("status_code", "no response"))
            for bucket in (op["statuses"], m["statuses"]):
                bucket[status] = bucket.get(status, 0) + 1
            for check in checks.get(case_id) or ():
                if check.get("status") != "failure":
                    continue
                name = check.get("name", "?")
                for bucket in (op["failures"], m["failures"]):
                    bucket[name] = bucket.get(name, 0) + 1
                failure = (check.get("failure_info") or {}).get("failure") or {}
                seen = examples.setdefault(name, [])
                if len(seen) < 8:
                    text = f"{label} -> {status}: {str(failure.get('message', ''))[:300]}"
                    if not any(text[:120] == s[:120] for s in seen):
                        seen.append(text)
    for m in modes.values():
        m["operations"] = len(m["per_operation"])
        m["min_cases_per_operation"] = min(m["per_operation"].values(), default=0)
        for check, key in TARGET_CHECKS.items():
            m[key] = m["failures"].get(check, 0)
    return {
        "operations": len(per_op),
        "cases": sum(o["cases"] for o in per_op.values()),
        "min_cases_per_operation": min((o["cases"] for o in per_op.values()), default=0),
        "server_errors": sum(o["failures"].get("not_a_server_error", 0) for o in per_op.values()),
        "schema_violations": sum(
            o["failures"].get("response_schema_conformance", 0) for o in per_op.values()
        ),
        "modes": modes,
        "per_operation": per_op,
        "failure_examples": examples,
    }


# --- main ---------------------------------------------------------------------------------------
PARTS = ("durability", "overload", "fuzz")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--bundle", type=Path, default=REPO / "var" / "cache" / "bench" / "sample_bundles")
    p.add_argument("--parts", default="durability,overload,fuzz")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--cycles", type=int, default=20, help="kill -9 cycles")
    p.add_argument("--events", type=int, default=10_000, help="events posted per cycle")
    p.add_argument("--batch", type=int, default=500, help="events per POST")
    p.add_argument("--sweep", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8, 16, 32])
    p.add_argument("--sweep-seconds", type=float, default=10)
    p.add_argument("--p99-bound-ms", type=float, default=100.0, help="capacity: the p99 a search may reach")
    p.add_argument("--steady-seconds", type=float, default=60)
    p.add_argument("--overload-seconds", type=float, default=30)
    p.add_argument("--overload-factor", type=int, default=4)
    p.add_argument("--recovery-max-seconds", type=float, default=30)
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="OMNIRANK_MAX_IN_FLIGHT of the overload server (default: the service's)",
    )
    p.add_argument("--cases", type=int, default=1000, help="schemathesis cases per operation and mode")
    p.add_argument(
        "--fuzz-max-seconds",
        type=float,
        default=2700,
        help="schemathesis is stopped after this (the report keeps the operations it finished)",
    )
    p.add_argument("--out", type=Path, default=RESULTS / "safety.json")
    p.add_argument(
        "--update",
        action="store_true",
        help="keep the parts of --out not run now (each part records its own load)",
    )
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    if set(parts) - set(PARTS):
        p.error(f"--parts: choose from {', '.join(PARTS)}")
    info = machine_info()
    facts = catalog_facts(args.bundle)
    result: dict[str, Any] = {}
    if args.update and args.out.exists():  # keep the parts not run now, each with its own load average
        previous = json.loads(args.out.read_text())
        result = {part: previous[part] for part in PARTS if part in previous and part not in parts}
    result |= {
        "machine": info,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    runners = {
        "durability": lambda work: durability(args, facts, work),
        "overload": lambda work: overload(args, facts, work),
        "fuzz": lambda work: fuzz(args, work),
    }
    with tempfile.TemporaryDirectory(prefix="bench-safety-") as tmp:
        for part in (x for x in PARTS if x in parts):
            console.print(f"[cyan]▶ {part}[/]")
            started = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg_start": _load()}
            result[part] = runners[part](Path(tmp)) | started | {"loadavg_end": _load()}
            result["summary"] = summary_rows(result)
            write_result("safety", dict(result), args.out)  # each part saved as soon as it is done
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["summary"] = summary_rows(result)
    print_table(
        f"Safety (load avg {info['loadavg_start'][0]:.2f} at start, {result['loadavg_end'][0]:.2f} at end)",
        ["part", "figure", "value", "baseline", "target", ""],
        [
            [r["part"], r["figure"], r["value"], r["baseline"], r["target"], r["verdict"]]
            for r in result["summary"]
        ],
    )
    write_result("safety", result, args.out)
    return 0 if all(r["verdict"] != "FAIL" for r in result["summary"]) else 1


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def row(
        part: str, figure: str, value: Any, baseline: Any = None, target: Any = None, ok: str = "-"
    ) -> None:
        rows.append(
            {
                "part": part,
                "figure": figure,
                "value": value,
                "baseline": baseline,
                "target": target,
                "verdict": ok,
            }
        )

    d = result.get("durability")
    if d:
        row(
            "durability",
            f"acked events ({d['cycles']} kill -9 cycles x {d['events_per_cycle']:,})",
            d["acked"],
        )
        row("durability", "acked events lost", d["lost"], None, 0, verdict(d["lost"], 0))
        row(
            "durability",
            "stored twice after replaying every acked id",
            d["stored_twice"],
            None,
            0,
            verdict(d["stored_twice"], 0),
        )
        row(
            "durability",
            "replay answered duplicate",
            d["replay_answered_duplicate"],
            None,
            d["acked"],
            "PASS" if d["replay_answered_duplicate"] == d["acked"] else "FAIL",
        )
        row(
            "durability",
            "in doubt at a kill / of them stored",
            f"{d['in_doubt']} / {d['in_doubt_found_stored_on_retry']}",
        )
        row(
            "durability",
            "events/s until the kill (median of cycles)",
            d["events_per_s_before_kill_median"],
            d["baseline"]["events_per_s"],
        )
        row("durability", "restart s (median, 2 workers)", d["restart_s_median"])
    o = result.get("overload")
    if o and "steady" in o:
        cap, st, ov = o["capacity"], o["steady"], o["overload"]
        base = o["baseline_one_connection"] or {}
        row(
            "overload",
            f"capacity req/s (p99 <= {o['p99_bound_ms']:.0f} ms), connections",
            f"{cap['req_per_s']:.0f} @ {cap['connections']}",
            f"{base.get('ok_per_s', 0):.0f} @ 1",
        )
        row("overload", "steady: errors", st["errors"], None, 0, verdict(st["errors"], 0))
        row("overload", "steady: p99 ms", st["p99_ms"], base.get("p99_ms"))
        row("overload", f"{ov['connections']} connections: statuses", json.dumps(ov["statuses"]))
        row(
            "overload",
            "overload: statuses not 200/429/503 + socket errors",
            ov["unexpected_statuses"] + sum(ov["socket_errors"].values()),
            None,
            0,
            verdict(ov["unexpected_statuses"] + sum(ov["socket_errors"].values()), 0),
        )
        row("overload", "overload: p99 of the 200s ms", ov["p99_ms"], st["p99_ms"])
        row(
            "overload",
            "RSS MiB before / after",
            f"{o['rss_mb']['before']:.0f} / {o['rss_mb']['after_overload_and_recovery']:.0f}",
        )
        rec = o["recovery_s"]
        row(
            "overload",
            f"recovery s (p99 <= {o['recovery_target_p99_ms']} ms)",
            rec,
            None,
            5,
            verdict(rec, 5) if rec is not None else "FAIL",
        )
    elif o:
        row("overload", "skipped", o.get("skipped") or o.get("error"))
    f = result.get("fuzz")
    if f and "modes" in f:
        row(
            "fuzz",
            "operations / cases / seconds",
            f"{f['operations']} / {f['cases']:,} / {f['seconds']:,.0f}",
        )
        fewest = f.get("min_cases_per_operation_with_input")
        row(
            "fuzz",
            "fewest cases for an operation with parameters or a body",
            fewest,
            None,
            f">= {f['cases_per_operation_asked']:,}",
            verdict(fewest, f["cases_per_operation_asked"], higher_is_better=True),
        )
        row(
            "fuzz",
            "schemathesis' own errors (operations cut short)",
            f.get("tool_errors"),
            None,
            0,
            verdict(f.get("tool_errors"), 0),
        )
        for mode in ("positive", "negative"):
            m = f["modes"].get(mode)
            if m is None:
                continue
            row(
                "fuzz",
                f"{mode}: cases (fewest for one operation)",
                f"{m['cases']:,} ({m['min_cases_per_operation']:,})",
            )
            row("fuzz", f"{mode}: 5xx", m["server_errors"], None, 0, verdict(m["server_errors"], 0))
            row(
                "fuzz",
                f"{mode}: response schema violations",
                m["schema_violations"],
                None,
                0,
                verdict(m["schema_violations"], 0),
            )
            info = {k: v for k, v in m["failures"].items() if k not in TARGET_CHECKS}
            if info:
                row("fuzz", f"{mode}: other checks failed (no target)", json.dumps(info))
    elif f:
        row("fuzz", "skipped", f.get("skipped"))
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
