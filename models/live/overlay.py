"""The live overlay: the trained catalog brought up to date with the store's live tables.

One immutable value per live version: the live :class:`~models.catalog.Catalog` (trained rows
first, then products added since training; live stock, web stock, prices; discontinued products
inactive) and the :class:`~models.live.delta.DeltaIndex` of live product texts. ``apply`` returns a
new overlay and leaves the old one untouched, so a request that started on it finishes on it.

Changes are applied in the order they were written (``seq``) where order matters: a product PUT
and a price PUT both set the base price, and the later one wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.catalog import Catalog, top_category
from models.live.delta import DeltaIndex
from models.store.live_tables import LiveChanges, PriceEntry, ProductRecord
from models.text import product_text

DocumentTokens = Callable[[dict], list[str]]
Encode = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class OverlayStats:
    """What the overlay changed, for ``/health`` and the benchmarks."""

    added_products: int = 0
    changed_products: int = 0
    discontinued_products: int = 0
    stock_levels: int = 0
    price_overrides: int = 0


@dataclass(frozen=True)
class LiveOverlay:
    version: int
    catalog: Catalog
    delta: DeltaIndex
    n_trained: int
    changed: frozenset[int] = field(default_factory=frozenset)  # trained items with live text
    stock_levels: int = 0

    @classmethod
    def trained(cls, catalog: Catalog, dim: int) -> LiveOverlay:
        """Version 0: the bundle's catalog as trained."""
        return cls(version=0, catalog=catalog, delta=DeltaIndex(dim), n_trained=len(catalog))

    @property
    def stats(self) -> OverlayStats:
        return OverlayStats(
            added_products=len(self.catalog) - self.n_trained,
            changed_products=len(self.changed),
            discontinued_products=int((~self.catalog.active).sum()),
            stock_levels=self.stock_levels,
            price_overrides=self.catalog.price_book.n_overrides,
        )

    def apply(
        self,
        changes: LiveChanges,
        document_tokens: DocumentTokens | None = None,
        encode: Encode | None = None,
        encoder: str | None = None,
    ) -> LiveOverlay:
        """This overlay with ``changes`` (rows written after ``self.version``) applied.

        ``document_tokens`` and ``encode`` index live product texts for search; without them (a
        batch job that only needs stock, prices and what is on sale) the delta index stays empty.
        ``encoder`` names the served encoder: a stored vector computed by another one (a bundle
        trained with a fine-tuned encoder since) is in another space, so its text is encoded again."""
        if changes.since != self.version:
            raise ValueError(
                f"changes since version {changes.since} cannot apply to an overlay at version {self.version}"
            )
        overlay = (
            self._with_products(changes.products, document_tokens, encode, encoder)
            if changes.products
            else self
        )
        catalog = overlay.catalog
        stock, web_stock = _stock_arrays(catalog, changes)
        # Base prices from product PUTs and from price PUTs, in the order they were written.
        prices = sorted([*_base_prices(changes.products), *changes.prices], key=lambda e: e.seq)
        book = catalog.price_book
        if prices:
            book = book.with_entries(prices, catalog.indices([e.sku for e in prices]))
        return LiveOverlay(
            version=changes.version,
            catalog=catalog.with_live(stock=stock, web_stock=web_stock, price_book=book),
            delta=overlay.delta,
            n_trained=self.n_trained,
            changed=overlay.changed,
            stock_levels=self.stock_levels + len(changes.stock),
        )

    def _with_products(
        self,
        records: list[ProductRecord],
        document_tokens: DocumentTokens | None,
        encode: Encode | None,
        encoder: str | None,
    ) -> LiveOverlay:
        catalog = self.catalog
        active = catalog.active.copy()
        updated: dict[int, dict] = {}
        added: dict[str, dict] = {}
        vectors: dict[str, np.ndarray | None] = {}
        for record in records:
            item = catalog.sku_index.get(record.sku)
            if record.discontinued:
                if item is not None:
                    active[item] = False
                added.pop(record.sku, None)
                continue
            row = product_row(record)
            vectors[record.sku] = record.embedding if record.encoder == encoder else None
            if item is None:
                added[record.sku] = row
            else:
                active[item] = True
                updated[item] = row
        if not updated and not added:
            return LiveOverlay(
                self.version,
                catalog.with_live(active=active),
                self.delta,
                self.n_trained,
                self.changed,
                self.stock_levels,
            )
        products = catalog.products
        if updated:
            products = products.copy()
            frame = pd.DataFrame(list(updated.values()), index=list(updated))
            for column in frame.columns:
                if column not in products.columns:
                    products[column] = pd.Series(
                        [None] * len(products),
                        dtype=frame[column].dtype if frame[column].dtype != object else object,
                    )
                products.loc[frame.index, column] = frame[column].to_numpy()
        n_old, n_new = len(catalog), len(catalog) + len(added)
        if added:
            products = pd.concat([products, pd.DataFrame(list(added.values()))], ignore_index=True)
        products["top_category"] = products["category"].map(top_category)
        grow = n_new - n_old
        stock = np.pad(catalog.stock, ((0, 0), (0, grow))) if grow else catalog.stock
        web_stock = (
            np.concatenate([catalog.web_stock, np.full(grow, -1, np.int32)]) if grow else catalog.web_stock
        )
        active = np.concatenate([active, np.ones(grow, dtype=bool)]) if grow else active
        items = [*updated, *range(n_old, n_new)]
        rows = [*updated.values(), *added.values()]
        # new products need a base price before the catalog is built; ``apply`` re-applies every
        # base price in write order afterwards
        base = _base_prices(records)
        book = catalog.price_book.with_entries(
            base, pd.Index(products["sku"]).get_indexer([e.sku for e in base]), n_items=n_new
        )
        live = Catalog(
            products, catalog.store_ids, stock, web_stock=web_stock, active=active, price_book=book
        )
        changed = self.changed | {i for i in updated if i < self.n_trained}
        if document_tokens is None or encode is None:
            return LiveOverlay(
                self.version, live, self.delta, self.n_trained, frozenset(changed), self.stock_levels
            )
        missing = [j for j, r in enumerate(rows) if vectors.get(r["sku"]) is None]
        matrix = np.empty((len(rows), self.delta.dim), dtype=np.float32)
        for j, r in enumerate(rows):
            if vectors.get(r["sku"]) is not None:
                matrix[j] = vectors[r["sku"]]
        if missing:
            matrix[missing] = encode([product_text(rows[j]) for j in missing])
        delta = self.delta.updated(items, [document_tokens(r) for r in rows], matrix)
        return LiveOverlay(self.version, live, delta, self.n_trained, frozenset(changed), self.stock_levels)


def product_row(record: ProductRecord) -> dict:
    """A live product as a catalog row (the import format's columns, defaults filled in)."""
    row = {k: v for k, v in record.fields.items() if v is not None}
    row["sku"] = record.sku
    for channel, default in (("store", True), ("web", True), ("app", True), ("marketplace", False)):
        row.setdefault(f"available_{channel}", default)
    row.setdefault("replenishment_days", np.nan)
    return row


def _base_prices(records: list[ProductRecord]) -> list[PriceEntry]:
    """The base price each live product row states (discontinued rows state none)."""
    return [
        PriceEntry(r.sku, float(r.fields["price"]), _optional_float(r.fields.get("list_price")), seq=r.seq)
        for r in records
        if not r.discontinued and r.fields.get("price") is not None
    ]


def _optional_float(value: object) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return float(value)


def _stock_arrays(catalog: Catalog, changes: LiveChanges) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Live stock levels written over copies of the catalog's arrays (None where nothing changed)."""
    if not changes.stock:
        return None, None
    locations = np.array([lv.location for lv in changes.stock], dtype=object)
    items = catalog.indices([lv.sku for lv in changes.stock])
    quantity = np.array([lv.quantity for lv in changes.stock], dtype=np.int32)
    known = items >= 0
    web = known & (locations == "web")
    web_stock = catalog.web_stock.copy()
    web_stock[items[web]] = quantity[web]  # rows are in write order: the last write of a cell wins
    in_store = known & ~web & np.array([catalog.has_store(str(loc)) for loc in locations], dtype=bool)
    stock = catalog.stock.copy()
    if in_store.any():
        positions = np.array(
            [catalog.store_position(str(loc)) for loc in locations[in_store]], dtype=np.int64
        )
        stock[positions, items[in_store]] = quantity[in_store]
    return stock, web_stock
