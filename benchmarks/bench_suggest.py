"""Latency of search-as-you-type: ``GET /v1/suggest`` over HTTP against a live uvicorn, and in-process.

The workload replays typing: every prefix of popular logged queries and product titles (as a
shopper types them, one character at a time), plus misspelt last words that take the typo path.
Measured:

* in-process ``Suggester.suggest`` (the baseline: what the data structure costs);
* HTTP with 1 client and with 8 concurrent clients (keep-alive connections), one uvicorn worker on
  127.0.0.1, so the difference is what FastAPI + uvicorn + JSON add, and what queueing adds.

Run: ``.venv/bin/python benchmarks/bench_suggest.py --bundle bundles`` (about a minute on 2 cores).
Writes ``benchmarks/results/suggest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models import artifacts as A  # noqa: E402
from models.bundle import Bundle  # noqa: E402
from models.suggest import Suggester  # noqa: E402


def typed_prefixes(suggester: Suggester, n: int, seed: int) -> list[str]:
    """Prefixes as typed: whole strings character by character, with some typos in the last word."""
    rng = random.Random(seed)
    sources = [t for t, kind in zip(suggester.texts_, suggester.kinds_, strict=True) if kind in (0, 1)]
    out: list[str] = []
    while len(out) < n:
        text = rng.choice(sources)[:40]
        for end in range(1, len(text) + 1):
            prefix = text[:end]
            if prefix.strip():
                out.append(prefix)
        if len(text) > 5:  # a transposition near the end: exercises the typo path
            i = len(text) - 2
            out.append(text[:i] + text[i + 1] + text[i])
    rng.shuffle(out)
    return out[:n]


def summarise(seconds: list[float], wall: float | None = None) -> dict:
    ms = np.asarray(seconds) * 1e3
    out = {
        "n": int(ms.size),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
    }
    if wall:
        out["requests_per_s"] = round(ms.size / wall, 1)
    return out


def bench_in_process(suggester: Suggester, prefixes: list[str], k: int) -> dict:
    for p in prefixes[:200]:  # warm-up
        suggester.suggest(p, k)
    times = []
    for p in tqdm(prefixes, desc="in-process", leave=False):
        start = time.perf_counter()
        suggester.suggest(p, k)
        times.append(time.perf_counter() - start)
    return summarise(times)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(bundle: Path, state_dir: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "OMNIRANK_BUNDLES_DIR": str(bundle),
        "OMNIRANK_EVENT_STORE_PATH": str(state_dir / "events.sqlite3"),
        "OMNIRANK_RULES_PATH": str(state_dir / "rules.json"),
        "HF_HUB_OFFLINE": "1",
    }
    cmd = [sys.executable, "-m", "uvicorn", "service.app:create_app", "--factory", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with code {proc.returncode} before serving")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("uvicorn did not become healthy within 180 s")


def bench_http(base: str, prefixes: list[str], k: int, clients: int) -> dict:
    """Each client owns a keep-alive connection and sends its share of prefixes back to back."""
    shares = [prefixes[i::clients] for i in range(clients)]
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    bar = tqdm(total=len(prefixes), desc=f"http {clients} client(s)", leave=False)

    def work(share: list[str]) -> None:
        mine = []
        with httpx.Client(base_url=base, timeout=10) as client:
            for p in share[:20]:
                client.get("/v1/suggest", params={"q": p, "k": k})
            for p in share:
                start = time.perf_counter()
                response = client.get("/v1/suggest", params={"q": p, "k": k})
                mine.append(time.perf_counter() - start)
                if response.status_code != 200:
                    with lock:
                        errors.append(f"{response.status_code} for {p!r}")
                bar.update()
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=work, args=(s,)) for s in shares]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    bar.close()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[:3]}")
    return summarise(times, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--bundle", type=Path, default=REPO / "bundles", help="bundle dir or bundles dir with 'latest'"
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per scenario")
    parser.add_argument("--k", type=int, default=10, help="suggestions per request")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "suggest.json")
    args = parser.parse_args()

    bundle = Bundle.open(args.bundle)
    suggester = Suggester.load(bundle.path / A.SUGGEST_DIR)
    prefixes = typed_prefixes(suggester, args.requests, seed=7)
    results: dict = {
        "bundle": bundle.version,
        "entries": len(suggester.texts_),
        "keys": len(suggester.keys_),
        "k": args.k,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "scenarios": {"in_process": bench_in_process(suggester, prefixes, args.k)},
    }
    with tempfile.TemporaryDirectory() as state:
        port = free_port()
        server = start_server(args.bundle, Path(state), port)
        try:
            for clients in (1, 8):
                results["scenarios"][f"http_{clients}_clients"] = bench_http(
                    f"http://127.0.0.1:{port}", prefixes, args.k, clients
                )
        finally:
            server.terminate()
            server.wait(timeout=30)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    table = Table(
        title=f"GET /v1/suggest, k={args.k}, {len(prefixes)} typed prefixes, bundle {bundle.version}"
    )
    for col in ("scenario", "p50 ms", "p90 ms", "p99 ms", "max ms", "req/s"):
        table.add_column(col, justify="right" if col != "scenario" else "left")
    for name, r in results["scenarios"].items():
        table.add_row(
            name,
            *(f"{r[key]:.3f}" for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
            str(r.get("requests_per_s", "")),
        )
    Console().print(table)
    Console().print(f"written to {args.out}")


if __name__ == "__main__":
    main()
