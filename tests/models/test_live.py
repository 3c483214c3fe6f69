"""The live overlay's parts on planted data: the store's live tables, the price book, the delta index
and the overlay that brings a trained catalog up to date."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.catalog import Catalog
from models.lexical import BM25Index
from models.live.delta import DeltaIndex, ItemVectors
from models.live.overlay import LiveOverlay
from models.live.prices import PriceBook
from models.store import LiveStore, PriceEntry, ProductRecord, StockLevel

T0 = 1_790_000_000.0  # a fixed unix time; nothing here reads the clock


def _catalog() -> Catalog:
    products = pd.DataFrame(
        {
            "sku": ["A", "B", "C", "D"],
            "title": ["red running shoe", "blue running shoe", "coffee machine", "tea kettle"],
            "category": ["Footwear > Running", "Footwear > Running", "Kitchen > Coffee", "Kitchen > Tea"],
            "brand": ["Stridex", "Stridex", "Aurelio", "Aurelio"],
            "price": [80.0, 60.0, 120.0, 30.0],
            "list_price": [100.0, np.nan, np.nan, np.nan],
            "available_marketplace": [False, False, True, False],
        }
    )
    inventory = pd.DataFrame({"store_id": ["S1", "S1", "S2"], "sku": ["A", "C", "A"], "stock": [3, 2, 5]})
    return Catalog.build(products, inventory, ["S1", "S2"])


def _tokens(row: dict) -> list[str]:
    return str(row.get("title", "")).lower().split()


def _encode(texts: list[str]) -> np.ndarray:
    vectors = np.ones((len(texts), 4), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# --- store ---------------------------------------------------------------------------------------
def test_live_tables_version_every_write_and_return_only_newer_rows(store_location: Path | str) -> None:
    with LiveStore(store_location) as store:
        assert store.live_version() == 0
        v1 = store.put_stock([StockLevel("S1", "A", 0)], T0)
        v2 = store.put_prices([PriceEntry("A", 70.0, channel="app")], T0)
        v3 = store.put_stock([StockLevel("S1", "A", 4), StockLevel("web", "B", 0)], T0)
        assert (v1, v2, v3) == (1, 2, 3)
        everything = store.live_changes(0)
        assert everything.version == 3
        assert everything.stock == [
            StockLevel("S1", "A", 4),
            StockLevel("web", "B", 0),
        ]  # the upsert kept the last
        assert [(p.sku, p.price, p.channel, p.seq) for p in everything.prices] == [("A", 70.0, "app", 2)]
        since_2 = store.live_changes(2)
        assert since_2.prices == [] and len(since_2.stock) == 2
    with LiveStore(store_location) as reopened:  # durable across a restart
        assert reopened.live_version() == 3 and len(reopened.live_changes(0).stock) == 2


def test_identity_links_keep_the_first_owner(store_location: Path | str) -> None:
    with LiveStore(store_location) as store:
        assert store.link_identifiers(["h-email", "h-phone", "C1"], "C1", T0) == ["h-email", "h-phone"]
        assert store.link_identifiers(["h-email", "h-new"], "C2", T0) == ["h-new"]
        assert store.linked_customers(["h-email", "h-new", "h-none"]) == {"h-email": "C1", "h-new": "C2"}
        assert store.aliases("C1") == ["h-email", "h-phone"]


def test_products_keep_their_embedding_and_discontinued_flag(store_location: Path | str) -> None:
    vector = np.arange(4, dtype=np.float32)
    with LiveStore(store_location) as store:
        store.put_products([ProductRecord("N1", {"title": "new", "category": "X", "price": 5.0}, vector)], T0)
        store.put_products([ProductRecord("A", {}, None, discontinued=True)], T0)
        rows = store.live_changes(0).products
    assert [(r.sku, r.discontinued, r.seq) for r in rows] == [("N1", False, 1), ("A", True, 2)]
    np.testing.assert_array_equal(rows[0].embedding, vector)
    assert rows[0].fields == {"title": "new", "category": "X", "price": 5.0} and rows[1].embedding is None


# --- prices --------------------------------------------------------------------------------------
def test_the_most_specific_price_that_applies_wins() -> None:
    book = PriceBook.from_catalog(np.array([80.0, 60.0, 120.0]), np.array([100.0, np.nan, np.nan]))
    book = book.with_entries(
        [
            PriceEntry("B", 55.0, channel="app"),
            PriceEntry("B", 50.0, store_id="S1"),
            PriceEntry("B", 45.0, channel="store", store_id="S1"),
            PriceEntry("B", 40.0, channel="app", valid_from=T0, valid_to=T0 + 3600),  # a one-hour app sale
            PriceEntry("C", 99.0),  # a new base price
        ],
        np.array([1, 1, 1, 1, 2]),
    )
    web, app = book.view("web", None, T0 + 10), book.view("app", None, T0 + 10)
    assert web.price.tolist() == [80.0, 60.0, 99.0]
    assert app.price.tolist() == [80.0, 40.0, 99.0]
    assert app.list_price[1] == 60.0 and np.isnan(web.list_price[1])  # a sale shows what it is reduced from
    assert web.list_price[0] == 100.0  # the catalog's own list price
    assert book.view("app", None, T0 + 3600).price[1] == 55.0  # the sale ended
    assert book.view("store", "S1", T0).price[1] == 45.0
    assert book.view("web", "S1", T0).price[1] == 50.0
    assert book.view("store", "S2", T0).price[1] == 60.0
    assert book.n_overrides == 4


def test_a_later_write_of_the_same_override_replaces_it() -> None:
    book = PriceBook.from_catalog(np.array([10.0]))
    book = book.with_entries([PriceEntry("A", 8.0, channel="app")], np.array([0]))
    book = book.with_entries([PriceEntry("A", 7.0, channel="app")], np.array([0]))
    assert book.n_overrides == 1 and book.view("app", None, T0).price[0] == 7.0


# --- delta index ---------------------------------------------------------------------------------
def test_a_live_document_scores_as_if_it_had_been_indexed() -> None:
    docs = pd.DataFrame({"title": ["red running shoe", "blue running shoe", "coffee machine", "tea kettle"]})
    index = BM25Index(stemming=False).fit(docs, ["a", "b", "c", "d"])
    delta = DeltaIndex(dim=4).updated(
        [4], [index.document_tokens({"title": "red running shoe"})], np.ones((1, 4))
    )
    for query in ("red shoe", "running", "red red shoe", "kettle"):
        expected = index.scores(query)[0]
        assert delta.lexical(index, query, index.avgdl_)[0] == pytest.approx(expected, rel=1e-5)
    assert delta.lexical(index, "zorblax", index.avgdl_)[0] == 0.0


def test_item_vectors_read_the_delta_for_live_items() -> None:
    trained = np.eye(3, 4, dtype=np.float32)
    delta = DeltaIndex(dim=4).updated([1, 3], [["x"], ["y"]], np.full((2, 4), 0.5, np.float32))
    rows = ItemVectors(trained, delta, n_items=4).rows(np.array([0, 1, 2, 3]))
    np.testing.assert_array_equal(rows[[0, 2]], trained[[0, 2]])
    np.testing.assert_array_equal(rows[[1, 3]], np.full((2, 4), 0.5, np.float32))


# --- overlay ---------------------------------------------------------------------------------------
def test_the_overlay_applies_stock_web_stock_prices_and_products(store_location: Path | str) -> None:
    catalog = _catalog()
    with LiveStore(store_location) as store:
        store.put_stock([StockLevel("S1", "A", 0), StockLevel("web", "C", 0), StockLevel("S2", "B", 9)], T0)
        store.put_products(
            [
                ProductRecord(
                    "N1", {"title": "green trail shoe", "category": "Footwear > Trail", "price": 70.0}, None
                )
            ],
            T0,
        )
        store.put_stock([StockLevel("S1", "N1", 2)], T0)
        store.put_products([ProductRecord("D", {}, None, discontinued=True)], T0)
        overlay = LiveOverlay.trained(catalog, dim=4).apply(store.live_changes(0), _tokens, _encode)
        live = overlay.catalog
        assert len(live) == 5 and live.sku_index["N1"] == 4 and overlay.n_trained == 4
        assert live.in_stock("S1").tolist() == [False, False, True, False, True]
        assert live.in_stock("S2").tolist() == [True, True, False, False, False]
        assert live.available("web").tolist() == [True, True, False, False, True]
        assert live.available("marketplace").tolist() == [False, False, False, False, False]
        assert live.prices.tolist() == [80.0, 60.0, 120.0, 30.0, 70.0]
        assert overlay.delta.items.tolist() == [4] and overlay.stats.discontinued_products == 1
        assert catalog.in_stock("S1").tolist() == [
            True,
            False,
            True,
            False,
        ]  # the trained catalog is untouched
        # a product PUT after a price PUT sets the base price; the later write wins either way
        store.put_prices([PriceEntry("N1", 65.0)], T0)
        store.put_products(
            [
                ProductRecord(
                    "N1", {"title": "green trail shoe", "category": "Footwear > Trail", "price": 68.0}, None
                )
            ],
            T0,
        )
        store.put_products(
            [ProductRecord("D", {"title": "tea kettle", "category": "Kitchen > Tea", "price": 29.0}, None)],
            T0,
        )
        newer = overlay.apply(store.live_changes(overlay.version), _tokens, _encode)
        assert newer.catalog.prices.tolist() == [80.0, 60.0, 120.0, 29.0, 68.0]
        assert newer.catalog.active.all() and newer.catalog.in_stock("S1")[4]
        from_scratch = LiveOverlay.trained(catalog, dim=4).apply(store.live_changes(0), _tokens, _encode)
        assert from_scratch.catalog.prices.tolist() == newer.catalog.prices.tolist()
        with pytest.raises(ValueError, match="cannot apply"):
            overlay.apply(store.live_changes(0), _tokens, _encode)


def test_a_live_catalog_pickles_for_distributed_jobs() -> None:
    import pickle

    catalog = _catalog()
    catalog.price_view("web", None, T0)  # fill the cache
    copy = pickle.loads(pickle.dumps(catalog))
    assert copy.price_view("app", None, T0).price.tolist() == catalog.prices.tolist()


def test_a_vector_from_another_encoder_is_computed_again(store_location: Path | str) -> None:
    stored = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    with LiveStore(store_location) as store:
        store.put_products(
            [
                ProductRecord(
                    "N1", {"title": "lamp", "category": "Home", "price": 9.0}, stored, encoder="enc-a"
                )
            ],
            T0,
        )
        changes = store.live_changes(0)
    same = LiveOverlay.trained(_catalog(), dim=4).apply(changes, _tokens, _encode, encoder="enc-a")
    other = LiveOverlay.trained(_catalog(), dim=4).apply(changes, _tokens, _encode, encoder="enc-b")
    np.testing.assert_array_equal(same.delta.embeddings[0], stored)
    np.testing.assert_allclose(other.delta.embeddings[0], _encode(["lamp"])[0])


def test_a_store_from_before_encoder_ids_is_upgraded(tmp_path: Path) -> None:
    import sqlite3

    with LiveStore(tmp_path / "s.db"):
        pass
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.executescript(
        "DROP TABLE live_products; CREATE TABLE live_products (sku TEXT PRIMARY KEY, fields TEXT NOT NULL, embedding BLOB, "
        "discontinued INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL, updated_at REAL NOT NULL); PRAGMA user_version=2;"
    )
    conn.close()
    with LiveStore(tmp_path / "s.db") as store:
        store.put_products(
            [ProductRecord("N1", {"title": "lamp", "category": "Home", "price": 9.0}, None)], T0
        )
        assert store.live_changes(0).products[0].encoder is None
