"""The catalog as every model sees it: a fixed item index, attributes, availability and stock.

Row ``i`` of every item-indexed artifact in a bundle (embeddings, factors, co-purchase) is the
product at position ``i`` here, so one integer index flows through search, recommendations and
batch jobs, and store/channel filters are boolean masks over it.

The service serves a *live* catalog (``models/live/overlay.py``): the bundle's rows first, in the
same order, then products added since training; live stock, web stock, prices and discontinued
products are arrays over that index, swapped in by :meth:`Catalog.with_live` without re-reading
the products.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.live.prices import PriceBook, PriceView
from models.schemas import SALES_CHANNELS

PRODUCTS_FILE = "products.parquet"
STOCK_FILE = "stock.npz"


def top_category(path: object) -> str:
    return str(path).split(">")[0].strip() if isinstance(path, str) and path else ""


@dataclass
class Catalog:
    products: pd.DataFrame
    store_ids: list[str]
    stock: np.ndarray  # (n_stores, n_items) int32 units on hand
    web_stock: np.ndarray | None = field(default=None, repr=False)
    """(n_items,) int32 units the web shop can ship, -1 where nobody reports it (then the product
    is sold online as long as it is listed there)."""
    active: np.ndarray | None = field(default=None, repr=False)
    """(n_items,) False for a product discontinued since training: it is in no answer."""
    price_book: PriceBook | None = field(default=None, repr=False)
    """Live base prices and channel/store/timed overrides; ``None``: the trained prices."""
    sku_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.products = self.products.reset_index(drop=True)
        if "top_category" not in self.products.columns:
            self.products["top_category"] = self.products["category"].map(top_category)
        self.sku_index = {sku: i for i, sku in enumerate(self.products["sku"].tolist())}
        self._store_pos = {s: i for i, s in enumerate(self.store_ids)}
        self.skus = self.products["sku"].to_numpy(dtype=object)
        # Plain numpy columns, built once: per-request code never touches pandas (Arrow-backed
        # string columns cost milliseconds per operation on the hot path).
        self.column = {
            c: self.products[c].to_numpy(dtype=object)
            for c in (
                *("sku", "title", "brand", "category", "top_category", "color", "size", "target"),
                *("url", "image_url"),
            )
            if c in self.products.columns
        }
        self.member_tiers = _member_tiers(self.products)
        self.folded_skus = self.products["sku"].astype(str).str.casefold().to_numpy(dtype=object)
        self._facet_codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.folded = {
            c: self.products[c].fillna("").astype(str).str.casefold().to_numpy(dtype=object)
            for c in ("brand", "color", "size", "target")
            if c in self.products.columns
        }
        # integer codes, so a filter over a million products is one isin over int32
        self._codes, self._vocab = {}, {}
        for c, values in [*self.folded.items(), ("category", self.column["category"])]:
            codes, uniques = pd.factorize(values)
            self._codes[c] = codes.astype(np.int32)
            self._vocab[c] = {str(u): i for i, u in enumerate(uniques)}
        self.replenishment_days = (
            self.products["replenishment_days"].to_numpy(dtype=np.float64)
            if "replenishment_days" in self.products.columns
            else np.full(len(self.products), np.nan)
        )
        self._listed = {
            ch: self.products[f"available_{ch}"].fillna(ch != "marketplace").to_numpy(dtype=bool)
            if f"available_{ch}" in self.products.columns
            else np.ones(len(self.products), dtype=bool)
            for ch in SALES_CHANNELS
        }
        n = len(self.products)
        self.web_stock = np.full(n, -1, np.int32) if self.web_stock is None else self.web_stock
        self.active = np.ones(n, dtype=bool) if self.active is None else self.active
        if self.price_book is None:
            listed = self.products["list_price"] if "list_price" in self.products.columns else None
            self.price_book = PriceBook.from_catalog(self.products["price"].to_numpy(np.float64), listed)
        self._derive_live()

    def _derive_live(self) -> None:
        """What follows from stock, web stock, prices and discontinued products: the masks and
        prices every request reads, computed once per change instead of once per request."""
        self.prices = self.price_book.base
        self.all_active = bool(self.active.all())
        online = self.active & (self.web_stock != 0)
        self._available = {
            ch: self._listed[ch] & (self.active if ch == "store" else online) for ch in SALES_CHANNELS
        }

    def with_live(
        self,
        stock: np.ndarray | None = None,
        web_stock: np.ndarray | None = None,
        active: np.ndarray | None = None,
        price_book: PriceBook | None = None,
    ) -> Catalog:
        """A copy sharing the products and their indexes with new live arrays (the old catalog is
        untouched, so a request still using it sees a consistent state)."""
        live = copy.copy(self)
        live.stock = self.stock if stock is None else stock
        live.web_stock = self.web_stock if web_stock is None else web_stock
        live.active = self.active if active is None else active
        live.price_book = self.price_book if price_book is None else price_book
        live._derive_live()
        return live

    def is_active(self, sku: str) -> bool:
        """Known and not discontinued."""
        item = self.sku_index.get(sku)
        return item is not None and bool(self.active[item])

    def price_view(self, channel: str | None, store_id: str | None, now: float) -> PriceView:
        """Every product's price (and list price when on sale) for this channel and store now."""
        return self.price_book.view(channel, store_id, now)

    @classmethod
    def build(cls, products: pd.DataFrame, inventory: pd.DataFrame, store_ids: list[str]) -> Catalog:
        products = products.reset_index(drop=True)
        store_ids = sorted(set(map(str, store_ids)) | set(inventory["store_id"].astype(str)))
        stock = np.zeros((len(store_ids), len(products)), dtype=np.int32)
        if not inventory.empty:
            sku_pos = pd.Index(products["sku"]).get_indexer(inventory["sku"])
            store_pos = pd.Index(store_ids).get_indexer(inventory["store_id"].astype(str))
            ok = (sku_pos >= 0) & (store_pos >= 0)
            np.add.at(stock, (store_pos[ok], sku_pos[ok]), inventory["stock"].to_numpy(dtype=np.int32)[ok])
        return cls(products, store_ids, stock)

    def value_mask(self, column: str, values: set[str]) -> np.ndarray:
        """Items whose casefolded ``column`` is one of ``values``."""
        wanted = [self._vocab[column][v] for v in values if v in self._vocab[column]]
        return np.isin(self._codes[column], wanted)

    def facet_codes(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(code per item, names): the column's non-empty string values numbered in sorted order,
        -1 for a missing or empty value. Built once per catalog on first use (live copies made by
        ``with_live`` share the products, and so these codes)."""
        cached = self._facet_codes.get(column)
        if cached is None:
            # factorize hashes in C; only the (few) distinct values are checked and sorted in Python
            codes, uniques = pd.factorize(self.column[column], use_na_sentinel=True)
            keep = np.flatnonzero([isinstance(u, str) and bool(u) for u in uniques])
            names = np.asarray([uniques[i] for i in keep], dtype=str)
            order = np.argsort(names, kind="stable")
            rank = np.full(len(uniques) + 1, -1, dtype=np.int64)  # the last slot: factorize's -1
            rank[keep[order]] = np.arange(len(keep))
            cached = self._facet_codes[column] = (rank[codes], names[order])
        return cached

    def category_is(self, path: str) -> np.ndarray:
        """Items whose category path is exactly ``path``."""
        code = self._vocab["category"].get(path)
        return np.zeros(len(self), dtype=bool) if code is None else self._codes["category"] == code

    def category_mask(self, prefix: str) -> np.ndarray:
        """Items whose category path starts with ``prefix`` (a top category or a full path)."""
        wanted = [code for path, code in self._vocab["category"].items() if path.startswith(prefix)]
        return np.isin(self._codes["category"], wanted)

    def __len__(self) -> int:
        return len(self.products)

    def has_store(self, store_id: str) -> bool:
        return store_id in self._store_pos

    def store_position(self, store_id: str) -> int:
        return self._store_pos[store_id]

    def in_stock(self, store_id: str) -> np.ndarray:
        """Boolean mask of items with stock > 0 in ``store_id`` (sold in stores, not discontinued)."""
        if store_id not in self._store_pos:
            raise KeyError(store_id)
        return (self.stock[self._store_pos[store_id]] > 0) & self._available["store"]

    def stock_in(self, store_id: str, items: np.ndarray) -> np.ndarray:
        return self.stock[self._store_pos[store_id], items]

    def available(self, channel: str) -> np.ndarray:
        """Mask of items sold in ``channel``; email and unknown channels mean the web shop."""
        return self._available.get(channel, self._available["web"])

    def indices(self, skus: Sequence[str] | pd.Series) -> np.ndarray:
        """Item indices of ``skus`` (compared as strings), -1 for unknown or missing ones.

        One dict lookup per distinct sku, broadcast with factorize codes: a 20M-event column is
        never turned into a list of Python strings (gigabytes at 20M events).
        """
        codes, uniques = pd.factorize(skus if isinstance(skus, pd.Series) else np.asarray(skus, dtype=object))
        # one extra -1 at the end: the code -1 of a missing value reads it
        found = [self.sku_index.get(str(s), -1) for s in np.asarray(uniques, dtype=object)]
        return np.array([*found, -1], dtype=np.int64)[codes]

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        self.products.to_parquet(directory / PRODUCTS_FILE, index=False)
        np.savez_compressed(
            directory / STOCK_FILE, stock=self.stock, store_ids=np.array(self.store_ids, dtype=str)
        )

    @classmethod
    def load(cls, directory: Path) -> Catalog:
        directory = Path(directory)
        products = pd.read_parquet(directory / PRODUCTS_FILE)
        with np.load(directory / STOCK_FILE) as z:
            stock, store_ids = z["stock"], [str(s) for s in z["store_ids"]]
        return cls(products, store_ids, stock)


MEMBER_TIER_COLUMN = "member_tier_min"
"""The lowest loyalty tier that may see a product (member-only products); blank: everyone."""


def _member_tiers(products: pd.DataFrame) -> tuple[np.ndarray, list[str]] | None:
    """(per-product code into the tier names, tier names; -1 = open to everyone), built once per
    catalog so a request ranks a handful of tier names instead of reading every product; None when
    no product is member-only."""
    if MEMBER_TIER_COLUMN not in products.columns:
        return None
    names = products[MEMBER_TIER_COLUMN].map(lambda v: v.strip() if isinstance(v, str) else "")
    codes, uniques = pd.factorize(names.where(names != "", None))
    if not (codes >= 0).any():
        return None
    return codes.astype(np.int32), [str(u) for u in uniques]
