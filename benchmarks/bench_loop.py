"""The closed loop on the committed sample: replay logged shopper sessions through the real service,
then report what the store says (the README's "Measuring impact" excerpt), and measure event
ingestion with the analytics fields against plain events in the same run.

Replay: the sample's search sessions in time order. Each logged search is sent to ``GET /v1/search``
(the app's clock follows the log); the shopper's logged click is posted as a ``search_click`` with the
answer's ``request_id`` and position only when the product is on the first page we served (a shopper
clicks what is shown), and the shopper's logged purchases of that product in the next 24 h are posted
as they happened (with the shopper's identifier, so attribution goes through the customer). The
report is ``models.analytics.analytics_report`` over the store, as ``omnirank analytics`` computes it.

Ingestion: ``POST /v1/events`` in batches of 500 to a real uvicorn server (validation, identity resolution,
durable append), events carrying session, basket, query, request_id, position and identifier hashes,
against the same events without those fields (the baseline, same run). Both carry one email
(normalised and HMAC-hashed per event), as a storefront's logged-in shopper's events do.

Run: ``.venv/bin/python benchmarks/bench_loop.py --bundles DIR`` (DIR: a bundle trained on
``data_samples``; a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pandas as pd
from common import REPO, RESULTS, LiveServer, machine_info, print_table, write_result
from fastapi.testclient import TestClient

from models.analytics import analytics_report, report_markdown, write_plots
from models.config import Settings
from service.app import create_app

IDS = ("loyalty_id", "email", "phone")


class ReplayClock:
    """The service's clock during the replay: the logged time of the event being replayed."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def load_sessions(sample: Path, n_searches: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    with gzip.open(sample / "events.jsonl.gz", "rt", encoding="utf-8") as fh:
        events = pd.DataFrame(json.loads(line) for line in fh)
    events["ts"] = pd.to_datetime(events["timestamp"], utc=True)
    searches = events[(events["type"] == "search") & events["query"].notna() & events["session_id"].notna()]
    return searches.sort_values("ts").head(n_searches), events


def _identity(row: pd.Series) -> dict:
    return {k: row[k] for k in IDS if isinstance(row.get(k), str)}


def replay(client: TestClient, clock: ReplayClock, searches: pd.DataFrame, events: pd.DataFrame) -> dict:
    clicks = events[events["type"] == "search_click"].set_index("session_id")
    buys = events[events["type"] == "purchase"]
    counts = {"searches": 0, "clicks_logged": 0, "clicks_shown": 0, "purchases_posted": 0}
    for _, s in searches.iterrows():
        clock.now = s["ts"].to_pydatetime()
        who = _identity(s)
        answer = client.get(
            "/v1/search", params={"q": s["query"], "k": 20, "session_id": s["session_id"]}
        ).json()
        counts["searches"] += 1
        stamp = s["ts"].isoformat()
        base = {"channel": s["channel"], "session_id": s["session_id"], **who}
        posted = [base | {"event_id": f"r-{s['event_id']}", "type": "search", "timestamp": stamp,
                          "query": s["query"], "request_id": answer["request_id"]}]  # fmt: skip
        if s["session_id"] in clicks.index:
            logged = clicks.loc[[s["session_id"]]]
            logged = logged[(logged["query"] == s["query"]) & (logged["ts"] >= s["ts"])].head(1)
            for _, c in logged.iterrows():
                counts["clicks_logged"] += 1
                shown = [h["product"]["sku"] for h in answer["hits"]]
                if c["sku"] not in shown:
                    continue
                counts["clicks_shown"] += 1
                posted.append(base | {"event_id": f"r-{c['event_id']}", "type": "search_click",
                                      "timestamp": c["ts"].isoformat(), "sku": c["sku"], "query": s["query"],
                                      "request_id": answer["request_id"], "position": shown.index(c["sku"]) + 1})  # fmt: skip
                if who:
                    key, value = next(iter(who.items()))
                    later = buys[(buys[key] == value) & (buys["sku"] == c["sku"]) & (buys["ts"] >= c["ts"])]
                    later = later[later["ts"] <= c["ts"] + pd.Timedelta(hours=24)]
                    for _, b in later.iterrows():
                        counts["purchases_posted"] += 1
                        line = {k: b[k] for k in ("store_id", "basket_id") if isinstance(b.get(k), str)}
                        posted.append({"event_id": f"r-{b['event_id']}", "type": "purchase",
                                       "timestamp": b["ts"].isoformat(), "channel": b["channel"], "sku": b["sku"],
                                       "quantity": int(b["quantity"]) if pd.notna(b.get("quantity")) else 1,
                                       "price": float(b["price"]), key: value, **line})  # fmt: skip
        r = client.post("/v1/events", json={"events": posted})
        assert r.status_code == 202 and not r.json()["rejected"], r.text
    client.app.state.impressions.flush()
    return counts


def ingest_rate(client: httpx.Client | TestClient, sku: str, n: int, full: bool) -> float:
    """Events per second through POST /v1/events, batches of 500 (the fields the run carries)."""
    run = uuid.uuid4().hex[:6]
    batches = []
    for start in range(0, n, 500):
        batch = []
        for i in range(start, min(n, start + 500)):
            ev = {"event_id": f"{run}-{i}", "type": "view", "timestamp": "2026-09-30T10:00:00Z", "channel": "web",
                  "sku": sku, "email": f"shopper{i % 5000}@example.com"}  # fmt: skip
            if full:
                ev |= {"type": "search_click", "session_id": f"S{i % 7000}", "basket_id": f"B{i // 3}",
                       "query": "running shoes", "request_id": uuid.uuid4().hex, "position": 1 + i % 20}  # fmt: skip
            batch.append(ev)
        batches.append(batch)
    t0 = time.perf_counter()
    for batch in batches:
        r = client.post("/v1/events", json={"events": batch})
        assert r.status_code == 202 and r.json()["accepted"] == len(batch), r.text
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundles", type=Path, default=REPO / "bundles", help="bundles dir trained on the sample"
    )
    parser.add_argument("--sample", type=Path, default=REPO / "data_samples")
    parser.add_argument("--searches", type=int, default=1500, help="logged searches to replay")
    parser.add_argument("--ingest-events", type=int, default=20_000, help="events per ingestion run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of the ingestion server")
    parser.add_argument("--out", type=Path, default=RESULTS / "loop.json")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    settings = Settings(
        bundles_dir=args.bundles, event_store_path=state / "events.sqlite3", rules_path=state / "rules.json",
        dev_mode=True, reload_poll_seconds=0, log_level="WARNING",
    )  # fmt: skip
    clock = ReplayClock()
    searches, events = load_sessions(args.sample, args.searches)
    with TestClient(create_app(settings, clock=clock)) as client:
        t0 = time.perf_counter()
        counts = replay(client, clock, searches, events)
        replay_s = time.perf_counter() - t0
        store = client.app.state.serving.store
        served = store.served_frame()
        logged = store.events_frame()
    # ingestion through a real uvicorn server (as `omnirank serve` runs it), over HTTP; each variant
    # on a fresh server and store of its own, so neither pays for the rows the other wrote
    rates = {}
    for name, full in (("plain (baseline)", False), ("with analytics fields", True)):
        where = state / f"http-{int(full)}"
        with LiveServer(bundles_dir=args.bundles, state_dir=where, workers=args.workers) as server:
            with httpx.Client(base_url=server.url, timeout=120) as http:
                sku = http.get("/v1/search", params={"q": "shoes"}).json()["hits"][0]["product"]["sku"]
                ingest_rate(http, sku, 1000, full=full)  # warm-up: connections, the store's first pages
                rates[name] = ingest_rate(http, sku, args.ingest_events, full=full)
    since, until = searches["ts"].min(), searches["ts"].max() + pd.Timedelta(seconds=1)
    report = analytics_report(served, logged, since=since, until=until, top_n=10, bucket="7D")
    plots_dir = RESULTS / "loop"
    plots = write_plots(report, plots_dir)
    (plots_dir / "report.md").write_text(report_markdown(report, [p.name for p in plots]), encoding="utf-8")
    print_table(
        "event ingestion through POST /v1/events (batches of 500)",
        ["events", "events/s"],
        [[name, round(rate)] for name, rate in rates.items()],
    )
    s = report["search"]
    print_table(
        f"replay of {counts['searches']} logged searches ({replay_s:.0f} s)",
        ["searches", "zero-result rate", "CTR", "conversion", "revenue/search", "clicks shown/logged"],
        [[s["searches"], s["zero_result_rate"], s["ctr"], s["conversion_rate"], s["revenue_per_search"],
          f"{counts['clicks_shown']}/{counts['clicks_logged']}"]],
    )  # fmt: skip
    write_result(
        "loop",
        {"machine": machine_info(), "ingest_events_per_s": rates, "ingest_workers": args.workers, "replay": counts, "replay_seconds": replay_s,
         "report": report},
        args.out,
    )  # fmt: skip


if __name__ == "__main__":
    main()
