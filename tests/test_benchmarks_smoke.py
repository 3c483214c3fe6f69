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


def test_scale_world_draws_by_topic_and_serves_two_stage(sample_products: pd.DataFrame, tmp_path: Path) -> None:
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
        got, cold = two_stage.for_customer(row, history, Context(), 10)
        want, _ = exact.for_customer(row, history, Context(), 10)
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
