"""The benchmarks' cores at toy scale, so a refactor of the code they drive cannot silently break them.

No bundle, no ../shared: a generated catalog from data_samples, random vectors, a child interpreter.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SAMPLE = Path(__file__).resolve().parents[1] / "data_samples"
sys.path.insert(0, str(BENCH))

import bench_batch  # noqa: E402
import bench_live  # noqa: E402
import bench_recs  # noqa: E402
import bench_search  # noqa: E402
import bench_train  # noqa: E402
import common  # noqa: E402
import scale_world  # noqa: E402


@pytest.fixture(scope="module")
def sample_products() -> pd.DataFrame:
    return pd.read_parquet(SAMPLE / "products.parquet")


def test_latency_stats_and_load_driver_count_everything() -> None:
    stats = common.latency_stats([0.001, 0.002, 0.003, 0.010], wall_s=0.5)
    assert stats["n"] == 4 and stats["p50_ms"] == pytest.approx(2.5) and stats["per_s"] == pytest.approx(8.0)
    assert stats["p99_ms"] <= stats["max_ms"] == pytest.approx(10.0)

    def make():
        def work(x: int) -> None:
            if x % 5 == 0:
                raise ValueError("boom")

        return work

    out = common.run_load(make, list(range(1, 21)), concurrency=3)
    assert out["n"] == 16 and out["errors"] == 4 and "boom" in out["first_error"]
    assert common.verdict(4.0, 5.0) == "PASS" and common.verdict(6.0, 5.0) == "FAIL"
    assert common.verdict(6000, 5000, higher_is_better=True) == "PASS"


def test_query_pool_has_prefixes_and_disjoint_slices() -> None:
    pool = bench_search.query_pool(["running shoes for women", "mug"])
    assert (
        "running shoes for women" in pool
        and "running" in pool
        and "runni" in pool
        and "running sho" in pool
        and "mug" in pool
    )
    assert len(pool) == len(set(pool))
    a, b = bench_search.slices(pool, [3, 3])
    assert not set(a) & set(b)
    assert bench_search.search_target(54_667) == 15.0 and bench_search.search_target(1_000_000) == 30.0
    assert bench_search.search_target(2_000_000) is None


def test_generated_catalog_indexes_and_baselines(sample_products: pd.DataFrame) -> None:
    from models.lexical import BM25Index
    from models.vector_index import VectorIndex

    products, source = common.generated_products(
        sample_products, np.arange(len(sample_products), dtype=float), 600
    )
    assert len(products) == 600 and products["sku"].is_unique
    assert (products["category"].to_numpy() == sample_products["category"].to_numpy()[source]).all()
    assert (products["popularity"].to_numpy() == source).all()
    base = np.random.default_rng(0).normal(size=(len(sample_products), 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    vecs = bench_search.noisy_embeddings(base, source, sigma=0.01)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert (np.sum(vecs * base[source], axis=1) > 0.9).all()
    bm25 = BM25Index().fit(products, products["sku"].tolist())
    index = VectorIndex(exact_max_items=100).build(vecs, products["sku"].tolist())
    assert index.factory_.startswith("HNSW")  # above exact_max_items, as the pipeline would choose
    title = products["title"].iat[0]
    lex = bench_search.inproc(lambda q: bm25.search(q, k=20), [title] * 5, max_seconds=10)
    dense = bench_search.inproc(lambda i: index.search(vecs[i][None, :], 20), list(range(5)), max_seconds=10)
    assert lex["n"] == 5 and lex["errors"] == 0 and dense["n"] == 5 and dense["errors"] == 0
    assert bm25.search(title, k=20)[0][0] in set(products["sku"][products["title"] == title])


def test_scale_world_draws_by_topic_and_serves_two_stage(
    sample_products: pd.DataFrame, tmp_path: Path
) -> None:
    import dataclasses

    from models.recommend import Context

    rng = np.random.default_rng(0)
    item_topic = rng.integers(0, 7, 300)
    topic = rng.integers(-1, 7, 5000)
    drawn = scale_world.draw_items(rng, topic, item_topic, rng.lognormal(0, 1, 300))
    assert (item_topic[drawn[topic >= 0]] == topic[topic >= 0]).all() and drawn.max() < 300

    spec = scale_world.WorldSpec(users=3000, items=800, topics=20)
    world = scale_world.load_world(spec, sample_products, {"als": 1.0, "item_knn": 0.5}, cache=tmp_path)
    assert (tmp_path / spec.key()).is_dir() and world.user_items.shape == (3000, 800)
    assert world.engine.model.weights == {"repeat_buy": 1.0, "popularity": 1.0, "item_knn": 0.5, "als": 1.0}
    two_stage = dataclasses.replace(world.engine, two_stage_min_cells=1, candidates_per_model=60)
    exact = dataclasses.replace(world.engine, two_stage_min_cells=10**15)
    reqs = bench_recs.customer_requests(world, n=30)
    overlap = []
    for _, row, history in reqs:
        got, cold = two_stage.for_customer(row, history, Context(now=bench_recs.NOW), 10)
        want, _ = exact.for_customer(row, history, Context(now=bench_recs.NOW), 10)
        assert not cold and len(got) == 10
        overlap.append(len({r.item for r in got} & {r.item for r in want}) / 10)
    assert np.mean(overlap) >= 0.9
    banned = bench_batch.exclusions(world.user_items, 0.5, seed=1)
    assert 0.3 * world.user_items.nnz < len(banned) < 0.7 * world.user_items.nnz
    assert banned["customer_id"].str.match(r"C\d{7}$").all() and banned["item"].between(0, 799).all()


def test_generated_events_are_valid_for_the_api(sample_products: pd.DataFrame) -> None:
    from service.schemas import EventIn

    events = bench_recs.make_events(sample_products["sku"].tolist()[:50], ["c1", "c2"], ["S01"], 20, "t", 0)
    assert len({e["event_id"] for e in events}) == 20
    for e in events:
        EventIn.model_validate(e)


def test_train_child_runner_reports_json_and_peak_rss(tmp_path: Path) -> None:
    code = "import json, numpy as np; a = np.ones(20_000_000); print('noise'); print(json.dumps({'sum': float(a.sum())}))"
    out, wall, peak = bench_train.run_child(code)
    assert out == {"sum": 20_000_000.0} and wall > 0
    assert peak > 150  # the child's 160 MB array, not this process
    with pytest.raises(RuntimeError, match="child failed"):
        bench_train.run_child("raise SystemExit(3)")


def test_live_server_reports_a_failed_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="server exited"):
        with common.LiveServer(tmp_path / "no-bundles", tmp_path / "state", startup_timeout_s=60):
            pass


def test_results_json_records_machine_and_load(tmp_path: Path) -> None:
    import json

    path = common.write_result("smoke", {"rows": [{"p99_ms": np.float32(1.5)}]}, tmp_path / "smoke.json")
    data = json.loads(path.read_text())
    assert data["benchmark"] == "smoke" and data["rows"][0]["p99_ms"] == 1.5
    assert data["machine"]["cpus"] >= 1 and len(data["machine"]["loadavg_start"]) == 3
    assert len(data["machine"]["loadavg_end"]) == 3


def test_live_flags_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys, "argv", ["bench_live.py", "--parts", "staleness, swaps", "--scales", "sample", "--swaps", "2"]
    )
    args = bench_live.parse_args()
    assert args.parts == ["staleness", "swaps"] and args.scales == ["sample"] and args.swaps == 2
    assert not args.skip_retrain and args.batch_rows == 10_000 and args.workers == 2
    monkeypatch.setattr(sys, "argv", ["bench_live.py", "--parts", "nonsense"])
    with pytest.raises(SystemExit):
        bench_live.parse_args()


def test_live_rows_are_valid_for_the_api(sample_products: pd.DataFrame) -> None:
    from datetime import datetime, timezone

    from service.schemas import PriceIn, StockIn

    rng = np.random.default_rng(0)
    skus = sample_products["sku"].tolist()[:40]
    prices = dict(zip(sample_products["sku"], sample_products["price"], strict=True))
    stock = bench_live.inventory_rows(skus, ["ST-SAO", "ST-RIO", "web"], 100, rng)
    assert len(stock) == 100 and len({(r["store_id"], r["sku"]) for r in stock}) == 100
    at = datetime(2026, 10, 1, 12, tzinfo=timezone.utc)
    priced = bench_live.price_rows(skus, prices, ["ST-SAO"], 200, rng, at, base=False)
    assert len(priced) == 200 and all(set(r) != {"sku", "price"} for r in priced)  # overrides only
    keys = {(r["sku"], r.get("channel"), r.get("store_id"), r.get("valid_from")) for r in priced}
    assert len(keys) == 200
    for r in stock:
        StockIn.model_validate(r)
    for r in priced:
        PriceIn.model_validate(r)
    facts = bench_live.CatalogFacts(skus, prices, ["ST-SAO"], sample_products.head(40))
    added = bench_live.new_products(facts, 5, rng, "t")
    assert len({p["title"] for p in added}) == 5 and all(p["sku"].startswith("LIVE-t-") for p in added)


def test_live_bundle_copies_and_corrupt_copies(tmp_path: Path) -> None:
    from models.bundle import Bundle, BundleError, BundleWriter, resolve_bundle_path

    with BundleWriter(tmp_path / "src") as out:
        np.save(out.file("a/big.npy"), np.arange(5000))
        out.file("b/model.onnx").write_bytes(b"onnx" * 100)
        out.write_json("c.json", {"x": 1})
        src = out.publish(data_fingerprint="x", parameters={}, metrics={})
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    copy = bench_live.copy_bundle(src, bundles, "swap-a")
    assert Bundle.open(copy, verify=True).version == "swap-a"
    for label, d in bench_live.corrupt_copies(src, bundles).items():
        with pytest.raises(BundleError):
            Bundle.open(d, verify=True)
        assert label
    bench_live.point_latest_anyway(bundles, "corrupt-no-manifest")
    with pytest.raises(BundleError):
        resolve_bundle_path(bundles)
    Bundle.open(src, verify=True)  # hard links: the source was never written


def test_live_visibility_pinning_and_steady_load() -> None:
    import http.server
    import threading
    import time

    flag = {"on": False, "n": 0}

    def action() -> None:
        time.sleep(0.05)
        flag["on"] = True

    vis = bench_live.time_until_visible(action, lambda: ("1", dict(flag)), lambda b: b["on"], "1", 5)
    assert vis.error is None and vis.seconds >= 0.05 and vis.polls >= 1  # it waited for the action
    early = bench_live.time_until_visible(
        lambda: None, lambda: ("1", {"on": True}), lambda b: b["on"], "1", 1
    )
    assert early.seconds is None and "before the action" in early.error
    late = bench_live.time_until_visible(
        lambda: None, lambda: ("2", {"on": True}), lambda b: b["on"], "1", 0.3
    )
    assert late.seconds is None and "not visible" in late.error  # answered by another worker: no evidence

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            flag["n"] += 1
            status = 500 if "fail" in self.path else 200
            body = b'{"hits": []}'
            self.send_response(status)
            self.send_header("x-omnirank-worker", "4242")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        workers = bench_live.WorkerClients(url, 1)
        assert workers.pids == ["4242"] and workers.other("4242") == "4242"
        assert workers.call("4242", "GET", "/v1/search", params={"q": "x"}).status_code == 200
        workers.close()
        records = bench_live.steady_load(
            url, [{"q": "a"}, {"q": "fail"}], 2, threading.Event(), 5, duration=0.5
        )
        stats = bench_live.window_stats(records, *bench_live.span(records))
        assert stats["requests"] == len(records) > 4 and 0 < stats["failed"] < stats["requests"]
        assert "HTTP 500" in stats["first_error"]
    finally:
        server.shutdown()


def test_safety_ledger_wrk_script_and_fuzz_report(sample_products: pd.DataFrame, tmp_path: Path) -> None:
    import http.server
    import json
    import shutil
    import threading
    from collections import deque
    from datetime import datetime, timezone

    import bench_safety

    from models.store import LiveStore, StoredEvent
    from service.schemas import EventIn

    facts = bench_safety.CatalogFacts(
        sample_products["sku"].tolist()[:30], ["ST-SAO"], ["c1", "c2"], ["mug", "red shoes"]
    )
    events = bench_safety.make_events(facts, 40, "t", 0)
    assert len({e["event_id"] for e in events}) == 40
    for e in events:
        EventIn.model_validate(e)

    served = {"posts": 0, "gets": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - two batches answered, then the "server" dies
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            served["posts"] += 1
            if served["posts"] > 2:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self._send(202, {"accepted": len(body["events"]), "duplicates": 0, "rejected": []})

        def do_GET(self) -> None:  # noqa: N802 - every third search is refused as busy
            served["gets"] += 1
            self._send(503 if served["gets"] % 3 == 0 else 200, {"hits": []})

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        ledger = bench_safety.Ledger()
        failed = bench_safety.post_batches(
            url, "k", deque(bench_safety.batches_of(events, 10)), ledger, clients=1
        )
        assert len(ledger.acked) == 20 and ledger.accepted == 20 and len(failed) == 1
        assert ledger.in_doubt_ids == {e["event_id"] for e in failed[0]}
        if shutil.which("wrk"):  # the Lua script counts every status and times each 200
            run = bench_safety.Wrk(url, "k", facts.queries, tmp_path / "wrk").run(2, 1)
            assert run["statuses"].get(200, 0) > 0 and run["statuses"].get(503, 0) > 0
            assert run["unexpected_statuses"] == 0 and run["p99_ms"] is not None and run["p99_ms"] > 0
    finally:
        server.shutdown()

    with LiveStore(tmp_path / "e.sqlite3") as store:
        now = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)  # any fixed time: only ids are read back
        store.append([StoredEvent(f"id{i}", "c1", "view", now, "web", "SKU-1") for i in range(5)])
    assert bench_safety.stored_ids(tmp_path / "e.sqlite3", {"id1", "id4", "nope"}) == {"id1", "id4"}
    assert bench_safety.store_rows(tmp_path / "e.sqlite3") == (5, "ok")

    sweep = [
        {"connections": c, "errors": 0, "ok_per_s": rps, "p99_ms": p99}
        for c, rps, p99 in ((1, 50, 20), (2, 90, 30), (4, 99, 60), (8, 100, 150))
    ]
    assert bench_safety.pick_capacity(sweep, 100)["connections"] == 4
    assert bench_safety.pick_capacity(sweep, 10) is None

    def scenario(label: str, cases: list[tuple[str, int, list[str]]]) -> dict:
        return {
            "ScenarioFinished": {
                "recorder": {
                    "label": label,
                    "cases": {
                        f"{label}{i}": {"value": {"meta": {"generation": {"mode": m}}}}
                        for i, (m, _, _) in enumerate(cases)
                    },
                    "interactions": {
                        f"{label}{i}": {"response": {"status_code": s}} for i, (_, s, _) in enumerate(cases)
                    },
                    "checks": {
                        f"{label}{i}": [
                            {"name": n, "status": "failure", "failure_info": {"failure": {"message": "x"}}}
                            for n in f
                        ]
                        for i, (_, _, f) in enumerate(cases)
                    },
                }
            }
        }

    report = tmp_path / "st.ndjson"
    lines = [
        {"Initialize": {}},
        scenario(
            "GET /a",
            [("positive", 200, []), ("negative", 500, ["not_a_server_error"]), ("negative", 422, [])],
        ),
        scenario("PUT /b", [("positive", 422, ["response_schema_conformance"])]),
    ]
    report.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    report.write_text(
        report.read_text() + '{"ScenarioFinished": {"recorder": {"label": "GET /a", "ca'
    )  # cut short
    read = bench_safety.read_schemathesis_report([report])
    assert (read["operations"], read["cases"], read["min_cases_per_operation"]) == (2, 4, 1)
    assert read["server_errors"] == 1 and read["schema_violations"] == 1
    assert (
        read["modes"]["negative"]["server_errors"] == 1
        and read["modes"]["positive"]["schema_violations"] == 1
    )
    assert read["modes"]["positive"]["per_operation"] == {"GET /a": 1, "PUT /b": 1}
    log = "x\n===== ERRORS =====\n____ POST /v1/c ____\nRuntime Error\n===== SUMMARY =====\n"
    assert bench_safety.tool_errors(log)["tool_error_operations"] == ["POST /v1/c"]
    assert bench_safety.tool_errors("all good")["tool_errors"] == 0


def test_pages_helpers_pick_prefixes_and_summarise_ms() -> None:
    import bench_pages

    titles = ["Running Shoes for Women", "Trail running shoes", "Red running jacket", "Coffee mug 2L"]
    prefixes = bench_pages.typed_prefixes(titles, 3)
    assert prefixes == ["runn", "shoes", "cof"]  # most frequent words first, cut to 4, 5, 3 letters
    assert bench_pages.typed_prefixes(titles, 50) == list(
        dict.fromkeys(bench_pages.typed_prefixes(titles, 50))
    )
    stats = bench_pages.ms_stats([4.0, 1.0, 2.0, 3.0, float("nan"), None])
    assert stats["n"] == 4 and stats["p50_ms"] == pytest.approx(2.5) and stats["max_ms"] == 4.0
    assert stats["p50_ms"] <= stats["p95_ms"] <= stats["max_ms"]
    assert bench_pages.ms_stats([]) == {"n": 0}
    args = bench_pages.parse_args(["--bundle", "b", "--runs", "5"])
    assert args.runs == 5 and args.queries == 5 and args.max_seconds > 0


def test_live_new_product_times_the_other_worker_and_every_worker() -> None:
    import http.server
    import json
    import threading

    added: set[str] = set()
    connections = iter(range(10**6))

    class Handler(http.server.BaseHTTPRequestHandler):  # two "workers": connections alternate
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.pid = str(1 + next(connections) % 2)

        def do_GET(self) -> None:  # noqa: N802
            hits = [{"product": {"sku": s}} for s in sorted(added)] if "search" in self.path else []
            self._send({"hits": hits, "status": "ok"})

        def do_PUT(self) -> None:  # noqa: N802
            rows = json.loads(self.rfile.read(int(self.headers["content-length"])))
            added.update(r["sku"] for r in rows)
            self._send({"applied": len(rows), "rejected": []})

        def _send(self, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("x-omnirank-worker", self.pid)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    workers = bench_live.WorkerClients(f"http://127.0.0.1:{server.server_address[1]}", 2)
    try:
        assert workers.pids == ["1", "2"]
        npd = bench_live.bench_new_product(workers, [{"sku": "LIVE-t-000", "title": "Zuba mug"}], 5)
    finally:
        workers.close()
        server.shutdown()
    assert npd["errors"] == 0 and npd["stats"]["n"] == 1 and npd["every_worker"]["n"] == 1
    done = npd["products"][0]
    assert done["every_worker_seconds"] >= done["seconds"] > 0 and done["put_ms"] > 0, done
    assert done["writer"] != done["reader"]
    row = bench_live.new_product_row("toy", 1, npd, 100.0, 1.0, [0.5], every_worker=True)
    assert "every worker" in row["measure"] and row["verdict"] == "PASS"


def test_search_load_query_mix_repeats_and_medians(tmp_path: Path) -> None:
    import bench_search_load

    queries = bench_search_load.logged_searches(SAMPLE / "events.jsonl.gz")
    mix = bench_search_load.skew(queries)
    assert mix["searches"] == len(queries) > mix["distinct"] > 0  # the head repeats as logged
    assert queries == bench_search_load.logged_searches(SAMPLE / "events.jsonl.gz")  # seeded shuffle
    # two connections from offsets 0 and 2 over [a, b, a, c]: a b | a c -> one repeat in four
    assert bench_search_load.repeat_share(["a", "b", "a", "c"], [[0, 2], [2, 2]]) == 0.25
    lines = bench_search_load.write_queries(tmp_path / "q.txt", ["red shoes", "tênis"]).read_text()
    assert lines == "red%20shoes\nt%C3%AAnis\n"
    assert "WRK_THREADS" in bench_search_load.WRK_LUA and "streams" in bench_search_load.WRK_LUA
    run = {"code": "after", "workers": 1, "errors": 0, "loadavg": [2.0], "repeat_share": 0.1}
    rows = [
        run
        | {"searches_per_s": v, "p50_ms": 1.0, "p99_ms": 2.0, "cpu_ms_per_search": v / 10, "cores_busy": 1.0}
        for v in (10.0, 30.0, 20.0)
    ]
    (summary,) = bench_search_load.summarise(rows)
    assert (summary["searches_per_s"], summary["cpu_ms_per_search"], summary["rounds"]) == (20.0, 2.0, 3)


def test_tantivy_reference_stems_ranks_and_never_parses_syntax() -> None:
    import tantivy_reference

    from training.eval_search import EvalQuery

    products = pd.DataFrame(
        {
            "sku": ["S0", "S1", "S2", "S3", "S4", "S5"],
            "title": [
                "Cordless Drill 20V Max",
                "Drill Bit Set, 29 pieces",
                "Garden Hose 50 ft",
                "Hammer with fiberglass handle",
                "Paint Roller Kit",
                "Impact Driver and Drill Combo Kit",
            ],
            "brand": ["Ryobi", "Bosch", None, "Estwing", "Wagner", "DEWALT"],
            "category": [
                "Tools > Drills",
                "Tools > Bits",
                "Garden > Hoses",
                "Tools",
                "Paint",
                "Tools > Kits",
            ],
        }
    )
    titles = tantivy_reference.TantivyIndex(products.to_dict("records"))
    assert titles.search("drills") == [0, 1, 5]  # stemmed; BM25: the shorter title first
    assert titles.search("paint rollers kits") == [4, 5]
    assert titles.search("dewalt") == []  # titles only: the brand is not indexed
    # parser syntax is never parsed: no error, only the words count (quoted "AND" is the word "and")
    assert titles.search('"AND ( ] :') == [5]
    assert titles.search('( ] : " ^ * ~ -') == [] and titles.search("") == []
    assert titles.search("title:drill^2 OR (hose") == [2, 0, 1, 5]
    fields = tantivy_reference.TantivyIndex(products.to_dict("records"), ("title", "brand", "category"))
    assert fields.search("dewalt drills") == [0, 5, 1] and fields.search("hoses") == [2]
    method = tantivy_reference.tantivy_method(products)
    drills, nothing = EvalQuery("q1", "drills"), EvalQuery("q2", "zzz")
    assert method([drills, nothing]) == [["S0", "S1", "S5"], []]
