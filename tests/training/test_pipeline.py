"""The real pipeline on the committed sample: a complete, verifiable bundle with honest metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models import artifacts as A
from models.bundle import Bundle, BundleError, sha256_file
from models.catalog import Catalog
from models.recommenders.base import Recommender


@pytest.fixture(scope="module")
def bundle(trained_bundle) -> Bundle:
    return Bundle.open(trained_bundle, verify=True)


def test_bundle_is_complete_and_every_artifact_loads(bundle):
    for rel in (
        A.IDENTITY_MAP,
        A.CUSTOMERS,
        A.PRODUCT_EMBEDDINGS,
        A.USER_ITEMS,
        A.TRENDING,
        A.HISTORY,
        A.REPORT,
    ):
        assert bundle.has(rel), rel
    catalog = Catalog.load(bundle.path / A.CATALOG_DIR)
    vectors = np.load(bundle.file(A.PRODUCT_EMBEDDINGS))
    assert vectors.shape == (len(catalog), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    blend = Recommender.load(bundle.path / A.BLEND_DIR)
    assert blend.n_items_ == len(catalog)
    manifest = bundle.manifest
    for key in (
        "version",
        "created_at",
        "data_fingerprint",
        "library_versions",
        "parameters",
        "files",
        "metrics",
    ):
        assert key in manifest
    assert manifest["library_versions"]["faiss-cpu"]


def test_flipped_byte_in_a_real_bundle_is_detected(bundle, tmp_path):
    import shutil

    copy = tmp_path / bundle.version
    shutil.copytree(bundle.path, copy)
    target = copy / A.PRODUCT_EMBEDDINGS
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch"):
        Bundle.open(copy, verify=True)


def test_onnx_agrees_with_torch(bundle):
    assert bundle.metrics["encoder"]["onnx_torch_cosine_min"] >= 0.999


def test_int8_decision_is_recorded_and_applied(bundle):
    int8 = bundle.metrics["encoder"]["int8"]
    assert int8["kept"] == (int8["loss"] < 0.01)
    assert bundle.has(f"{A.ENCODER_DIR}/{A.INT8_MODEL_FILE}") == int8["kept"]


def test_identity_merge_quality_against_hidden_truth(bundle):
    ident = bundle.metrics["identity"]
    assert ident["precision"] >= 0.95
    # every link the data evidences is found; people who never used two identifiers together cannot be
    assert ident["recall_resolvable"] >= 0.95
    assert ident["recall"] < ident["recall_resolvable"] or ident["recall"] >= 0.95


def test_no_raw_pii_in_the_bundle(bundle, sample_dir):
    customers = pd.read_parquet(sample_dir / "customers.parquet")
    emails = customers["email"].dropna().str.strip().str.lower().head(50).tolist()
    blob = b"".join(p.read_bytes() for p in (bundle.path / "identity").rglob("*.parquet"))
    assert not any(e.encode() in blob for e in emails)


def test_als_beats_popularity_on_held_out_recall(bundle):
    modes = bundle.metrics["recommendations"]["modes"]
    for mode in ("all", "new"):
        assert modes[mode]["als"]["recall@20"] > modes[mode]["popularity"]["recall@20"]


def test_search_evaluation_covers_every_method_and_language(bundle):
    search = bundle.metrics["search"]
    assert set(search["methods"]) >= {"bm25", "dense", "hybrid", "omnirank"}
    assert {"en", "pt", "hi"} <= set(search["by_language"])
    assert search["methods"]["hybrid"]["zero_result_rate"] <= search["methods"]["bm25"]["zero_result_rate"]


def test_index_choice_and_recall_are_recorded(bundle):
    index = bundle.metrics["product_index"]
    assert index["factory"] == "Flat"  # sample catalog is under the exact-search threshold
    assert index["recall@10_vs_exact"] == pytest.approx(1.0)


def test_report_has_tables_and_plots(bundle):
    report = (bundle.path / A.REPORT).read_text()
    assert "## Search" in report and "## Recommendations" in report
    assert list((bundle.path / A.PLOTS_DIR).glob("*.png"))


def test_stage_timings_are_saved(bundle):
    timings = bundle.metrics["stage_seconds"]
    assert {"ingest and validate", "identity resolution", "collaborative filtering"} <= set(timings)
    json.dumps(timings)


def test_crash_mid_run_keeps_previous_bundle_serving(trained_bundle, sample_dir, tmp_path, monkeypatch):
    """A stage failing halfway leaves `latest` where it was and no partial version behind."""
    import shutil

    from models.config import Settings
    from training import identity, pipeline

    bundles = tmp_path / "bundles"
    shutil.copytree(trained_bundle, bundles, symlinks=True)
    before = Bundle.open(bundles).version

    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash after ingest wrote into the new version")

    monkeypatch.setattr(identity, "resolve", boom)
    with pytest.raises(RuntimeError, match="simulated crash"):
        pipeline.train(sample_dir, bundles, Settings(), evaluate=False)
    assert Bundle.open(bundles, verify=True).version == before
    assert not list(bundles.glob(".tmp-*"))


def test_a_catalog_alone_trains_a_search_only_bundle_the_service_answers(sample_dir, tmp_path):
    """No events and no customers (a retailer starting with search): the bundle holds search, the
    service searches it with store stock, and nothing customer-side is written."""
    from models.clock import system_clock
    from models.config import Settings
    from models.search_engine import SearchFilters
    from service.serving import Serving
    from training.pipeline import train

    data = tmp_path / "catalog-only"
    data.mkdir()
    products = pd.read_parquet(sample_dir / "products.parquet").head(300)
    products.to_parquet(data / "products.parquet", index=False)
    pd.read_parquet(sample_dir / "stores.parquet").to_parquet(data / "stores.parquet", index=False)
    inventory = pd.read_parquet(sample_dir / "inventory.parquet")
    inventory[inventory["sku"].isin(products["sku"])].to_parquet(data / "inventory.parquet", index=False)

    cache = tmp_path / "cache"
    path = train(data, tmp_path / "bundles", Settings(cache_dir=cache), evaluate=False)
    bundle = Bundle.open(path, verify=True)
    assert bundle.components == {"search", "suggest"}
    assert bundle.manifest["metrics"]["embedding_cache"] == {
        "encoder_export": "exported",
        "cached": 0,
        "encoded": 300,
    }
    for rel in (
        A.PRODUCT_EMBEDDINGS,
        A.BM25_DIR + "/params.index.json",
        A.QUERY_DIR + "/query_understanding.json",
    ):
        assert bundle.has(rel), rel
    assert not any(f.startswith(("recs/", "identity/")) for f in bundle.manifest["files"])

    settings = Settings(
        bundles_dir=tmp_path / "bundles",
        event_store_path=tmp_path / "ev.sqlite3",
        rules_path=tmp_path / "rules.json",
        dev_mode=True,
    )
    serving = Serving.start(settings, system_clock)
    state = serving.view
    assert state.recs is None
    title = products["title"].iloc[0]
    result = state.search.search(title, k=5)
    assert result.hits and products["sku"].iloc[0] in state.catalog.skus[[h.item for h in result.hits]]
    store = state.catalog.store_ids[0]
    in_store = state.search.search(title, k=20, filters=SearchFilters(store_id=store))
    assert all(state.catalog.stock_in(store, h.item) > 0 for h in in_store.hits)
    serving.close()

    # a retrain after one product's title changed encodes that product only, and reuses the export
    products.loc[7, "title"] = "walnut espresso grinder with ceramic burrs"
    products.to_parquet(data / "products.parquet", index=False)
    again_path = train(data, tmp_path / "bundles", Settings(cache_dir=cache), evaluate=False)
    again = Bundle.open(again_path, verify=True)
    assert again.manifest["metrics"]["embedding_cache"] == {
        "encoder_export": "cached",
        "cached": 299,
        "encoded": 1,
    }
    before, after = np.load(path / A.PRODUCT_EMBEDDINGS), np.load(again_path / A.PRODUCT_EMBEDDINGS)
    unchanged = np.arange(300) != 7
    assert np.array_equal(before[unchanged], after[unchanged])
    assert float(before[7] @ after[7]) < 0.99  # the edited title has a new vector
    assert sha256_file(path / A.ENCODER_DIR / "model.onnx") == sha256_file(
        again_path / A.ENCODER_DIR / "model.onnx"
    )


def test_a_few_weeks_of_orders_train_with_the_evaluation_skipped():
    """A shop's first export (three weeks of orders, under two 28-day holdout windows) trains a
    blend that serves; the held-out evaluation says why it did not run instead of crashing."""
    from models.config import Settings
    from training.cf import train_cf

    start = pd.Timestamp("2026-11-01", tz="UTC")
    events = pd.DataFrame(
        {
            "customer_id": [f"C{i % 6}" for i in range(60)],
            "sku": [f"S{(i * 7) % 9}" for i in range(60)],
            "type": "purchase",
            "timestamp": [start + pd.Timedelta(hours=8 * i) for i in range(60)],
            "channel": "web",
            "quantity": 1,
        }
    )
    result = train_cf(events, np.array([f"S{i}" for i in range(9)]), Settings(), evaluate=True)
    assert set(result.metrics) == {"skipped"}
    assert result.metrics["skipped"].startswith(
        "the purchases span 20 days; the evaluation needs more than 56"
    )
    ids, _ = result.blend.recommend(np.array([0]), result.interactions.matrix[[0]], N=3)
    assert ids.shape == (1, 3) and (ids >= 0).all()


def test_the_search_ranker_kept_is_the_kind_that_won_on_held_out_logged_queries(bundle):
    from models.ranking import load_ranker

    m = bundle.manifest["metrics"]["search_ranker"]
    by_kind = m["validation_ndcg@10_by_kind"]
    assert set(by_kind) == {"linear", "lambdamart"}
    assert m["kind"] == max(by_kind, key=by_kind.get)
    assert m["validation_ndcg@10_ranker"] == by_kind[m["kind"]]
    assert m["kept"] == (by_kind[m["kind"]] > m["validation_ndcg@10_fusion"])
    if m["kept"]:
        assert load_ranker(bundle.file(A.RANKER)).kind == m["kind"]
    else:
        assert not bundle.has(A.RANKER)
