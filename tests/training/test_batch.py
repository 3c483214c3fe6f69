"""batch-recommend: campaign rules on planted cases, vectorised scoring, resume, Ray == local.

The planted retailer (a real bundle built small from hand-made import-format data):
People (identifiers in brackets; all consent unless said):
  alice [loyalty L1, alice@x.com]  carts P03 on the web and P06 in the app, bought P01 in store
  bob   [bob@x.com]                carts P03, unsubscribed after the bundle was trained
  carol [carol@x.com, no consent]  carts P03
  dave  [loyalty L4, dave@x.com]   carts P05 on the web, then buys P05 at a POS with his card
  erin  [erin@x.com]               carts only P09 (out of stock everywhere), bought P07 online
plus 30 shoppers without consent whose orders teach co-purchase (P01+P02, P03+P04, P05+P06, ...).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SALT = "batch-test-salt"
NOW = pd.Timestamp("2026-10-01T12:00:00Z")
TRAINED_UNTIL = NOW - pd.Timedelta(days=10)


def _products() -> pd.DataFrame:
    cats = ["Shoes > Running"] * 4 + ["Kitchen > Pans"] * 4 + ["Toys > Blocks"] * 4
    return pd.DataFrame(
        {
            "sku": [f"P{i:02d}" for i in range(1, 13)],
            "title": [f"Product {i}" for i in range(1, 13)],
            "category": cats,
            "price": np.linspace(5, 60, 12),
            "available_web": [True] * 10 + [False, True],  # P11 is store-only
        }
    )


def _events() -> list[dict]:
    ev: list[dict] = []

    def add(etype: str, when: pd.Timestamp, channel: str, sku: str, **ids: str) -> None:
        ev.append(
            {
                "event_id": f"e{len(ev)}",
                "type": etype,
                "timestamp": when.isoformat(),
                "channel": channel,
                "sku": sku,
                **ids,
            }
        )

    pairs = [("P01", "P02"), ("P03", "P04"), ("P05", "P06"), ("P07", "P08"), ("P09", "P10"), ("P02", "P12")]
    for n in range(30):
        when = TRAINED_UNTIL - pd.Timedelta(days=40 - n)
        for j, (a, b) in enumerate(pairs):
            if (n + j) % 2 == 0:
                basket = f"b{n}-{j}"
                for sku in (a, b):
                    ev.append(
                        {
                            "event_id": f"e{len(ev)}",
                            "type": "purchase",
                            "timestamp": when.isoformat(),
                            "channel": "web",
                            "sku": sku,
                            "basket_id": basket,
                            "email": f"filler{n}@x.com",
                        }
                    )
    old = TRAINED_UNTIL - pd.Timedelta(days=20)
    for person, sku in (("alice", "P02"), ("bob", "P04"), ("dave", "P07"), ("erin", "P12"), ("carol", "P01")):
        add("view", old, "web", sku, email=f"{person}@x.com")
    add("add_to_cart", TRAINED_UNTIL - pd.Timedelta(days=1), "web", "P03", email="bob@x.com")
    # After training: the new events of --data.
    day = NOW - pd.Timedelta(days=1)
    add("add_to_cart", day, "web", "P03", email="alice@x.com")
    add("add_to_cart", day + pd.Timedelta(minutes=5), "app", "P06", loyalty_id="L1")
    add("purchase", day - pd.Timedelta(days=2), "store", "P01", loyalty_id="L1", store_id="S1")
    add("add_to_cart", day, "web", "P03", email="carol@x.com")
    add("add_to_cart", day, "web", "P05", email="dave@x.com")
    add("purchase", day + pd.Timedelta(hours=3), "store", "P05", loyalty_id="L4", store_id="S1")
    add("add_to_cart", day, "web", "P09", email="erin@x.com")
    add("purchase", day - pd.Timedelta(days=1), "web", "P07", email="erin@x.com")
    add("view", NOW, "web", "P12", email="erin@x.com")  # the latest event: the job's default 'now'
    return ev


def _customers() -> pd.DataFrame:
    rows = [
        ("r1", "loyalty", "L1", "alice@x.com", True),
        ("r2", "web", None, "bob@x.com", True),
        ("r3", "web", None, "carol@x.com", False),
        ("r4", "loyalty", "L4", "dave@x.com", True),
        ("r5", "web", None, "erin@x.com", True),
    ] + [(f"f{n}", "web", None, f"filler{n}@x.com", False) for n in range(30)]
    return pd.DataFrame(rows, columns=["record_id", "source", "loyalty_id", "email", "email_consent"])


def _write_data(root: Path, events: list[dict], unsubscribes: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    _products().to_parquet(root / "products.parquet", index=False)
    pd.DataFrame({"store_id": ["S1"], "name": ["Store 1"]}).to_parquet(root / "stores.parquet", index=False)
    stock = pd.DataFrame({"store_id": "S1", "sku": [f"P{i:02d}" for i in range(1, 13)], "stock": 5})
    stock.loc[stock["sku"] == "P09", "stock"] = 0
    stock.to_parquet(root / "inventory.parquet", index=False)
    _customers().to_parquet(root / "customers.parquet", index=False)
    pd.DataFrame({"email": unsubscribes, "unsubscribed_at": [NOW] * len(unsubscribes)}).to_parquet(
        root / "unsubscribes.parquet", index=False
    )
    with open(root / "events.jsonl", "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")
    return root


def _build_bundle(
    train_dir: Path,
    bundles: Path,
    *,
    salt: str = SALT,
    components: tuple[str, ...] = ("popularity", "item_knn", "als"),
    component_params: dict | None = None,
    knowledge: bool = False,
) -> Path:
    """The real artifacts (identity, catalog, blend, co-purchase, trending, history, and with
    ``knowledge`` the learned purchase cycles), built small; other test modules plant their own data."""
    from models import artifacts as A
    from models.bundle import BundleWriter
    from models.catalog import Catalog
    from models.config import Settings
    from models.history import history_table
    from models.recommenders.blend import BlendRecommender
    from models.recommenders.interactions import type_weights_from_settings
    from training import identity
    from training.ingest import ingest
    from training.stages.recommendations import fit_copurchase, fit_trending

    settings = Settings(pii_salt=salt)
    with BundleWriter(bundles) as out:
        data = ingest(train_dir, out.file(A.QUARANTINE))
        graph = identity.resolve(data.customers, data.events, salt, data.unsubscribes["email"])
        data.events["customer_id"] = graph.customer_of(data.events, salt)
        graph.identity_map.to_parquet(out.file(A.IDENTITY_MAP), index=False)
        graph.customers.to_parquet(out.file(A.CUSTOMERS), index=False)
        catalog = Catalog.build(data.products, data.inventory, ["S1"])
        catalog.save(out.file(A.CATALOG_DIR + "/x").parent)
        ev = data.events[data.events["customer_id"].notna()]
        users, user_codes = pd.factorize(ev["customer_id"].astype(str), sort=True)
        w = ev["type"].astype(str).map(type_weights_from_settings(settings)).fillna(0).to_numpy(np.float32)
        import scipy.sparse as sp

        matrix = sp.csr_matrix(
            (w, (users, catalog.indices(ev["sku"].astype(str).tolist()))),
            shape=(len(user_codes), len(catalog)),
        )
        matrix.sum_duplicates()
        params = {"als": {"factors": 8, "iterations": 3}} if component_params is None else component_params
        blend = BlendRecommender(components=components, component_params=params).fit(matrix)
        blend.save(out.file(A.BLEND_DIR + "/x").parent)
        sp.save_npz(out.file(A.USER_ITEMS), matrix)
        out.write_json(A.USER_IDS, list(user_codes))
        fit_copurchase(data.events, catalog).model.save(out.file(A.COPURCHASE_DIR + "/x").parent)
        fit_trending(data.events, catalog, settings).save(out.file(A.TRENDING))
        history_table(data.events, catalog).to_parquet(out.file(A.HISTORY), index=False)
        if knowledge:
            from models.product_knowledge import ProductKnowledge

            purchases = data.events.loc[
                data.events["type"] == "purchase", ["customer_id", "sku", "timestamp"]
            ]
            ProductKnowledge.learn(
                catalog.products,
                purchases,
                min_repeaters=settings.recs_cycle_min_repeaters,
                person_min_purchases=settings.recs_person_cycle_min_purchases,
                person_prior_gaps=settings.recs_person_cycle_prior_gaps,
            ).save(out.file(A.PRODUCT_KNOWLEDGE))
        return out.publish(data_fingerprint="planted", parameters={}, metrics={})


@pytest.fixture(scope="module")
def batch_planted_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{'bundle': published bundle dir, 'data': --data dir with the events since training}."""
    root = tmp_path_factory.mktemp("batch_world")
    events = _events()
    trained = [e for e in events if pd.Timestamp(e["timestamp"]) <= TRAINED_UNTIL]
    bundle = _build_bundle(_write_data(root / "train", trained, []), root / "bundles")
    data = _write_data(root / "data", events, ["BOB@x.com "])
    return {"bundle": bundle, "data": data}


# --- selection rules on pure pandas inputs -----------------------------------------------------
def _ev(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "type", "item", "timestamp", "channel"]).assign(
        timestamp=lambda d: pd.to_datetime(d["timestamp"], utc=True)
    )


def test_abandoned_cart_rules_pos_receipt_closes_cart_and_window_applies() -> None:
    from training.batch.campaigns import abandoned_carts

    events = _ev(
        [
            ("c1", "add_to_cart", 1, "2026-09-30T10:00Z", "web"),
            ("c1", "purchase", 1, "2026-09-30T15:00Z", "store"),  # POS receipt closes the web cart
            ("c1", "add_to_cart", 2, "2026-09-30T10:00Z", "app"),  # still open
            ("c2", "purchase", 3, "2026-09-29T10:00Z", "web"),  # bought before carting again: open
            ("c2", "add_to_cart", 3, "2026-09-30T09:00Z", "web"),
            ("c3", "add_to_cart", 4, "2026-09-01T10:00Z", "web"),  # older than the window
            ("c4", "add_to_cart", 5, "2026-10-01T11:30Z", "web"),  # too fresh: may still check out
            ("c5", "add_to_cart", 6, "2026-09-30T10:00Z", "web"),
            ("c5", "purchase", 7, "2026-09-30T11:00Z", "store"),  # another item: cart stays open
        ]
    )
    got = abandoned_carts(events, NOW, window_days=7, idle_hours=2)
    assert set(zip(got["customer_id"], got["item"], strict=True)) == {("c1", 2), ("c2", 3), ("c5", 6)}


def test_post_purchase_takes_store_and_online_purchases_in_window() -> None:
    from training.batch.campaigns import recent_purchases

    events = _ev(
        [
            ("c1", "purchase", 1, "2026-09-28T10:00Z", "store"),
            ("c2", "purchase", 2, "2026-09-29T10:00Z", "web"),
            ("c3", "purchase", 3, "2026-08-01T10:00Z", "web"),  # outside the window
            ("c4", "add_to_cart", 4, "2026-09-29T10:00Z", "web"),
        ]
    )
    got = recent_purchases(events, NOW, window_days=14)
    assert set(zip(got["customer_id"], got["item"], got["channel"], strict=True)) == {
        ("c1", 1, "store"),
        ("c2", 2, "web"),
    }


def test_audience_drops_no_consent_and_any_unsubscribed_address() -> None:
    from training.batch.campaigns import audience

    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "email_hash": ["ha", "hb", None, "hd"],
            "email_consent": [True, True, False, True],
        }
    )
    identity_map = pd.DataFrame(
        {
            "identifier_type": ["email", "email", "email", "email", "loyalty_id"],
            "identifier_hash": ["ha", "hb", "hd", "hd2", "L"],
            "customer_id": ["a", "b", "d", "d", "d"],
        }
    )
    got = audience(customers, identity_map, {"hb", "hd2"})  # d unsubscribed a second address
    assert got.to_dict("records") == [{"customer_id": "a", "email_hash": "ha"}]


def test_sparse_top_k_matches_dense_top_n() -> None:
    import scipy.sparse as sp

    from models.recommenders.base import top_n
    from training.batch.scoring import sparse_top_k

    rng = np.random.default_rng(0)
    dense = np.where(rng.random((50, 40)) < 0.2, rng.random((50, 40)), 0).astype(np.float32)
    ids, scores = sparse_top_k(sp.csr_matrix(dense), 5)
    ref_ids, ref_scores = top_n(np.where(dense > 0, dense, -np.inf), 5)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores)


def test_exact_top_k_equals_loop_and_ivf_recall() -> None:
    from models.recommenders.ann import IVFScorer, exact_top_k

    rng = np.random.default_rng(1)
    users, items = (
        rng.standard_normal((300, 16)).astype(np.float32),
        rng.standard_normal((2000, 16)).astype(np.float32),
    )
    ids, _ = exact_top_k(users, items, 10, block_rows=64)
    loop_ids = np.array([np.argsort(-(items @ u), kind="stable")[:10] for u in users])
    np.testing.assert_array_equal(ids, loop_ids)
    ivf_ids, _ = IVFScorer(nlist=16, nprobe=16).fit(items).search(users, 10)  # all lists probed: exact
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ivf_ids, ids, strict=True)]) > 0.99


# --- the job on the planted bundle ---------------------------------------------------------------
def _engine(world: dict[str, Path]):
    from models import artifacts as A
    from models.catalog import Catalog
    from models.recommend import RecommendationEngine

    return RecommendationEngine.load(world["bundle"], Catalog.load(world["bundle"] / A.CATALOG_DIR))


def test_diversify_batch_equals_engine_diversify(batch_planted_world: dict[str, Path]) -> None:
    engine = _engine(batch_planted_world)
    rng = np.random.default_rng(2)
    lists = np.array([rng.permutation(12)[:10] for _ in range(40)], dtype=np.int32)
    lists[::3, 4] = -1
    scores = -np.sort(-rng.random(lists.shape), axis=1).astype(np.float32)
    ids, out = engine.diversify_batch(lists, scores, 5)
    for row in range(len(lists)):
        keep = lists[row] >= 0
        ref_ids, ref_scores = engine._diversify(lists[row][keep], scores[row][keep], 5)
        assert ids[row][ids[row] >= 0].tolist() == ref_ids.tolist()
        np.testing.assert_allclose(out[row][: len(ref_scores)], ref_scores)


def _options(campaign: str, chunk: int = 50):
    from training.batch.job import BatchOptions

    return BatchOptions(
        campaign=campaign,
        k=5,
        cart_window_days=7,
        cart_idle_hours=2,
        purchase_window_days=14,
        chunk_customers=chunk,
    )


def _run(
    world: dict[str, Path],
    out: Path,
    campaign: str,
    chunk: int = 50,
    engine: str = "local",
    store: Path | None = None,
    data: Path | None = None,
    **settings,
) -> pd.DataFrame:
    from models.config import Settings
    from training.batch.job import run_batch

    summary = run_batch(
        world["bundle"],
        data or world["data"],
        out,
        _options(campaign, chunk),
        Settings(pii_salt=SALT, **settings),
        engine=engine,
        store=store,
    )
    return pd.read_parquet(out).assign(first_stage=summary["first_stage"])


def _cid(world: dict[str, Path], email: str) -> str:
    from models.pii import identifier_key

    imap = pd.read_parquet(world["bundle"] / "identity/identity_map.parquet")
    return imap.loc[imap["identifier_hash"] == identifier_key("email", email, SALT), "customer_id"].iloc[0]


def test_abandoned_cart_end_to_end(batch_planted_world: dict[str, Path], tmp_path: Path) -> None:
    w = batch_planted_world
    out = _run(w, tmp_path / "cart", "abandoned-cart")
    alice = _cid(w, "alice@x.com")
    # dave's cart was closed by a POS receipt, bob unsubscribed, carol has no consent, erin's item is out of stock
    assert set(out["customer_id"]) == {alice}
    rows = out.sort_values("rank")
    assert rows["sku"].tolist()[:2] == ["P06", "P03"]  # both identifiers' carts, latest first, one email
    assert set(rows["reason"].iloc[:2]) == {"Still in your cart"}
    assert {"P04", "P05"} <= set(rows["sku"])  # complements of the cart
    assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
    assert out["email_hash"].nunique() == 1 and (out["campaign"] == "abandoned-cart").all()
    assert "P11" not in set(out["sku"])  # not sold on the web shop


def test_post_purchase_complements_never_the_bought_items(
    batch_planted_world: dict[str, Path], tmp_path: Path
) -> None:
    w = batch_planted_world
    out = _run(w, tmp_path / "post", "post-purchase")
    alice, dave, erin = _cid(w, "alice@x.com"), _cid(w, "dave@x.com"), _cid(w, "erin@x.com")
    assert set(out["customer_id"]) == {alice, dave, erin}  # dave bought P05 at a POS in the window
    assert set(out.loc[out["customer_id"] == dave, "sku"]) == {"P06"}
    assert "P02" in set(out.loc[out["customer_id"] == alice, "sku"])  # goes with P01 bought in store
    assert "P01" not in set(out.loc[out["customer_id"] == alice, "sku"])
    assert "P08" in set(out.loc[out["customer_id"] == erin, "sku"]) and "P07" not in set(
        out.loc[out["customer_id"] == erin, "sku"]
    )
    assert out["reason"].str.startswith("Goes with").all()


def test_newsletter_consent_diversity_one_email_per_person(
    batch_planted_world: dict[str, Path], tmp_path: Path
) -> None:
    w = batch_planted_world
    out = _run(w, tmp_path / "news", "newsletter")
    expected = {_cid(w, f"{p}@x.com") for p in ("alice", "dave", "erin")}
    assert set(out["customer_id"]) == expected  # bob unsubscribed after training, carol never consented
    assert out.groupby("customer_id")["email_hash"].nunique().eq(1).all()
    assert (
        not out.duplicated(["customer_id", "sku"]).any() and not out.duplicated(["customer_id", "rank"]).any()
    )
    products = pd.read_parquet(w["bundle"] / "catalog/products.parquet").set_index("sku")
    assert not out["sku"].isin(["P11"]).any()
    per_cat = out.assign(cat=out["sku"].map(products["category"])).groupby(["customer_id", "cat"]).size()
    assert per_cat.max() <= 3
    assert out.groupby("customer_id").size().eq(5).all()


def test_resume_after_kill_has_no_duplicates_or_gaps(
    batch_planted_world: dict[str, Path], tmp_path: Path
) -> None:
    from models.config import Settings
    from training.batch.job import prepare, run_local
    from training.batch.writer import PartWriter

    w = batch_planted_world
    full = _run(w, tmp_path / "full", "newsletter", chunk=1)
    settings = Settings(pii_salt=SALT)
    out = tmp_path / "killed"
    job = prepare(w["bundle"], w["data"], _options("newsletter", chunk=1), settings, tmp_path / "q.jsonl")
    assert job.n_partitions == 3

    class Killed(Exception):
        pass

    def kill_after_first(partition: int, stats: dict) -> None:
        raise Killed

    with pytest.raises(Killed):
        run_local(job, PartWriter(out, job.job_record()), on_part=kill_after_first)
    assert len(list(out.glob("part-*.parquet"))) == 1 and not (out / "_SUCCESS.json").exists()
    (out / ".tmp-part-00002.parquet").write_bytes(b"half a file")  # a kill mid-write leaves this
    resumed = _run(w, out, "newsletter", chunk=1)
    summary = json.loads((out / "_SUCCESS.json").read_text())
    assert summary["partitions_run_now"] == 2 and summary["complete"]
    key = ["customer_id", "rank"]
    assert not resumed.duplicated(key).any()
    pd.testing.assert_frame_equal(
        resumed.sort_values(key).reset_index(drop=True), full.sort_values(key).reset_index(drop=True)
    )
    with pytest.raises(Exception, match="another job"):
        _run(w, out, "post-purchase", chunk=1)


def test_cli_batch_recommend(batch_planted_world: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from training.cli import app

    w = batch_planted_world
    env = {
        "OMNIRANK_PII_SALT": SALT,
        "OMNIRANK_BATCH_K": "5",
        "OMNIRANK_EVENT_STORE_PATH": str(tmp_path / "no-such-store.sqlite3"),  # no default store
    }
    args = [
        "batch-recommend",
        "--campaign",
        "post-purchase",
        "--bundle",
        str(w["bundle"]),
        "--data",
        str(w["data"]),
    ]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "cli")], env=env)
    assert result.exit_code == 0, result.output
    out = pd.read_parquet(tmp_path / "cli")
    assert list(out.columns) == ["customer_id", "email_hash", "campaign", "rank", "sku", "score", "reason"]
    bad = CliRunner().invoke(
        app,
        [
            "batch-recommend",
            "--campaign",
            "spam",
            "--bundle",
            str(w["bundle"]),
            "--data",
            str(w["data"]),
            "--out",
            str(tmp_path / "x"),
        ],
        env=env,
    )
    assert bad.exit_code == 2 and "unknown campaign" in bad.output


def test_ray_output_equals_local(batch_planted_world: dict[str, Path], tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    w = batch_planted_world
    key = ["customer_id", "rank"]
    # 3 CPUs declared on any machine: the job must read the cluster's count, not assume this one's
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:  # one Ray session for both campaigns: run_ray reuses it
        for campaign in ("newsletter", "post-purchase"):
            local = (
                _run(w, tmp_path / f"local-{campaign}", campaign, chunk=1)
                .sort_values(key)
                .reset_index(drop=True)
            )
            dist = (
                _run(w, tmp_path / f"ray-{campaign}", campaign, chunk=1, engine="ray")
                .sort_values(key)
                .reset_index(drop=True)
            )
            assert len(local) > 0 and len(list((tmp_path / f"ray-{campaign}").glob("part-*.parquet"))) == 3
            pd.testing.assert_frame_equal(local, dist)
            summary = json.loads((tmp_path / f"ray-{campaign}" / "_SUCCESS.json").read_text())
            assert summary["engine"] == "ray" and summary["cluster_cpus"] == 3
    finally:
        ray.shutdown()


def test_newsletter_two_stage_with_ivf_first_stage_equals_exact(
    batch_planted_world: dict[str, Path], tmp_path: Path
) -> None:
    """Forced onto the large-scale path (candidates from an IVF index over the ALS factors, the
    blend scored on them only), the tiny catalog is covered by the candidates: same emails."""
    w = batch_planted_world
    exact = _run(w, tmp_path / "exact", "newsletter")
    approx = _run(
        w,
        tmp_path / "ivf",
        "newsletter",
        recs_two_stage_min_cells=1,
        batch_ann_min_customers=1,
        batch_ivf_nlist=4,
        batch_ivf_nprobe=4,
    )
    assert (exact["first_stage"] == "exact").all() and (approx["first_stage"] == "ivf").all()
    cols = ["customer_id", "rank", "sku", "reason"]
    pd.testing.assert_frame_equal(exact[cols], approx[cols])
    np.testing.assert_allclose(exact["score"], approx["score"], rtol=1e-4, atol=1e-5)


def test_partitions_scored_on_threads_write_the_same_parts(
    batch_planted_world: dict[str, Path], tmp_path: Path
) -> None:
    w = batch_planted_world
    _run(w, tmp_path / "one", "newsletter", chunk=1, batch_threads=1)
    _run(w, tmp_path / "three", "newsletter", chunk=1, batch_threads=3)
    parts = sorted(p.name for p in (tmp_path / "one").glob("part-*.parquet"))
    assert len(parts) == 3 and parts == sorted(p.name for p in (tmp_path / "three").glob("part-*.parquet"))
    for name in parts:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "three" / name).read_bytes()


# --- the live store: live stock, discontinued and new products --------------------------------------
def _live_store(path: Path, stock: list[tuple[str, str, int]] = (), discontinued: list[str] = ()) -> Path:
    """A live store as the service leaves it: web/store stock levels, discontinued skus."""
    from models.store import LiveStore, ProductRecord, StockLevel

    with LiveStore(path) as store:
        if stock:
            store.put_stock([StockLevel(loc, sku, q) for loc, sku, q in stock], NOW.timestamp())
        if discontinued:
            store.put_products(
                [ProductRecord(sku, {}, None, discontinued=True) for sku in discontinued], NOW.timestamp()
            )
    return path


def _parts(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("part-*.parquet"))}


def test_abandoned_cart_live_web_stock(batch_planted_world: dict[str, Path], tmp_path: Path) -> None:
    """P03 sold out online: not in alice's reminder, though its complements still are (her P06 is
    still in stock, so she gets one); P09 is out of stock in every store but the web shop reports
    units: erin's cart is still in stock now."""
    w = batch_planted_world
    store = _live_store(tmp_path / "events.sqlite3", stock=[("web", "P03", 0), ("web", "P09", 3)])
    before = store.read_bytes()
    out = _run(w, tmp_path / "cart", "abandoned-cart", store=store)
    alice, erin = _cid(w, "alice@x.com"), _cid(w, "erin@x.com")
    assert set(out["customer_id"]) == {alice, erin}
    rows = out[out["customer_id"] == alice].sort_values("rank")
    assert "P03" not in set(rows["sku"])
    assert rows["sku"].iloc[0] == "P06" and rows["reason"].iloc[0] == "Still in your cart"
    assert (rows["reason"].iloc[1:] != "Still in your cart").all()
    assert "P04" in set(rows["sku"])  # goes with P03, still a complement of her cart
    erin_rows = out[out["customer_id"] == erin].sort_values("rank")
    assert erin_rows["sku"].iloc[0] == "P09" and erin_rows["reason"].iloc[0] == "Still in your cart"
    assert store.read_bytes() == before  # read, never written
    job = json.loads((tmp_path / "cart" / "_job.json").read_text())
    assert job["live"]["version"] == 1
    assert json.loads((tmp_path / "cart" / "_SUCCESS.json").read_text())["live_version"] == 1


def test_abandoned_cart_every_cart_item_sold_out_online_sends_nothing(
    batch_planted_world: dict[str, Path], tmp_path: Path
) -> None:
    w = batch_planted_world
    store = _live_store(tmp_path / "events.sqlite3", stock=[("web", "P03", 0), ("web", "P06", 0)])
    out = _run(w, tmp_path / "cart", "abandoned-cart", store=store)
    assert out.empty  # no in-stock cart item: no reminder, complements or not


def test_discontinued_products_never_in_newsletter_or_post_purchase(
    batch_planted_world: dict[str, Path], tmp_path: Path
) -> None:
    w = batch_planted_world
    base_news = _run(w, tmp_path / "news0", "newsletter")
    base_post = _run(w, tmp_path / "post0", "post-purchase")
    gone = sorted(set(base_news["sku"].value_counts().index[:3]) | {"P02", "P06", "P08"})
    assert set(gone) & set(base_post["sku"]) == {"P02", "P06", "P08"}
    store = _live_store(tmp_path / "events.sqlite3", discontinued=gone)
    news = _run(w, tmp_path / "news", "newsletter", store=store)
    post = _run(w, tmp_path / "post", "post-purchase", store=store)
    assert not news["sku"].isin(gone).any() and not post["sku"].isin(gone).any()
    assert set(news["customer_id"]) == set(base_news["customer_id"])
    assert news.groupby("customer_id").size().eq(5).all()  # the lists are refilled, not shortened
    assert not news.duplicated(["customer_id", "sku"]).any()
    dave = _cid(w, "dave@x.com")
    assert dave not in set(post["customer_id"])  # P06 was his only complement


def test_no_store_output_unchanged_and_live_state_pins_resume(
    batch_planted_world: dict[str, Path], tmp_path: Path
) -> None:
    """No store: no live key in the job record; an empty store scores the same bytes. A resume
    after the live state moved is refused, as with changed --data."""
    from training.batch.writer import ResumeError

    w = batch_planted_world
    for campaign in ("abandoned-cart", "post-purchase", "newsletter"):
        _run(w, tmp_path / f"none-{campaign}", campaign, chunk=1)
        empty = _live_store(tmp_path / f"empty-{campaign}.sqlite3")
        _run(w, tmp_path / f"empty-{campaign}", campaign, chunk=1, store=empty)
        plain, live = _parts(tmp_path / f"none-{campaign}"), _parts(tmp_path / f"empty-{campaign}")
        assert plain and plain == live
        assert "live" not in json.loads((tmp_path / f"none-{campaign}" / "_job.json").read_text())
    store = _live_store(tmp_path / "events.sqlite3", stock=[("S1", "P04", 2)])
    _run(w, tmp_path / "pinned", "post-purchase", store=store)
    _run(w, tmp_path / "pinned", "post-purchase", store=store)  # same live state: resumes (nothing to do)
    _live_store(store, stock=[("web", "P06", 0)])
    with pytest.raises(ResumeError, match="another job"):
        _run(w, tmp_path / "pinned", "post-purchase", store=store)
    with pytest.raises(ResumeError, match="another job"):
        _run(w, tmp_path / "pinned", "post-purchase")  # nor with no store at all


def test_product_added_since_training_is_a_cart_reminder(
    batch_planted_world: dict[str, Path], tmp_path: Path
) -> None:
    """A product PUT live after training, carted by alice (in --data's catalog export too): the
    models do not know it, but it is in stock online, so it is in her reminder; newsletters run."""
    import shutil

    from models.store import LiveStore, ProductRecord, StockLevel

    w = batch_planted_world
    data = Path(shutil.copytree(w["data"], tmp_path / "data"))
    products = pd.read_parquet(data / "products.parquet")
    new = {
        "sku": "P13",
        "title": "Product 13",
        "category": "Toys > Blocks",
        "price": 9.0,
        "available_web": True,
    }
    pd.concat([products, pd.DataFrame([new])], ignore_index=True).to_parquet(
        data / "products.parquet", index=False
    )
    with open(data / "events.jsonl", "a", encoding="utf-8") as fh:
        when = (NOW - pd.Timedelta(hours=20)).isoformat()
        event = {"event_id": "new1", "type": "add_to_cart", "timestamp": when, "channel": "web", "sku": "P13"}
        fh.write(json.dumps({**event, "email": "alice@x.com"}) + "\n")
    path = tmp_path / "events.sqlite3"
    with LiveStore(path) as store:
        store.put_products(
            [ProductRecord("P13", {k: v for k, v in new.items() if k != "sku"})], NOW.timestamp()
        )
        store.put_stock([StockLevel("web", "P13", 4)], NOW.timestamp())
    out = _run(w, tmp_path / "cart", "abandoned-cart", store=path, data=data)
    rows = out[out["customer_id"] == _cid(w, "alice@x.com")].sort_values("rank")
    assert rows["sku"].iloc[0] == "P13" and rows["reason"].iloc[0] == "Still in your cart"
    assert {"P06", "P03"} <= set(rows.loc[rows["reason"] == "Still in your cart", "sku"])
    news = _run(w, tmp_path / "news", "newsletter", store=path, data=data)
    assert news.groupby("customer_id").size().eq(5).all()
    without = _run(w, tmp_path / "cart0", "abandoned-cart", data=data)  # the bundle's catalog: unknown sku
    assert "P13" not in set(without["sku"])


def test_cli_batch_recommend_reads_the_live_store(
    batch_planted_world: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from training.cli import app

    w = batch_planted_world
    store = _live_store(tmp_path / "events.sqlite3", stock=[("web", "P03", 0)])
    env = {"OMNIRANK_PII_SALT": SALT, "OMNIRANK_BATCH_K": "5", "OMNIRANK_EVENT_STORE_PATH": str(store)}
    base = [
        "batch-recommend",
        "--campaign",
        "abandoned-cart",
        "--bundle",
        str(w["bundle"]),
        "--data",
        str(w["data"]),
    ]
    runs = {
        "default": [],
        "explicit": ["--store", str(store)],
        "ignored": ["--no-store"],
    }
    skus = {}
    for name, extra in runs.items():
        result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / name), *extra], env=env)
        assert result.exit_code == 0, result.output
        skus[name] = set(pd.read_parquet(tmp_path / name)["sku"])
    assert "P03" not in skus["default"] and skus["default"] == skus["explicit"]
    assert "P03" in skus["ignored"]
    both = CliRunner().invoke(
        app, [*base, "--out", str(tmp_path / "x"), "--store", str(store), "--no-store"], env=env
    )
    assert both.exit_code == 2
    missing = CliRunner().invoke(
        app, [*base, "--out", str(tmp_path / "y"), "--store", str(tmp_path / "nope.sqlite3")], env=env
    )
    assert missing.exit_code == 2 and "does not exist" in missing.output
