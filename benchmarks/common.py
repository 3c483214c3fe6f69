"""Helpers every service benchmark shares: machine facts, latency statistics, a closed-loop load
driver, a live uvicorn server on 127.0.0.1, rich tables and the JSON result file.

Kept in one place so two benchmarks never disagree on what "p99" or "throughput" means.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
CACHE = REPO / "var" / "cache" / "bench"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

console = Console(width=None if sys.stdout.isatty() else 200)  # logs and pipes get full tables


# --- machine ----------------------------------------------------------------------------------
def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc), in MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """High-water mark of this process' resident set, in MiB (VmHWM)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine_info() -> dict[str, Any]:
    """What a reader needs to judge a number: the machine is shared, so the load average matters."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def file_hash(path: Path, extra: str = "") -> str:
    """Short content hash of a file (plus a parameter string): the key of a cached derived artifact."""
    digest = hashlib.sha256(extra.encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def generated_products(
    sample: pd.DataFrame, popularity: np.ndarray, n: int, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` products recombined from the sample: the source product's attributes and a title whose
    words are partly swapped with a same-category donor's, and the source's purchase count as
    ``popularity`` (a ranker feature). Returns (products, source row of each)."""
    rng = np.random.default_rng(seed)
    source = rng.integers(0, len(sample), size=n)
    by_cat = sample.groupby("category").indices
    cats = sample["category"].to_numpy()
    words = [t.split() for t in sample["title"].astype(str)]
    titles = []
    for i, s in enumerate(tqdm(source, desc="recombining titles", unit="product", mininterval=2)):
        peers = by_cat[cats[s]]
        donor = words[peers[(i * 7919) % len(peers)]]
        mine = list(words[s])
        for _ in range(2):
            if len(mine) > 1 and donor:
                mine[1 + int(rng.integers(len(mine) - 1))] = donor[int(rng.integers(len(donor)))]
        titles.append(" ".join(mine))
    cols = ["brand", "category", "color", "size", "target", "price", "replenishment_days"]
    out = sample.iloc[source][cols].reset_index(drop=True)
    out.insert(0, "title", titles)
    out.insert(0, "sku", [f"GEN-{i:07d}" for i in range(n)])
    out["popularity"] = popularity[source]
    return out, source


# --- statistics -------------------------------------------------------------------------------
def latency_stats(seconds: Sequence[float], wall_s: float | None = None) -> dict[str, float]:
    """p50/p90/p99/max in ms (numpy's linear percentiles) and, given the wall time, requests/s."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    if ms.size == 0:
        return {"n": 0}
    out = {
        "n": int(ms.size),
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }
    if wall_s:
        out["wall_s"] = float(wall_s)
        out["per_s"] = float(ms.size / wall_s)
    return out


def verdict(value: float | None, target: float | None, higher_is_better: bool = False) -> str:
    if value is None or target is None:
        return "-"
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "FAIL"


def run_load(
    make_worker: Callable[[], Callable[[Any], None]],
    items: Sequence[Any],
    concurrency: int,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Closed loop: ``concurrency`` threads each take the next item and call their own worker on it.

    ``make_worker`` runs once per thread (an HTTP client per thread, like separate shoppers).
    Stops early after ``max_seconds`` so a slow system still finishes; errors are counted, not
    hidden, and the first one is kept for the report.
    """
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    cursor = iter(range(len(items)))
    deadline = None if max_seconds is None else time.perf_counter() + max_seconds

    def loop() -> None:
        work = make_worker()
        mine: list[float] = []
        while deadline is None or time.perf_counter() < deadline:
            with lock:
                i = next(cursor, None)
            if i is None:
                break
            t = time.perf_counter()
            try:
                work(items[i])
            except Exception as exc:  # counted and reported: a benchmark must not hide failures
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    stats = latency_stats(latencies, wall)
    stats.update(
        {"concurrency": concurrency, "errors": len(errors), "first_error": errors[0] if errors else None}
    )
    return stats


# --- live server ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


WORKER_HEADER = "x-omnirank-worker"  # service.worker_header.HEADER: the pid of the answering worker


@dataclass
class LiveServer:
    """``omnirank serve`` in a child process on 127.0.0.1.

    With ``workers`` > 1 it is ready only once every worker process has answered ``/health`` (told
    apart by the ``X-Omnirank-Worker`` pid header), so a measurement never starts while one worker is
    still loading the bundle and the other takes all the traffic.
    """

    bundles_dir: Path
    state_dir: Path
    port: int = 0
    startup_timeout_s: float = 180.0
    env: dict[str, str] | None = None
    workers: int = 1
    command: Sequence[str] | None = None
    """The server's command line before ``--host``/``--port``/``--workers`` (default: ``omnirank serve``,
    the bundle from ``OMNIRANK_BUNDLES_DIR``)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        import httpx

        self.port = self.port or free_port()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = (
            os.environ
            | {
                "OMNIRANK_BUNDLES_DIR": str(self.bundles_dir),
                "OMNIRANK_DEV_MODE": "1",
                "OMNIRANK_EVENT_STORE_PATH": str(self.state_dir / "events.sqlite3"),
                "OMNIRANK_RULES_PATH": str(self.state_dir / "rules.json"),
                "HF_HUB_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false",
            }
            | (self.env or {})
        )
        self._log = open(self.state_dir / "server.log", "wb")  # noqa: SIM115 - closed in __exit__
        if self.command is None:  # the CLI: one uvicorn process, or the pre-fork master above 1 worker
            cmd = [str(Path(sys.executable).with_name("omnirank")), "serve"]
        else:
            cmd = [*self.command]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--workers", str(self.workers)] if self.workers > 1 else []
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout_s
        seen: set[str] = set()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(self.url + "/health", timeout=2)  # a new connection: any worker may take it
                if r.status_code == 200:
                    seen.add(r.headers.get(WORKER_HEADER, "?"))
                    if len(seen) >= self.workers or "?" in seen:  # "?": an app without the header
                        return self
                    continue
            time.sleep(0.5)
        self.__exit__(None, None, None)
        raise TimeoutError(
            f"server not healthy after {self.startup_timeout_s:.0f}s ({len(seen)} of {self.workers} workers"
            f" answered): {self.log_tail()}"
        )

    def log_tail(self, chars: int = 2000) -> str:
        self._log.flush()
        return (self.state_dir / "server.log").read_text(errors="replace")[-chars:]

    def cpu_seconds(self) -> float:
        """CPU time the server's processes (the master or supervisor and every worker) have used so
        far: the difference around a load is what the load cost the server, whatever the client cost."""
        return cpu_seconds([self.proc.pid, *_children(self.proc.pid)])

    def rss_mb(self) -> float:
        """Resident memory of the server (the bundle loaded), in MiB: with several workers, the sum of
        every process (the master and each worker, shared pages counted once per process)."""
        total = 0.0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as fh:
                total += next((int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS:")), 0.0)
        return total or float("nan")

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its handle
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of ``pids`` (Linux ``/proc/PID/stat``), in seconds; a process gone is skipped."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / os.sysconf("SC_CLK_TCK")


WRK_LUA_PRELUDE = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } omni_timespec;
int clock_gettime(int clk_id, omni_timespec *tp);
]]
local ts = ffi.new("omni_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function response(status, headers, body)
  local s = tostring(status)
  statuses[s] = (statuses[s] or 0) + 1
  if status == 200 and sent then lat[#lat + 1] = now_us() - sent end
  sent = nil
end

-- done()'s output, as JSON in WRK_OUT: every thread's statuses and 200 latencies, wrk's socket errors,
-- and the script's own fields (``extra``: JSON members, without braces)
function write_result(summary, extra)
  local st, ls = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do st[k] = (st[k] or 0) + v end
    for _, v in ipairs(t:get("lat")) do ls[#ls + 1] = string.format("%.0f", v) end
  end
  local parts = {}
  for k, v in pairs(st) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  local e = summary.errors
  local f = io.open(os.getenv("WRK_OUT"), "w")
  f:write(string.format(
    '{"duration_us": %d, "requests": %d, "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"statuses": {%s}, "lat200_us": [%s], %s}',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.timeout,
    table.concat(parts, ", "), table.concat(ls, ","), extra))
  f:close()
end
"""
"""What every wrk script of the benchmarks starts with: a monotonic microsecond clock (LuaJIT FFI),
the list of wrk's threads, each told its number (``tid``), for ``done()`` to read their counts, and
``response()``: every status counted in ``statuses``, the latency of each 200 since ``sent`` (which
the script's ``request()`` sets) in ``lat``, and ``write_result()`` for ``done()``."""


def _children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (Linux /proc), e.g. uvicorn's workers under its supervisor."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4, after "pid (comm) state"
                    out.append(int(entry.name))
    return out


def http_worker(
    base_url: str, method: str = "GET", answered_by: dict[str, int] | None = None
) -> Callable[[], Callable[[Any], None]]:
    """A ``make_worker`` for ``run_load``: one keep-alive httpx client per thread, 2xx enforced.

    Items are ``(path, params)`` for GET and ``(path, json_body)`` for POST. ``answered_by`` (if
    given) counts responses per server worker pid: a keep-alive connection stays on the worker that
    accepted it, so with several workers the split of the clients' connections is part of the result.
    """
    import httpx

    lock = threading.Lock()

    def make() -> Callable[[Any], None]:
        client = httpx.Client(base_url=base_url, timeout=30)

        def call(item: tuple[str, Any]) -> None:
            path, payload = item
            r = client.get(path, params=payload) if method == "GET" else client.post(path, json=payload)
            if r.status_code >= 300:
                raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text[:200]}")
            if answered_by is not None:
                pid = r.headers.get(WORKER_HEADER, "?")
                with lock:
                    answered_by[pid] = answered_by.get(pid, 0) + 1

        return call

    return make


# --- output -----------------------------------------------------------------------------------
def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*[_fmt(v) for v in row])
    console.print(table)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def write_result(name: str, payload: dict[str, Any], out: Path | None = None) -> Path:
    """``benchmarks/results/<name>.json`` with the date, machine facts and load average at the end."""
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **payload,
    }
    payload.setdefault("machine", machine_info())
    payload["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    path.write_text(json.dumps(payload, indent=2, default=_json_default))
    console.print(f"wrote {path}")
    return path


def _json_default(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


@contextlib.contextmanager
def timed(label: str, into: dict[str, float]) -> Iterator[None]:
    """Wall seconds of a setup step, recorded so slow set-up is visible in the JSON too."""
    console.print(f"[cyan]▶ {label}[/]")
    start = time.perf_counter()
    yield
    into[label] = round(time.perf_counter() - start, 2)
    console.print(f"  [green]✓ {label}[/] {into[label]:.1f}s")
