"""Search under load: searches/s, p50/p99 and server CPU per search, before vs after, in one run.

Issue 16 part 4 ("cheaper requests"). ``omnirank serve`` on a sample bundle (1 worker, then 2) is
driven by Debian's ``wrk`` at ``--connections`` (8) over the sample's logged searches **with their
real frequency skew**: every ``search`` event of ``data_samples/events.jsonl.gz`` is one line of the
query list (a query logged 18 times is 18 lines), shuffled with a fixed seed, and each wrk
connection walks it from its own offset. ``wrk`` is C with a few Lua calls per request, so the 2
cores go to the server rather than to the load generator.

The baseline is measured in the same run: the same load on the same bundle served by the code of
``--before`` (a git revision checked out as a detached worktree, run with the same virtualenv and
``PYTHONPATH`` pointing at it), interleaved with ``--after`` (default ``HEAD``) run by run so a
busy machine weighs on both alike.

Figures per (code, workers):

* ``searches/s``: 200 answers / wrk's duration;
* ``p50``/``p99``: latency of each 200, timed in the Lua script (CLOCK_MONOTONIC around request and
  response, one connection per wrk thread);
* ``CPU ms/search``: utime+stime of every server process (the uvicorn supervisor and its workers,
  from /proc before and after the measured run) divided by the 200 answers;
* ``repeat share``: of the requests sent, those whose query had already been sent in this run (an
  upper bound on what a cold per-bundle cache can answer; the caches start cold at every start).

A short warm-up before each measured run uses the labelled evaluation queries
(``queries.parquet``), which the logs hardly repeat, so it warms the process, not the caches.

Targets (issue 16, sample scale): CPU per search <= 1.5 ms over the skewed mix, searches/s at 8
connections >= 3x the baseline's in the same run, p99 at 8 connections <= 25 ms.

Run: ``.venv/bin/python benchmarks/bench_search_load.py --bundle var/cache/bench/sample_bundles``
(a bundles dir with ``latest``; about 9 minutes at the defaults). Quick: ``--seconds 5``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
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
    cpu_seconds,
    free_port,
    machine_info,
    print_table,
    verdict,
    write_result,
)

TARGET_CPU_MS = 1.5
TARGET_SPEEDUP = 3.0
TARGET_P99_MS = 25.0
OMNIRANK = Path(sys.executable).with_name("omnirank")  # the console script; PYTHONPATH picks the code

WRK_LUA = r"""
-- GET /v1/search over a query list; thread t starts at offset (t - 1) * n / threads. Counts every
-- status, times each 200 and records how many requests each thread sent (to rebuild the stream).
"""
WRK_LUA += (
    WRK_LUA_PRELUDE
    + r"""
function init(args)
  queries = {}
  for line in io.lines(os.getenv("WRK_QUERIES")) do queries[#queries + 1] = line end
  local n_threads = tonumber(os.getenv("WRK_THREADS"))
  start = math.floor((tid - 1) * #queries / n_threads)
  i = start
  sent_count = 0
  statuses = {}
  lat = {}
  sent = nil
end

function request()
  local q = queries[(i % #queries) + 1]
  i = i + 1
  sent_count = sent_count + 1
  sent = now_us()
  return wrk.format("GET", "/v1/search?k=10&q=" .. q)
end


function done(summary, latency, requests)
  local streams = {}
  for _, t in ipairs(threads) do
    streams[#streams + 1] = string.format("[%d, %d]", t:get("start"), t:get("sent_count"))
  end
  write_result(summary, '"streams": [' .. table.concat(streams, ", ") .. ']')
end
"""
)


# --- the query mix ----------------------------------------------------------------------------
def logged_searches(events: Path, seed: int = 0) -> list[str]:
    """Every logged search (one entry per ``search`` event, so the head repeats as often as it was
    searched), shuffled with ``seed``."""
    queries: list[str] = []
    with gzip.open(events, "rt", encoding="utf-8") as fh:
        for line in fh:
            event = json.loads(line)
            if event.get("type") == "search" and str(event.get("query") or "").strip():
                queries.append(str(event["query"]))
    random.Random(seed).shuffle(queries)
    return queries


def skew(queries: list[str]) -> dict[str, Any]:
    counts = pd.Series(queries).value_counts()
    top = counts.to_numpy()
    return {
        "searches": len(queries),
        "distinct": int(counts.size),
        "top10_share": round(float(top[:10].sum() / top.sum()), 4),
        "top100_share": round(float(top[:100].sum() / top.sum()), 4),
        "top1000_share": round(float(top[:1000].sum() / top.sum()), 4),
        "once_share": round(float((top == 1).sum() / top.sum()), 4),
        "head": counts.head(5).to_dict(),
    }


def repeat_share(queries: list[str], streams: list[list[int]]) -> float:
    """Share of the requests whose query had been sent before in the run, by any connection (the
    count does not depend on how the connections interleaved)."""
    sent = [queries[(start + j) % len(queries)] for start, count in streams for j in range(count)]
    return 1.0 - len(set(sent)) / len(sent) if sent else 0.0


# --- the code under test ----------------------------------------------------------------------
def worktree(rev: str, root: Path) -> Path:
    """A detached checkout of ``rev`` under ``root`` (reused when it is already there)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path = root / sha[:12]
    if not (path / "models").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), sha], cwd=REPO, check=True, capture_output=True
        )
    return path


def _group(pgid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(stat.parent.name))
    return out


@dataclass
class Server:
    """``omnirank serve --workers N`` of the code at ``src`` (its own session, so every process of it
    is found and stopped by its process group), in development mode on a fresh live store."""

    src: Path
    bundles: Path
    workers: int
    state: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None
    log: Path = field(init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.port = free_port()
        self.state.mkdir(parents=True, exist_ok=True)
        self.log = self.state / "server.log"
        env = (
            os.environ
            | {
                "PYTHONPATH": str(self.src),
                "OMNIRANK_DEV_MODE": "1",
                "OMNIRANK_EVENT_STORE_PATH": str(self.state / "events.sqlite3"),
                "OMNIRANK_RULES_PATH": str(self.state / "rules.json"),
                "OMNIRANK_RELOAD_POLL_SECONDS": "0",
                "HF_HUB_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false",
            }
            | self.extra_env
        )
        cmd = [str(OMNIRANK), "serve", "--bundle", str(self.bundles)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.src, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        seen: set[str] = set()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{self.url}/health", timeout=5)  # a new connection: any worker
                if r.status_code == 200:
                    seen.add(r.headers.get(WORKER_HEADER, "?"))
                    if len(seen) >= self.workers or "?" in seen:
                        return self
                    continue
            time.sleep(0.3)
        self.__exit__()
        raise TimeoutError(f"server not ready: {self.log.read_text()[-2000:]}")

    def pids(self) -> list[int]:
        return _group(self.proc.pid) if self.proc is not None else []

    def imported_from(self) -> str:
        """Where the server's ``models`` package comes from (the worktree asked for, checked)."""
        code = "import models, pathlib; print(pathlib.Path(models.__file__).resolve().parent.parent)"
        env = os.environ | {"PYTHONPATH": str(self.src)}
        return subprocess.run(
            [sys.executable, "-c", code], cwd=self.src, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own child's session
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# --- wrk ----------------------------------------------------------------------------------------
def run_wrk(url: str, queries_file: Path, work: Path, connections: int, seconds: float, label: str) -> dict:
    out = work / f"wrk-{label}.json"
    script = work / "search_load.lua"
    script.write_text(WRK_LUA)
    env = os.environ | {
        "WRK_QUERIES": str(queries_file),
        "WRK_OUT": str(out),
        "WRK_THREADS": str(connections),
    }
    cmd = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{max(1, round(seconds))}s"]
    cmd += ["--timeout", "10s", "-s", str(script), url]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr[-500:]} {proc.stdout[-500:]}")
    return json.loads(out.read_text())


def write_queries(path: Path, queries: list[str]) -> Path:
    path.write_text("\n".join(urllib.parse.quote(q, safe="") for q in queries) + "\n", encoding="utf-8")
    return path


def measure(
    server: Server,
    log_file: Path,
    log_queries: list[str],
    warm_file: Path,
    work: Path,
    args: argparse.Namespace,
    label: str,
) -> dict[str, Any]:
    run_wrk(server.url, warm_file, work, 2, args.warmup_seconds, f"{label}-warmup")
    pids = server.pids()
    before = cpu_seconds(pids)
    raw = run_wrk(server.url, log_file, work, args.connections, args.seconds, label)
    cpu = cpu_seconds(pids) - before
    duration = raw["duration_us"] / 1e6
    statuses = {int(k): v for k, v in raw["statuses"].items()}
    ok = statuses.get(200, 0)
    lat = np.asarray(raw["lat200_us"], dtype=np.float64) / 1e3
    return {
        "label": label,
        "workers": server.workers,
        "server_processes": len(pids),
        "connections": args.connections,
        "seconds": round(duration, 2),
        "requests": raw["requests"],
        "ok": ok,
        "errors": sum(raw["socket_errors"].values()) + sum(v for s, v in statuses.items() if s != 200),
        "statuses": statuses,
        "searches_per_s": round(ok / duration, 1) if duration else 0.0,
        "p50_ms": round(float(np.percentile(lat, 50)), 2) if lat.size else None,
        "p90_ms": round(float(np.percentile(lat, 90)), 2) if lat.size else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 2) if lat.size else None,
        "max_ms": round(float(lat.max()), 2) if lat.size else None,
        "server_cpu_s": round(cpu, 3),
        "cpu_ms_per_search": round(1e3 * cpu / ok, 3) if ok else None,
        "cores_busy": round(cpu / duration, 2) if duration else None,
        "repeat_share": round(repeat_share(log_queries, raw["streams"]), 4),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (code, workers): the median of each figure over the rounds (a shared machine's load
    comes and goes; interleaved rounds and medians keep one busy minute from deciding)."""
    keys = ("searches_per_s", "p50_ms", "p99_ms", "cpu_ms_per_search", "cores_busy", "repeat_share")
    out: list[dict[str, Any]] = []
    for code, workers in dict.fromkeys((r["code"], r["workers"]) for r in rows):
        runs = [r for r in rows if r["code"] == code and r["workers"] == workers]
        row: dict[str, Any] = {"code": code, "workers": workers, "rounds": len(runs)}
        for key in keys:
            values = [r[key] for r in runs if r[key] is not None]
            row[key] = round(float(np.median(values)), 4 if key == "repeat_share" else 2) if values else None
        row["errors"] = sum(r["errors"] for r in runs)
        row["loadavg"] = [r["loadavg"][0] for r in runs]
        out.append(row)
    return out


# --- main ---------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, required=True, help="bundles dir with `latest` (a sample bundle)")
    ap.add_argument(
        "--before", default="594cc83", help="git revision of the baseline (before issue 16 part 4)"
    )
    ap.add_argument("--after", default="HEAD", help="git revision to measure, or `.` for the working tree")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument(
        "--rounds", type=int, default=2, help="interleaved repetitions; the table shows each variant's median"
    )
    ap.add_argument(
        "--cache-off",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the after code with search_query_cache_entries=0",
    )
    ap.add_argument("--warmup-seconds", type=float, default=3.0)
    ap.add_argument("--events", type=Path, default=REPO / "data_samples" / "events.jsonl.gz")
    ap.add_argument("--worktrees", type=Path, default=REPO / "var" / "cache" / "bench" / "worktrees")
    ap.add_argument("--out", type=Path, default=RESULTS / "search_load.json")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `sudo apt-get install -y wrk` (Debian)")
    machine = machine_info()  # the load average at the start; write_result adds the end
    bundles = args.bundle.resolve()
    codes = {
        "before": worktree(args.before, args.worktrees),
        "after": REPO if args.after == "." else worktree(args.after, args.worktrees),
    }
    revs = {
        name: subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True
        ).stdout.strip()
        for name, src in codes.items()
    }
    # (name, code, extra environment): "after, cache off" tells the cache's share from the rest
    variants = [("before", "before", {}), ("after", "after", {})]
    if args.cache_off:
        variants.append(("after-nocache", "after", {"OMNIRANK_SEARCH_QUERY_CACHE_ENTRIES": "0"}))
    log_queries = logged_searches(args.events)
    labelled = pd.read_parquet(args.events.parent / "queries.parquet")["query"].astype(str).tolist()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-search-load-") as tmp:
        work = Path(tmp)
        log_file = write_queries(work / "logged.txt", log_queries)
        warm_file = write_queries(work / "warm.txt", labelled)
        for round_ in range(1, args.rounds + 1):
            for workers, (name, code, extra) in itertools.product(args.workers, variants):
                src = codes[code]  # interleaved: before, after, ... per worker count, per round
                label = f"{name}-w{workers}-r{round_}"
                console.print(f"[cyan]▶ {label}[/] ({src})")
                with Server(src, bundles, workers, work / label, extra) as server:
                    row = measure(server, log_file, log_queries, warm_file, work, args, label)
                    row |= {
                        "round": round_,
                        "code": name,
                        "rev": revs[code],
                        "env": extra,
                        "imported_from": server.imported_from(),
                    }
                rows.append(row)
                console.print(
                    f"  {row['searches_per_s']:.1f}/s p50 {row['p50_ms']} p99 {row['p99_ms']} ms, "
                    f"CPU {row['cpu_ms_per_search']} ms/search, errors {row['errors']}"
                )
    summary = summarise(rows)
    by = {(r["code"], r["workers"]): r for r in summary}
    table = []
    for r in summary:
        base = by.get(("before", r["workers"]))
        speedup = r["searches_per_s"] / base["searches_per_s"] if base and base["searches_per_s"] else None
        r["speedup_vs_before"] = round(speedup, 2) if speedup else None
        after = r["code"].startswith("after")
        table.append(
            [
                r["code"],
                r["workers"],
                r["searches_per_s"],
                r["speedup_vs_before"],
                r["p50_ms"],
                r["p99_ms"],
                r["cpu_ms_per_search"],
                r["cores_busy"],
                f"{100 * r['repeat_share']:.1f}%",
                r["errors"],
                verdict(r["cpu_ms_per_search"], TARGET_CPU_MS) if after else "-",
                verdict(speedup, TARGET_SPEEDUP, higher_is_better=True) if after else "-",
                verdict(r["p99_ms"], TARGET_P99_MS) if after else "-",
            ]
        )
    print_table(
        f"GET /v1/search, wrk {args.connections} connections x {args.seconds:.0f} s over the logged searches, "
        f"median of {args.rounds} interleaved rounds (before {revs['before'][:10]} vs after {revs['after'][:10]}, "
        "same run)",
        [
            "code",
            "workers",
            "searches/s",
            "x before",
            "p50 ms",
            "p99 ms",
            "CPU ms/search",
            "cores busy",
            "repeats",
            "errors",
            f"CPU<={TARGET_CPU_MS}",
            f">={TARGET_SPEEDUP:.0f}x",
            f"p99<={TARGET_P99_MS:.0f}",
        ],
        table,
    )
    write_result(
        "search_load",
        {
            "bundle": str(bundles),
            "revisions": revs,
            "query_mix": skew(log_queries),
            "settings": {k: v for k, v in vars(args).items() if k not in ("bundle", "out")},
            "targets": {
                "cpu_ms_per_search": TARGET_CPU_MS,
                "speedup": TARGET_SPEEDUP,
                "p99_ms": TARGET_P99_MS,
            },
            "machine": machine,
            "summary": summary,
            "runs": rows,
        },
        out=args.out,
    )


if __name__ == "__main__":
    main()
