"""Prices as they are now: one base price per product plus channel, store and timed overrides.

Why a separate book and not one price column: the web shop, the app and a store may sell the same
product at different prices, and a sale runs from one moment to another without anybody writing
anything when it starts or ends. The book resolves, for one (channel, store, moment), one price per
product, vectorised over every override, and caches the answer until a sale starts or ends.

Precedence (most specific wins): store and channel > store > channel > everywhere; within the same
scope a timed price (a sale) beats an open-ended one; then the latest written wins.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.store.live_tables import PriceEntry

CACHE_SIZE = 256


@dataclass(frozen=True)
class PriceView:
    """Prices of every product for one (channel, store, moment); ``list_price`` is NaN unless the
    product is on sale there (then it is the price it is reduced from)."""

    price: np.ndarray
    list_price: np.ndarray

    def on_sale(self) -> np.ndarray:
        return np.isfinite(self.list_price) & (self.list_price > self.price)


@dataclass(eq=False)
class PriceBook:
    """Base prices (live values over the trained catalog's) and every override, as arrays.

    Immutable once built: a price change builds a new book (``with_entries``) and the serving view
    swaps it in, so a request never sees half an update.
    """

    base: np.ndarray  # (n_items,) float64
    base_list: np.ndarray  # (n_items,) float64, NaN where there is none
    item: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    price: np.ndarray = field(default_factory=lambda: np.empty(0))
    list_price: np.ndarray = field(default_factory=lambda: np.empty(0))
    channel: np.ndarray = field(default_factory=lambda: np.empty(0, object))  # "" = any
    store: np.ndarray = field(default_factory=lambda: np.empty(0, object))  # "" = any
    start: np.ndarray = field(default_factory=lambda: np.empty(0))  # -inf = always
    end: np.ndarray = field(default_factory=lambda: np.empty(0))  # +inf = open-ended
    priority: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __post_init__(self) -> None:
        self._boundaries = np.unique(
            np.concatenate([self.start[np.isfinite(self.start)], self.end[np.isfinite(self.end)]])
        )
        self._cache: OrderedDict[tuple, PriceView] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Picklable (a batch job ships the catalog to Ray workers): the lock and cache stay behind."""
        state = self.__dict__.copy()
        state.pop("_lock")
        state["_cache"] = OrderedDict()
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @classmethod
    def from_catalog(cls, prices: np.ndarray, list_prices: np.ndarray | None = None) -> PriceBook:
        base = np.asarray(prices, dtype=np.float64).copy()
        return cls(
            base,
            np.full(len(base), np.nan) if list_prices is None else np.asarray(list_prices, np.float64).copy(),
        )

    def __len__(self) -> int:
        return len(self.base)

    @property
    def n_overrides(self) -> int:
        return int(self.item.size)

    def with_entries(
        self, entries: Sequence[PriceEntry], items: np.ndarray, n_items: int | None = None
    ) -> PriceBook:
        """A new book with ``entries`` (``items[i]`` is the item of ``entries[i]``) written over this
        one: base entries replace base prices, overrides replace the override with the same key.
        ``n_items`` grows the book for products added since training (their base price comes from
        their own base entry). Vectorised: a 10,000-row price PUT over 50,000 overrides is a few
        array operations, not a Python loop over every override."""
        n = len(self.base) if n_items is None else n_items
        grow = max(0, n - len(self.base))
        base = np.concatenate([self.base, np.full(grow, np.nan)])
        base_list = np.concatenate([self.base_list, np.full(grow, np.nan)])
        new = pd.DataFrame(
            {
                "item": np.asarray(items, dtype=np.int64),
                "channel": [e.channel or "" for e in entries],
                "store": [e.store_id or "" for e in entries],
                "start": [-np.inf if e.valid_from is None else float(e.valid_from) for e in entries],
                "end": [np.inf if e.valid_to is None else float(e.valid_to) for e in entries],
                "price": [float(e.price) for e in entries],
                "list_price": [np.nan if e.list_price is None else float(e.list_price) for e in entries],
            }
        )
        is_base = (
            (new["channel"] == "")
            & (new["store"] == "")
            & ~np.isfinite(new["start"])
            & ~np.isfinite(new["end"])
        )
        latest_base = new[is_base].drop_duplicates("item", keep="last")
        base[latest_base["item"].to_numpy()] = latest_base["price"].to_numpy()
        base_list[latest_base["item"].to_numpy()] = latest_base["list_price"].to_numpy()
        old = pd.DataFrame(
            {
                "item": self.item,
                "channel": self.channel,
                "store": self.store,
                "start": self.start,
                "end": self.end,
                "price": self.price,
                "list_price": self.list_price,
            }
        )
        # the latest write of a key wins and takes the latest position (the tie-break in ``_resolve``)
        rows = pd.concat([old, new[~is_base]], ignore_index=True).drop_duplicates(
            ["item", "channel", "store", "start"], keep="last"
        )
        channel = rows["channel"].to_numpy(dtype=object)
        store = rows["store"].to_numpy(dtype=object)
        start, end = rows["start"].to_numpy(np.float64), rows["end"].to_numpy(np.float64)
        timed = np.isfinite(start) | np.isfinite(end)
        scope = 2 * (store != "").astype(np.int64) + (channel != "").astype(np.int64)
        return PriceBook(
            base=base,
            base_list=base_list,
            item=rows["item"].to_numpy(np.int64),
            price=rows["price"].to_numpy(np.float64),
            list_price=rows["list_price"].to_numpy(np.float64),
            channel=channel,
            store=store,
            start=start,
            end=end,
            priority=2 * scope + timed.astype(np.int64),
        )

    def view(self, channel: str | None, store_id: str | None, now: float) -> PriceView:
        """Every product's price for a shopper in ``channel`` (and ``store_id``) at unix time ``now``."""
        key = (channel or "", store_id or "", int(np.searchsorted(self._boundaries, now, side="right")))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        view = self._resolve(channel or "", store_id or "", now)
        with self._lock:
            self._cache[key] = view
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return view

    def _resolve(self, channel: str, store_id: str, now: float) -> PriceView:
        price, list_price = self.base.copy(), self.base_list.copy()
        if self.item.size:
            applies = (
                ((self.channel == "") | (self.channel == channel))
                & ((self.store == "") | (self.store == store_id))
                & (self.start <= now)
                & (now < self.end)
            )
            rows = np.flatnonzero(applies)
            if rows.size:
                # per item, the row with the highest priority, then the latest written (highest row)
                order = np.lexsort((rows, self.priority[rows], self.item[rows]))
                ranked = rows[order]
                last = np.r_[self.item[ranked][1:] != self.item[ranked][:-1], True]
                win = ranked[last]
                items = self.item[win]
                regular = price[items]
                price[items] = self.price[win]
                stated = self.list_price[win]
                list_price[items] = np.where(
                    np.isfinite(stated), stated, np.where(self.price[win] < regular, regular, np.nan)
                )
        list_price = np.where(list_price > price, list_price, np.nan)
        return PriceView(price, list_price)
