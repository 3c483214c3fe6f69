"""The live tables of the store: stock, prices, products and identity links changed since training.

Why they live beside the events: the service must be the source of truth for what is sold where, at
what price, between trainings, and every worker process must see a change on its next request. One
SQLite file gives both: a write is one committed transaction, and every write to stock, prices or
products bumps one counter, ``live_version``. A worker compares that counter with the one its
in-memory overlay was built at (one indexed read per request) and reads only the rows whose ``seq``
is newer (:meth:`LiveTables.live_changes`), so a change costs its own size, not the catalog's.

Rows are validated against the served catalog by the caller (``service/routers/live.py``); this
module stores what it is given and answers what was stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LIVE_SCHEMA = """
CREATE TABLE IF NOT EXISTS live_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO live_meta (key, value) VALUES ('live_version', 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS live_stock (
    location   TEXT NOT NULL,
    sku        TEXT NOT NULL,
    quantity   INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (location, sku)
);
CREATE INDEX IF NOT EXISTS live_stock_seq ON live_stock (seq);
CREATE TABLE IF NOT EXISTS live_prices (
    sku        TEXT NOT NULL,
    channel    TEXT NOT NULL,
    store_id   TEXT NOT NULL,
    valid_from REAL NOT NULL,
    valid_to   REAL,
    price      REAL NOT NULL,
    list_price REAL,
    seq        INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (sku, channel, store_id, valid_from)
);
CREATE INDEX IF NOT EXISTS live_prices_seq ON live_prices (seq);
CREATE TABLE IF NOT EXISTS live_products (
    sku          TEXT PRIMARY KEY,
    fields       TEXT NOT NULL,
    embedding    BLOB,
    encoder      TEXT,
    discontinued INTEGER NOT NULL DEFAULT 0,
    seq          INTEGER NOT NULL,
    updated_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS live_products_seq ON live_products (seq);
CREATE TABLE IF NOT EXISTS identity_links (
    identifier_hash TEXT PRIMARY KEY,
    customer_key    TEXT NOT NULL,
    linked_at       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS identity_links_customer ON identity_links (customer_key);
"""

ALWAYS = 0.0
"""``valid_from`` of a price with no start: the epoch, so the primary key never holds a NULL."""
ANY = ""
"""``channel`` / ``store_id`` of a price that applies everywhere (a NULL would break the primary key)."""


@dataclass(frozen=True)
class StockLevel:
    """Units on hand of one sku at one location: a store id, or ``web`` for the web shop's stock."""

    location: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class PriceEntry:
    """One price: the base price (no channel, no store, no window), or an override that applies
    to one channel and/or one store, optionally only within ``[valid_from, valid_to)`` (unix s)."""

    sku: str
    price: float
    list_price: float | None = None
    channel: str | None = None
    store_id: str | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    seq: int = 0  # the live version that wrote it (set when read back from the store)

    @property
    def key(self) -> tuple[str, str, str, float]:
        return (
            self.sku,
            self.channel or ANY,
            self.store_id or ANY,
            ALWAYS if self.valid_from is None else self.valid_from,
        )


@dataclass(frozen=True)
class ProductRecord:
    """A product added or changed since training (``fields`` as in the import format's products
    table), with its text embedding computed once on arrival, or a discontinued sku."""

    sku: str
    fields: dict[str, Any]
    embedding: np.ndarray | None = None
    discontinued: bool = False
    seq: int = 0  # the live version that wrote it (set when read back from the store)
    encoder: str | None = None  # the encoder that computed ``embedding`` (its model file's sha256)


@dataclass(frozen=True)
class LiveChanges:
    """Every live row written after ``since`` up to ``version`` (all of them when ``since`` is 0)."""

    since: int
    version: int
    stock: list[StockLevel] = field(default_factory=list)
    prices: list[PriceEntry] = field(default_factory=list)
    products: list[ProductRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.stock or self.prices or self.products)


class LiveTables:
    """Mixin of :class:`models.store.LiveStore`: the methods that read and write the live tables."""

    _conn: Any
    _write: Any  # () -> a context manager yielding the connection of one write transaction

    # --- the change counter --------------------------------------------------------------------
    def live_version(self) -> int:
        """The version of the live tables: one indexed read, cheap enough to ask on every request."""
        return int(
            self._conn().execute("SELECT value FROM live_meta WHERE key = 'live_version'").fetchone()[0]
        )

    @staticmethod
    def _bump(conn: Any) -> int:
        version = int(
            conn.execute(
                "UPDATE live_meta SET value = value + 1 WHERE key = 'live_version' RETURNING value"
            ).fetchone()[0]
        )
        conn.dialect.announce(conn, "live", version)
        return version

    # --- writes ----------------------------------------------------------------------------------
    def put_stock(self, levels: Sequence[StockLevel], now: float) -> int:
        """Set units on hand (absolute, not deltas: a resent update is harmless). Returns the new version."""
        with self._write() as conn:
            seq = self._bump(conn)
            conn.executemany(
                "INSERT INTO live_stock (location, sku, quantity, seq, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT (location, sku) DO UPDATE SET quantity = excluded.quantity, seq = excluded.seq, "
                "updated_at = excluded.updated_at",
                [(lv.location, lv.sku, int(lv.quantity), seq, now) for lv in levels],
            )
        return seq

    def put_prices(self, entries: Sequence[PriceEntry], now: float) -> int:
        """Upsert prices by (sku, channel, store, valid_from). Returns the new version."""
        with self._write() as conn:
            seq = self._bump(conn)
            conn.executemany(
                "INSERT INTO live_prices (sku, channel, store_id, valid_from, valid_to, price, list_price, seq, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (sku, channel, store_id, valid_from) DO UPDATE SET "
                "valid_to = excluded.valid_to, price = excluded.price, list_price = excluded.list_price, "
                "seq = excluded.seq, updated_at = excluded.updated_at",
                [(*e.key, e.valid_to, float(e.price), e.list_price, seq, now) for e in entries],
            )
        return seq

    def put_products(self, records: Sequence[ProductRecord], now: float) -> int:
        """Upsert products (a discontinued sku put again is back on sale). Returns the new version."""
        with self._write() as conn:
            seq = self._bump(conn)
            conn.executemany(
                "INSERT INTO live_products (sku, fields, embedding, encoder, discontinued, seq, updated_at) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT (sku) DO UPDATE SET fields = excluded.fields, embedding = excluded.embedding, "
                "encoder = excluded.encoder, discontinued = excluded.discontinued, seq = excluded.seq, "
                "updated_at = excluded.updated_at",
                [
                    (
                        r.sku,
                        json.dumps(r.fields, sort_keys=True, default=str),
                        None if r.embedding is None else np.asarray(r.embedding, dtype=np.float32).tobytes(),
                        r.encoder,
                        int(r.discontinued),
                        seq,
                        now,
                    )
                    for r in records
                ],
            )
        return seq

    # --- reads -----------------------------------------------------------------------------------
    def live_changes(self, since: int = 0) -> LiveChanges:
        """Rows written after version ``since`` (in one read transaction, so the three tables and
        the version agree), each table in the order it was written."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            version = int(
                conn.execute("SELECT value FROM live_meta WHERE key = 'live_version'").fetchone()[0]
            )
            stock = [
                StockLevel(loc, sku, int(q))
                for loc, sku, q in conn.execute(
                    "SELECT location, sku, quantity FROM live_stock WHERE seq > ? ORDER BY seq, location, sku",
                    (since,),
                )
            ]
            prices = [
                PriceEntry(
                    sku,
                    price,
                    list_price,
                    channel or None,
                    store or None,
                    None if start == ALWAYS else start,
                    end,
                    seq,
                )
                for sku, channel, store, start, end, price, list_price, seq in conn.execute(
                    "SELECT sku, channel, store_id, valid_from, valid_to, price, list_price, seq FROM live_prices "
                    "WHERE seq > ? ORDER BY seq, sku, channel, store_id, valid_from",
                    (since,),
                )
            ]
            products = [
                ProductRecord(
                    sku,
                    json.loads(fields),
                    None if blob is None else np.frombuffer(blob, dtype=np.float32).copy(),
                    bool(discontinued),
                    seq,
                    encoder,
                )
                for sku, fields, blob, discontinued, seq, encoder in conn.execute(
                    "SELECT sku, fields, embedding, discontinued, seq, encoder FROM live_products WHERE seq > ? ORDER BY seq, sku",
                    (since,),
                )
            ]
        finally:
            conn.execute("COMMIT")
        return LiveChanges(since, version, stock, prices, products)

    # --- identity links ---------------------------------------------------------------------------
    def link_identifiers(self, identifier_hashes: Iterable[str], customer_key: str, now: float) -> list[str]:
        """Link each hash to ``customer_key`` unless it is already linked (first link wins: a card
        handed to someone else later is not silently moved). Returns the hashes linked now."""
        hashes = [h for h in dict.fromkeys(identifier_hashes) if h and h != customer_key]
        if not hashes:
            return []
        with self._write() as conn:
            linked = []
            for h in hashes:
                cur = conn.execute(
                    "INSERT INTO identity_links (identifier_hash, customer_key, linked_at) VALUES (?,?,?) "
                    "ON CONFLICT DO NOTHING",
                    (h, customer_key, now),
                )
                if cur.rowcount:
                    linked.append(h)
        return linked

    def linked_customers(self, identifier_hashes: Iterable[str]) -> dict[str, str]:
        """hash -> customer key for the hashes that were linked live."""
        hashes = list(dict.fromkeys(identifier_hashes))
        if not hashes:
            return {}
        marks = ",".join("?" * len(hashes))
        rows = self._conn().execute(
            f"SELECT identifier_hash, customer_key FROM identity_links WHERE identifier_hash IN ({marks})",
            hashes,
        )
        return dict(rows.fetchall())

    def aliases(self, customer_key: str) -> list[str]:
        """Keys whose events belong to ``customer_key``: identifiers first seen alone, linked later."""
        rows = self._conn().execute(
            "SELECT identifier_hash FROM identity_links WHERE customer_key = ? ORDER BY identifier_hash",
            (customer_key,),
        )
        return [r[0] for r in rows]
